// Package wire holds the security primitives of FedWave's server-to-server
// protocol: the instance key, signed HTTP requests, signed envelopes (the
// frames of the persistent link between two instances), the replay cache
// and the SSRF-safe client for outgoing federation requests. PROTOCOL.md
// beside this file describes the bytes.
package wire

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"path/filepath"

	"github.com/fedwave/fedwave/internal/keyfile"
)

// keyFile is the instance key's file name inside the data directory.
const keyFile = "instance.key"

// Key is an instance's Ed25519 key pair.
type Key struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

// LoadKey reads dir/instance.key (PEM, PKCS #8, as the token keys), creating
// it (0600, dir 0700) on first use.
func LoadKey(dir string) (*Key, error) {
	k, err := keyfile.Load(dir, keyFile, func() (crypto.PrivateKey, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	})
	if err != nil {
		return nil, fmt.Errorf("instance key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("instance key %s: not an Ed25519 key", filepath.Join(dir, keyFile))
	}
	return &Key{priv: priv, pub: priv.Public().(ed25519.PublicKey)}, nil
}

// Public is the public key.
func (k *Key) Public() ed25519.PublicKey { return k.pub }

// PublicBase64 is the public key in standard base64, as published in
// /.well-known/fedwave.
func (k *Key) PublicBase64() string { return base64.StdEncoding.EncodeToString(k.pub) }

// ParsePublic decodes a base64 public key. Only the one canonical spelling
// of 32 bytes is accepted.
func ParsePublic(s string) (ed25519.PublicKey, error) {
	b, ok := decodeBase64(s, ed25519.PublicKeySize)
	if !ok {
		return nil, fmt.Errorf("public key: not %d bytes of standard base64", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// decodeBase64 decodes s as standard base64 of exactly n bytes, refusing
// other spellings of the same bytes (line breaks, non-zero padding bits), so
// that a signature or key has one text form.
func decodeBase64(s string, n int) ([]byte, bool) {
	if len(s) != base64.StdEncoding.EncodedLen(n) {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != n || base64.StdEncoding.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}
