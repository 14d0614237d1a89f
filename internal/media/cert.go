package media

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// certRenew is how long one DTLS certificate serves new connections.
// pion's certificates are valid for a month and a connection made with an
// expired one is refused, so a long-running server makes a new one well
// before that; connections keep the one they started with.
const certRenew = 24 * time.Hour

// certs is the engine's DTLS certificate, shared by its peer connections.
// Without one pion makes an ECDSA key and certificate per connection, the
// largest CPU cost of a join after the SDP parsing. Sharing it is what
// browsers do for every connection of an origin, and it changes nothing
// for security: each handshake still agrees fresh SRTP keys (ECDHE), the
// certificate only proves the handshake's peer is the one whose
// fingerprint the signalling (over HTTPS) carried, and that fingerprint
// names the server, which is no secret.
type certs struct {
	mu   sync.Mutex
	cert webrtc.Certificate
	made time.Time
}

// config is a peer connection's configuration, with the current
// certificate (a new one when it is older than certRenew).
func (c *certs) config() (webrtc.Configuration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.made.IsZero() || time.Since(c.made) > certRenew {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return webrtc.Configuration{}, fmt.Errorf("DTLS key: %w", err)
		}
		cert, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return webrtc.Configuration{}, fmt.Errorf("DTLS certificate: %w", err)
		}
		c.cert, c.made = *cert, time.Now()
	}
	return webrtc.Configuration{Certificates: []webrtc.Certificate{c.cert}}, nil
}
