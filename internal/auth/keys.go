package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/keyfile"
)

// KeyRing holds the Ed25519 keys that sign tokens. The newest key signs; all
// keys verify, so after a rotation tokens signed by the previous key stay
// valid until they expire. Keys live in DIR/token-<kid>.pem, mode 0600.
type KeyRing struct {
	dir    string
	signer string // kid of the newest key
	keys   map[string]ed25519.PrivateKey
}

const keyPrefix, keySuffix = "token-", ".pem"

// LoadKeyRing reads the keys in dir, creating the first one if there is none.
func LoadKeyRing(dir string) (*KeyRing, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("token keys: %w", err)
	}
	kr := &KeyRing{dir: dir, keys: map[string]ed25519.PrivateKey{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("token keys: %w", err)
	}
	for _, e := range entries {
		kid, ok := strings.CutSuffix(strings.TrimPrefix(e.Name(), keyPrefix), keySuffix)
		if !ok || !strings.HasPrefix(e.Name(), keyPrefix) {
			continue
		}
		key, err := readKey(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		kr.keys[kid] = key
	}
	if len(kr.keys) == 0 {
		if _, err := kr.Rotate(0); err != nil {
			return nil, err
		}
	}
	kr.signer = kr.newest()
	return kr, nil
}

func readKey(path string) (ed25519.PrivateKey, error) {
	k, err := keyfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	return k, nil
}

// kids start with the creation time in seconds, zero-padded, so they sort
// by age.
func (kr *KeyRing) newest() string {
	kids := make([]string, 0, len(kr.keys))
	for kid := range kr.keys {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	return kids[len(kids)-1]
}

// Rotate creates a new signing key and removes keys that were replaced more
// than retire ago (tokens they signed have expired by then; pass at least the
// longest token lifetime). It returns the new key's id.
func (kr *KeyRing) Rotate(retire time.Duration) (string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	now := time.Now()
	kid := fmt.Sprintf("%012d-%s", now.Unix(), hex.EncodeToString(suffix))
	data, err := keyfile.Encode(priv)
	if err != nil {
		return "", err
	}
	path := filepath.Join(kr.dir, keyPrefix+kid+keySuffix)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("token key: %w", err)
	}
	if retire > 0 {
		kr.retire(now.Add(-retire))
	}
	kr.keys[kid] = priv
	kr.signer = kid
	return kid, nil
}

// retire removes every key whose successor was created before cutoff.
func (kr *KeyRing) retire(cutoff time.Time) {
	kids := make([]string, 0, len(kr.keys))
	for kid := range kr.keys {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	for i := 0; i+1 < len(kids); i++ {
		secs, err := strconv.ParseInt(strings.SplitN(kids[i+1], "-", 2)[0], 10, 64)
		if err != nil || time.Unix(secs, 0).After(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(kr.dir, keyPrefix+kids[i]+keySuffix)); err == nil || errors.Is(err, os.ErrNotExist) {
			delete(kr.keys, kids[i])
		}
	}
}

func (kr *KeyRing) signing() (string, ed25519.PrivateKey) {
	return kr.signer, kr.keys[kr.signer]
}

func (kr *KeyRing) public(kid string) (ed25519.PublicKey, bool) {
	k, ok := kr.keys[kid]
	if !ok {
		return nil, false
	}
	return k.Public().(ed25519.PublicKey), true
}
