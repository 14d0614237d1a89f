package relays

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// A relay's token is "rl_" and 32 random bytes. The origin keeps two
// things derived from it: its SHA-256 (to find the relay) and the ticket
// key, an HMAC of it, which signs the tickets the relay accepts. The
// relay derives the same key from its token, so no key travels.
const tokenPrefix = "rl_"

// NewToken makes a relay token, with its hash and ticket key.
func NewToken() (token, hash, ticketKey string) {
	b := make([]byte, 32)
	rand.Read(b)
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), TicketKey(token)
}

// IsToken reports whether a bearer looks like a relay token.
func IsToken(s string) bool { return strings.HasPrefix(s, tokenPrefix) && len(s) < 100 }

// HashToken is the stored form of a token.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// TicketKey is the key of the tickets a relay with this token accepts.
func TicketKey(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("fedwave relay tickets"))
	return hex.EncodeToString(m.Sum(nil))
}

// Ticket is the origin's word that a relay may serve someone: a viewer it
// placed there (Kind "viewer", for one channel, used once) or a child
// relay pulling from it (Kind "relay", any channel, until it expires).
type Ticket struct {
	Kind    string `json:"k"`
	Relay   string `json:"r"`           // the relay that accepts it
	Channel string `json:"c,omitempty"` // viewer tickets
	Child   string `json:"ch,omitempty"`
	Expires int64  `json:"e"` // unix seconds
	Nonce   string `json:"n"`
}

// Tickets' lifetimes: a viewer's is used at once (the player re-posts
// its offer to the Location); a child relay's is renewed with every
// placement the origin sends it.
const (
	viewerTicketFor = 30 * time.Second
	relayTicketFor  = 10 * time.Minute
	maxTicket       = 512
)

// Sign encodes a ticket signed with a relay's ticket key.
func (t Ticket) Sign(key string) string {
	if t.Nonce == "" {
		b := make([]byte, 9)
		rand.Read(b)
		t.Nonce = base64.RawURLEncoding.EncodeToString(b)
	}
	body, _ := json.Marshal(t)
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + mac(key, payload)
}

func mac(key, payload string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var errTicket = errors.New("the ticket is not valid here")

// Verify checks a ticket against the key of the relay that reads it (a
// ticket for another relay fails: each has its own key) and returns what
// it says; an expired one fails.
func Verify(key, s string, now time.Time) (Ticket, error) {
	payload, sig, ok := strings.Cut(s, ".")
	if !ok || len(s) > maxTicket || !hmac.Equal([]byte(sig), []byte(mac(key, payload))) {
		return Ticket{}, errTicket
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Ticket{}, errTicket
	}
	var t Ticket
	if json.Unmarshal(body, &t) != nil || now.Unix() > t.Expires {
		return Ticket{}, errTicket
	}
	return t, nil
}
