package keyfile

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
)

func TestRoundTripAndRefusals(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	data, err := Encode(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "k.pem")
	os.WriteFile(path, data, 0o600)
	got, err := Read(path)
	if err != nil || !got.Equal(priv) {
		t.Fatalf("round trip: %v", err)
	}
	for name, body := range map[string]string{
		"not pem":   "hello",
		"wrong pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"bad der":   "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		p := filepath.Join(dir, "bad.pem")
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := Read(p); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
}
