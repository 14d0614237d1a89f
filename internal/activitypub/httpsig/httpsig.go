// Package httpsig signs and verifies HTTP requests as the fediverse does:
// the cavage "Signing HTTP Messages" draft 12 with RSA PKCS #1 v1.5 over
// SHA-256 (algorithm "rsa-sha256", or "hs2019" as GoToSocial and newer
// Mastodon name it), and a "Digest: SHA-256=" header for bodies. It is the
// profile Mastodon, GoToSocial, Misskey and PeerTube send and check.
package httpsig

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The clock skew accepted on the Date header: a signature older than
// MaxAge or dated more than MaxFuture ahead is refused, so that a captured
// request cannot be replayed later.
const (
	MaxAge    = 5 * time.Minute
	MaxFuture = time.Minute
)

// maxHeader bounds the Signature header we parse.
const maxHeader = 4096

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("invalid HTTP signature")

// ErrMismatch is a well-formed signature that the key does not verify: the
// one failure a rotated key explains.
var ErrMismatch = fmt.Errorf("%w: signature does not match", ErrInvalid)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Signature is a parsed Signature header.
type Signature struct {
	KeyID     string
	Algorithm string
	Headers   []string // lower case, in signing order
	Value     []byte
}

// Parse reads the request's Signature header (or, as some servers send it,
// "Authorization: Signature ...").
func Parse(r *http.Request) (*Signature, error) {
	h := r.Header.Get("Signature")
	if h == "" {
		if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Signature "); ok {
			h = a
		}
	}
	if h == "" {
		return nil, invalid("no Signature header")
	}
	if len(h) > maxHeader {
		return nil, invalid("Signature header too long")
	}
	params, err := parseParams(h)
	if err != nil {
		return nil, err
	}
	s := &Signature{KeyID: params["keyId"], Algorithm: strings.ToLower(params["algorithm"])}
	if s.KeyID == "" {
		return nil, invalid("no keyId")
	}
	switch s.Algorithm {
	case "", "rsa-sha256", "hs2019":
	default:
		return nil, invalid("algorithm %q not supported", s.Algorithm)
	}
	hdrs := params["headers"]
	if hdrs == "" {
		hdrs = "date" // the draft's default
	}
	s.Headers = strings.Fields(strings.ToLower(hdrs))
	if s.Value, err = base64.StdEncoding.DecodeString(params["signature"]); err != nil || len(s.Value) == 0 {
		return nil, invalid("signature is not base64")
	}
	return s, nil
}

// parseParams splits `k1="v1",k2="v2"` into a map; a repeated key is refused.
func parseParams(h string) (map[string]string, error) {
	out := map[string]string{}
	for rest := strings.TrimSpace(h); rest != ""; {
		k, after, ok := strings.Cut(rest, "=")
		if !ok {
			return nil, invalid("malformed Signature header")
		}
		k = strings.TrimSpace(k)
		after = strings.TrimLeft(after, " ")
		var v string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				return nil, invalid("unterminated quote in Signature header")
			}
			v, rest = after[1:1+end], after[2+end:]
		} else {
			v, rest, _ = strings.Cut(after, ",")
			v = strings.TrimSpace(v)
			rest = "," + rest
		}
		if _, dup := out[k]; dup {
			return nil, invalid("repeated parameter %q", k)
		}
		out[k] = v
		rest = strings.TrimSpace(rest)
		rest = strings.TrimPrefix(rest, ",")
		rest = strings.TrimSpace(rest)
	}
	return out, nil
}

// Required are the headers a request's signature must cover: a POST's
// digest too, since without it the body is not signed.
func Required(method string) []string {
	if method == http.MethodPost {
		return []string{"(request-target)", "host", "date", "digest"}
	}
	return []string{"(request-target)", "host", "date"}
}

// Verify checks sig on r against pub at now: the required headers are
// signed, the Date is recent, the Digest matches body (for requests that
// sign one), and the signature is right.
func Verify(r *http.Request, body []byte, sig *Signature, pub *rsa.PublicKey, now time.Time) error {
	for _, h := range Required(r.Method) {
		if !slices.Contains(sig.Headers, h) {
			return invalid("header %q is not signed", h)
		}
	}
	date, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		return invalid("bad Date header")
	}
	if now.Sub(date) > MaxAge || date.Sub(now) > MaxFuture {
		return invalid("Date %s is too far from now", r.Header.Get("Date"))
	}
	if slices.Contains(sig.Headers, "digest") || len(body) > 0 {
		if err := checkDigest(r.Header.Get("Digest"), body); err != nil {
			return err
		}
	}
	text, err := signingString(r, sig.Headers)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(text))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig.Value); err != nil {
		return ErrMismatch
	}
	return nil
}

// checkDigest finds the SHA-256 entry of a Digest header and compares it.
func checkDigest(header string, body []byte) error {
	for part := range strings.SplitSeq(header, ",") {
		alg, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !strings.EqualFold(alg, "SHA-256") {
			continue
		}
		if val != Digest(body)[len("SHA-256="):] {
			return invalid("Digest does not match the body")
		}
		return nil
	}
	return invalid("no SHA-256 Digest header")
}

// Digest is the Digest header's value for body.
func Digest(body []byte) string {
	sum := sha256.Sum256(body)
	return "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

// signingString is the text signed: one "name: value" line per header.
func signingString(r *http.Request, headers []string) (string, error) {
	lines := make([]string, 0, len(headers))
	for _, h := range headers {
		var v string
		switch h {
		case "(request-target)":
			v = strings.ToLower(r.Method) + " " + r.URL.RequestURI()
		case "host":
			v = r.Host
			if v == "" {
				v = r.URL.Host
			}
		default:
			vals := r.Header.Values(h)
			if len(vals) == 0 {
				return "", invalid("signed header %q is missing", h)
			}
			v = strings.Join(vals, ", ")
		}
		lines = append(lines, h+": "+v)
	}
	return strings.Join(lines, "\n"), nil
}

// Sign signs r as keyID with key at now: it sets Date (and for a body,
// Digest) and adds the Signature header over (request-target), host, date
// and, with a body, digest. body must be what r will send.
func Sign(r *http.Request, body []byte, keyID string, key *rsa.PrivateKey, now time.Time) error {
	r.Header.Set("Date", now.UTC().Format(http.TimeFormat))
	if r.Host == "" {
		r.Host = r.URL.Host
	}
	headers := []string{"(request-target)", "host", "date"}
	if body != nil {
		r.Header.Set("Digest", Digest(body))
		headers = append(headers, "digest")
	}
	text, err := signingString(r, headers)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(text))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	r.Header.Set("Signature", fmt.Sprintf(`keyId="%s",algorithm="rsa-sha256",headers="%s",signature="%s"`,
		keyID, strings.Join(headers, " "), base64.StdEncoding.EncodeToString(sig)))
	return nil
}
