package activitypub

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// keyFile is the RSA key's file name in the data directory's keys.
const keyFile = "activitypub.key"

// keyBits is the RSA key size: what Mastodon makes and expects.
const keyBits = 2048

// LoadKey reads dir/activitypub.key (PEM, PKCS #8), creating it (0600, dir
// 0700) on first use. The fediverse verifies RSA signatures only, so this
// key is apart from the instance's Ed25519 one; every channel's actor
// publishes it under its own keyId.
func LoadKey(dir string) (*rsa.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("activitypub key: %w", err)
	}
	path := filepath.Join(dir, keyFile)
	k, err := readKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKey(dir, path); err != nil {
			return nil, err
		}
		k, err = readKey(path)
	}
	return k, err
}

func readKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("activitypub key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("activitypub key %s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("activitypub key %s: %w", path, err)
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("activitypub key %s: not an RSA key", path)
	}
	return priv, nil
}

// createKey writes a new key to a temporary file and links it into place,
// so that a crash never leaves half a key and two processes starting at
// once agree on one (the second link fails and that process reads the
// first).
func createKey(dir, path string) error {
	priv, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return fmt.Errorf("activitypub key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("activitypub key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".activitypub-key-*") // CreateTemp makes it 0600
	if err != nil {
		return fmt.Errorf("activitypub key: %w", err)
	}
	defer os.Remove(tmp.Name())
	werr := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := errors.Join(werr, tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("activitypub key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("activitypub key: %w", err)
	}
	return nil
}

// publicPEM is the public key as actors publish it ("PUBLIC KEY", PKIX).
func publicPEM(k *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("activitypub public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// parsePublicPEM reads an actor's publicKeyPem: PKIX, or PKCS #1 as some
// servers publish it.
func parsePublicPEM(s string) (*rsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("publicKeyPem is not PEM")
	}
	if k, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("publicKeyPem: %w", err)
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("publicKeyPem: not an RSA key")
	}
	if pub.N.BitLen() < 1024 {
		return nil, errors.New("publicKeyPem: RSA key too short")
	}
	return pub, nil
}
