package wire

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The persistent connection as the link manager will build it: A dials B's
// WebSocket endpoint through NewClient with a signed upgrade request, B
// verifies it before accepting, then envelopes flow and each is opened once.
func TestSignedWebSocketLinkCarriesEnvelopes(t *testing.T) {
	p := newPeers(t)
	opened := make(chan *Envelope, 2)
	refused := make(chan error, 2)
	var self string
	var v *Verifier
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		from, err := v.VerifyRequest(r, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(MaxEnvelope)
		for {
			_, data, err := c.Read(r.Context())
			if err != nil {
				return
			}
			e, err := v.Open(data)
			if err != nil {
				refused <- err
				continue
			}
			if e.From != from {
				t.Errorf("envelope from %s on %s's link", e.From, from)
			}
			opened <- e
		}
	}))
	defer srv.Close()
	self = strings.TrimPrefix(srv.URL, "http://")
	v = NewVerifier(self, p.lookup, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// An unsigned dial is refused before the upgrade.
	if _, resp, err := websocket.Dial(ctx, srv.URL+"/federation/link", &websocket.DialOptions{HTTPClient: NewClient(true)}); err == nil {
		t.Fatal("unsigned link accepted")
	} else if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned link: %v", err)
	}

	// websocket.Dial builds its own request, so sign a GET to the same URL
	// and hand over its headers.
	signing, _ := http.NewRequest("GET", srv.URL+"/federation/link", nil)
	p.a.SignRequest(signing, hostA, nil)
	c, _, err := websocket.Dial(ctx, srv.URL+"/federation/link", &websocket.DialOptions{
		HTTPClient: NewClient(true),
		HTTPHeader: signing.Header,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()

	data, err := p.a.Seal(hostA, self, "chat.send", chatBody{"alice", "hi"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second is a replay
		if err := c.Write(ctx, websocket.MessageText, data); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case e := <-opened:
		if e.Type != "chat.send" || string(e.Body) != `{"channel":"alice","text":"hi"}` {
			t.Fatalf("opened %+v", e)
		}
	case <-ctx.Done():
		t.Fatal("envelope never opened")
	}
	select {
	case err := <-refused:
		wantCode(t, err, "replayed")
	case e := <-opened:
		t.Fatalf("replayed envelope opened again: %+v", e)
	case <-ctx.Done():
		t.Fatal("replay never refused")
	}
}
