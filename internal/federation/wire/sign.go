package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a signed request.
const (
	HeaderFrom      = "FedWave-From"
	HeaderDate      = "FedWave-Date"
	HeaderID        = "FedWave-Id"
	HeaderSignature = "FedWave-Signature"
)

// Domain-separation prefixes: a signature over a request can never be
// replayed as an envelope, nor the other way round.
const (
	requestPrefix  = "FedWave-Request-v1"
	envelopePrefix = "FedWave-Envelope-v1"
)

// SignRequest signs r as sent by the instance from, over body (the exact bytes
// r will carry; nil for none), and sets the four FedWave headers. Call it
// after the URL and method are final.
func (k *Key) SignRequest(r *http.Request, from string, body []byte) {
	h := signedHeaders{
		from: from,
		date: strconv.FormatInt(time.Now().UnixMilli(), 10),
		id:   newID(),
	}
	msg := requestString(r.Method, r.URL.RequestURI(), r.URL.Host, h, body)
	r.Header.Set(HeaderFrom, h.from)
	r.Header.Set(HeaderDate, h.date)
	r.Header.Set(HeaderID, h.id)
	r.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(ed25519.Sign(k.priv, msg)))
}

// IsSigned reports whether a request carries a FedWave signature header.
func IsSigned(r *http.Request) bool { return r.Header.Get(HeaderSignature) != "" }

// signedHeaders are the FedWave headers other than the signature, as text.
type signedHeaders struct {
	from, date, id string
}

// requestString is the canonical text a request signature covers: one field
// per line, none of which can hold a line break (the parsers refuse them), and
// the body by its hash.
func requestString(method, uri, host string, h signedHeaders, body []byte) []byte {
	sum := sha256.Sum256(body)
	return []byte(strings.Join([]string{
		requestPrefix,
		method,
		uri,
		strings.ToLower(host),
		h.from,
		h.date,
		h.id,
		hex.EncodeToString(sum[:]),
	}, "\n"))
}

// parsedHeaders is what parseHeaders found valid.
type parsedHeaders struct {
	signedHeaders
	millis int64
	sig    []byte
}

// parseHeaders reads the four FedWave headers, each present exactly once and
// well formed.
func parseHeaders(hdr http.Header) (parsedHeaders, string) {
	var p parsedHeaders
	var vals [4]string
	for i, name := range [...]string{HeaderFrom, HeaderDate, HeaderID, HeaderSignature} {
		v := hdr.Values(name)
		if len(v) != 1 {
			return p, "missing or repeated " + name + " header"
		}
		vals[i] = v[0]
	}
	p.from, p.date, p.id = vals[0], vals[1], vals[2]
	if !ValidHost(p.from) {
		return p, "malformed " + HeaderFrom + " header"
	}
	ms, ok := parseMillis(p.date)
	if !ok {
		return p, "malformed " + HeaderDate + " header"
	}
	p.millis = ms
	if !validID(p.id) {
		return p, "malformed " + HeaderID + " header"
	}
	if p.sig, ok = decodeBase64(vals[3], ed25519.SignatureSize); !ok {
		return p, "malformed " + HeaderSignature + " header"
	}
	return p, ""
}

// idLen is the length of an id: 16 random bytes in lower-case hex.
const idLen = 32

func newID() string {
	b := make([]byte, idLen/2)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return hex.EncodeToString(b)
}

func validID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// parseMillis reads a unix time in milliseconds written as plain decimal
// digits (no sign, no leading zero), so that each instant has one spelling.
func parseMillis(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 15 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	return ms, err == nil
}
