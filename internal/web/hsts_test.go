package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHSTSOnlyOverHTTPS: Strict-Transport-Security goes out on answers
// served over TLS (--domain mode) and never over plain HTTP.
func TestHSTSOnlyOverHTTPS(t *testing.T) {
	h := securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tlsSrv := httptest.NewTLSServer(h)
	defer tlsSrv.Close()
	res, err := tlsSrv.Client().Get(tlsSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Fatalf("HTTPS answer: Strict-Transport-Security %q", got)
	}
	plain := httptest.NewServer(h)
	defer plain.Close()
	res, err = http.Get(plain.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Strict-Transport-Security"); got != "" {
		t.Fatalf("plain HTTP answer: Strict-Transport-Security %q", got)
	}
}
