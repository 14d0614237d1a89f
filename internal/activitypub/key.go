package activitypub

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/fedwave/fedwave/internal/keyfile"
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
	k, err := keyfile.Load(dir, keyFile, func() (crypto.PrivateKey, error) {
		return rsa.GenerateKey(rand.Reader, keyBits)
	})
	if err != nil {
		return nil, fmt.Errorf("activitypub key: %w", err)
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("activitypub key %s: not an RSA key", filepath.Join(dir, keyFile))
	}
	return priv, nil
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
