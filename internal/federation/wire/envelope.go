package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Envelope is one frame of the persistent connection between two instances
// (one JSON object per WebSocket message).
type Envelope struct {
	ID   string          `json:"id"`
	From string          `json:"from"`
	To   string          `json:"to"`
	TS   int64           `json:"ts"` // unix ms
	Type string          `json:"type"`
	Body json.RawMessage `json:"body,omitempty"`
	Sig  string          `json:"sig"` // base64 Ed25519 over the canonical form of all other fields
}

// MaxEnvelope bounds an encoded envelope (64 KiB).
const MaxEnvelope = 64 << 10

// maxType bounds an envelope's type, which names a kind of message.
const maxType = 64

// Seal makes a signed envelope from the instance from to the instance to
// (fresh id, time now) and encodes it. body is encoded as JSON; nil means no
// body.
func (k *Key) Seal(from, to, typ string, body any, now time.Time) ([]byte, error) {
	e := Envelope{ID: newID(), From: from, To: to, TS: now.UnixMilli(), Type: typ}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("seal %s: %w", typ, err)
		}
		// json.Marshal output is compact and HTML-escaped, so encoding the
		// envelope below reproduces these bytes exactly: the receiver
		// verifies the same bytes we sign.
		e.Body = b
	}
	if problem := e.shape(); problem != "" {
		return nil, fmt.Errorf("seal %s: %s", typ, problem)
	}
	e.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(k.priv, e.signedString()))
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", typ, err)
	}
	if len(data) > MaxEnvelope {
		return nil, fmt.Errorf("seal %s: %d bytes, more than %d", typ, len(data), MaxEnvelope)
	}
	return data, nil
}

// Open decodes and checks an envelope exactly like VerifyRequest (size, JSON
// shape, type present and short, To == self, signature, skew, replay) and
// returns it. Errors are *fail.Error as VerifyRequest's, or lookup's own.
func (v *Verifier) Open(data []byte) (*Envelope, error) {
	if len(data) > MaxEnvelope {
		return nil, badSignature("envelope of %d bytes, more than %d", len(data), MaxEnvelope)
	}
	var e Envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, badSignature("envelope is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badSignature("envelope has data after its JSON object")
	}
	if problem := e.shape(); problem != "" {
		return nil, badSignature("envelope %s", problem)
	}
	if e.To != v.self {
		return nil, badSignature("envelope is addressed to %s, not this instance", e.To)
	}
	sig, ok := decodeBase64(e.Sig, ed25519.SignatureSize)
	if !ok {
		return nil, badSignature("envelope has a malformed sig")
	}
	if err := v.check(e.From, e.ID, e.TS, e.signedString(), sig); err != nil {
		return nil, err
	}
	return &e, nil
}

// shape says what is wrong with an envelope's fields, or "".
func (e *Envelope) shape() string {
	switch {
	case !validID(e.ID):
		return "has a malformed id"
	case !ValidHost(e.From):
		return "has a malformed from"
	case !ValidHost(e.To):
		return "has a malformed to"
	case e.TS <= 0:
		return "has a malformed ts"
	case !validType(e.Type):
		return fmt.Sprintf("has a missing or malformed type (letters, digits, '.', '_', '-', at most %d)", maxType)
	}
	return ""
}

// signedString is the canonical text an envelope signature covers: one field
// per line (none can hold a line break once shape accepts them), the body's
// exact bytes last.
func (e *Envelope) signedString() []byte {
	head := strings.Join([]string{
		envelopePrefix,
		e.ID,
		e.From,
		e.To,
		strconv.FormatInt(e.TS, 10),
		e.Type,
		"",
	}, "\n")
	return append([]byte(head), e.Body...)
}

func validType(s string) bool {
	if len(s) == 0 || len(s) > maxType {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
