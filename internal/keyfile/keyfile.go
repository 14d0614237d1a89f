// Package keyfile reads, encodes and creates private keys as FedWave keeps
// them on disk: PEM, PKCS #8 ("PRIVATE KEY"). The token keys (auth), the
// instance key (federation) and the fediverse key (activitypub) share it.
package keyfile

import (
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Read reads the Ed25519 private key in the file at path.
func Read(path string) (ed25519.PrivateKey, error) {
	k, err := readAny(path)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New(path + ": not an Ed25519 key")
	}
	return priv, nil
}

func readAny(path string) (crypto.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Encode is the file's content for priv.
func Encode(priv crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Load reads the key dir/name, made first with generate if there is none
// (the file 0600, dir 0700). A new key is written to a temporary file and
// linked into place, so that a crash never leaves half a key and two
// processes starting at once agree on one (the second link fails and that
// process reads the first).
func Load(dir, name string, generate func() (crypto.PrivateKey, error)) (crypto.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	k, err := readAny(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	priv, err := generate()
	if err != nil {
		return nil, err
	}
	data, err := Encode(priv)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, "."+name+"-*") // CreateTemp makes it 0600
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	if err := errors.Join(werr, tmp.Sync(), tmp.Close()); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	return readAny(path)
}
