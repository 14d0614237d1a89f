package media

import (
	"testing"
	"time"
)

// Connections share one certificate until it is a day old; then new ones
// get a new certificate, before pion's month of validity runs out.
func TestCertificateRenewed(t *testing.T) {
	var c certs
	first, err := c.config()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.config()
	if !first.Certificates[0].Equals(again.Certificates[0]) {
		t.Fatal("a second connection got another certificate")
	}
	c.made = c.made.Add(-certRenew - time.Minute)
	renewed, _ := c.config()
	if renewed.Certificates[0].Equals(first.Certificates[0]) {
		t.Fatal("a day-old certificate was not renewed")
	}
	if time.Until(renewed.Certificates[0].Expires()) < 7*24*time.Hour {
		t.Fatalf("the new certificate expires at %v", renewed.Certificates[0].Expires())
	}
}
