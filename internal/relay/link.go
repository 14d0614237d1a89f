package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/fedwave/fedwave/internal/relays"
)

// Reconnecting to the origin: a growing wait between tries.
const (
	retryFirst = 100 * time.Millisecond
	retryMax   = 2 * time.Second
)

// link keeps the control link to the origin up until ctx ends; it
// returns an error only when the origin refuses the relay for good.
func (r *Relay) link(ctx context.Context) error {
	wait := retryFirst
	for ctx.Err() == nil {
		start := time.Now()
		err := r.linkOnce(ctx)
		r.setConnected(false)
		if fatal, ok := err.(refused); ok {
			r.cfg.Log.Error("the origin refused this relay", "reason", fatal.Error())
			return fatal
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > 10*time.Second {
			wait = retryFirst
		}
		r.cfg.Log.Warn("link to the origin lost; retrying", "in", wait, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
	return nil
}

// refused is the origin's final no: a revoked or unknown token.
type refused struct{ msg string }

func (e refused) Error() string { return e.msg }

func (r *Relay) linkOnce(stop context.Context) error {
	ctx, cancel := context.WithCancel(stop)
	defer cancel()
	u := "ws" + strings.TrimPrefix(r.origin.String(), "http") + "/api/v1/relays/link"
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	ws, res, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + r.cfg.Token}}})
	dcancel()
	if err != nil {
		if res != nil && res.StatusCode == http.StatusUnauthorized {
			return refused{refusal(res)}
		}
		return err
	}
	defer ws.CloseNow()
	ws.SetReadLimit(64 << 10)
	if err := writeJSON(ctx, ws, relays.Hello{Type: "hello", URL: r.cfg.PublicURL, Capacity: r.cfg.Capacity}); err != nil {
		return err
	}
	r.setConnected(true)
	r.cfg.Log.Info("linked to the origin", "origin", r.origin.String())
	go r.report(ctx, ws)
	for {
		_, data, err := ws.Read(ctx)
		if stop.Err() != nil { // shutting down: a goodbye, not a failure
			writeJSON(context.Background(), ws, relays.Bye{Type: "bye"})
			ws.Close(websocket.StatusNormalClosure, "")
			return nil
		}
		if err != nil {
			return err
		}
		var m struct {
			Type    string        `json:"type"`
			Parent  relays.Parent `json:"parent"`
			Message string        `json:"message"`
		}
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		switch m.Type {
		case "assign":
			if r.up.set(m.Parent) {
				r.cfg.Log.Info("parent assigned", "parent", nameOr(m.Parent.Name), "url", m.Parent.URL)
				r.media.Repull()
			}
		case "revoked":
			return refused{"the origin revoked this relay: " + m.Message}
		}
	}
}

func nameOr(name string) string {
	if name == "" {
		return "the origin"
	}
	return name
}

// refusal is what the origin said when it refused the link.
func refusal(res *http.Response) string {
	var e struct {
		Error struct{ Code, Message string }
	}
	if res.Body != nil {
		json.NewDecoder(io.LimitReader(res.Body, 4<<10)).Decode(&e)
	}
	return fmt.Sprintf("the origin refused this relay's token (%s): %s", e.Error.Code, e.Error.Message)
}

// report sends the relay's state every heartbeat until the link ends.
func (r *Relay) report(ctx context.Context, ws *websocket.Conn) {
	t := time.NewTicker(relays.Heartbeat)
	defer t.Stop()
	_, reports, lost := r.media.Counters().Loss(0, 0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		chans := map[string]relays.ChannelStatus{}
		for name, st := range r.media.Streams() {
			chans[name] = relays.ChannelStatus{Viewers: st.People, Pulling: st.Pulling}
		}
		var loss float64
		loss, reports, lost = r.media.Counters().Loss(reports, lost)
		if writeJSON(ctx, ws, relays.Status{Type: "status", Channels: chans, Loss: loss}) != nil {
			ws.CloseNow()
			return
		}
	}
}

func writeJSON(ctx context.Context, ws *websocket.Conn, v any) error {
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return ws.Write(ctx, websocket.MessageText, b)
}
