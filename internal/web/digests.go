package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/media"
	"github.com/fedwave/fedwave/internal/ratelimit"
)

// The frame digest feed (GET /api/v1/channels/{name}/digests) streams, as
// server-sent events, the digest of every encoded frame of a channel's
// stream: what a viewer fed by a fellow viewer checks each frame against
// before showing it (package framedigest). The browser-relay children will
// get the same feed over their control socket; this endpoint is its plain
// HTTP form, for tools and tests. Each event is one JSON object:
//
//	data: {"kind":"video","rid":"","ts":2863311530,"key":true,"sum":"<32 hex digits>"}
//
// sum is the first 16 bytes of SHA-256 over the frame's bytes as the
// browser's encoded-frame API gives them, ts the frame's RTP timestamp.
// A comment line (": ") keeps idle feeds open through proxies.
const (
	digestFeedsPerChannel = 8                // open feeds of one channel here (the children's feeds have a budget of their own)
	digestFeedsPerAddress = 2                // open feeds of one client address
	digestFeedsPerMinute  = 10               // feeds one client address starts
	digestFeedLifetime    = 30 * time.Minute // then the client connects again (EventSource does)
	digestWriteTimeout    = 10 * time.Second // a client that stops reading is dropped
	digestKeepAlive       = 15 * time.Second
)

// digestFeeds limits who opens digest feeds.
type digestFeeds struct {
	rate     *ratelimit.Keyed
	conns    *connLimit // by client address
	channels *connLimit // by channel
}

func newDigestFeeds() digestFeeds {
	return digestFeeds{
		rate:     ratelimit.PerMinute(digestFeedsPerMinute),
		conns:    &connLimit{max: digestFeedsPerAddress, n: map[string]int{}},
		channels: &connLimit{max: digestFeedsPerChannel, n: map[string]int{}},
	}
}

// digestEvent is one digest on the wire.
type digestEvent struct {
	Kind string `json:"kind"`
	RID  string `json:"rid"`
	TS   uint32 `json:"ts"`
	Key  bool   `json:"key"`
	Sum  string `json:"sum"`
}

func (s *Server) apiDigests(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	if !allow(w, s.digests.rate, ip) {
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many digest feeds started from your address; wait a moment")
		return
	}
	if !s.digests.conns.acquire(ip) {
		writeError(w, http.StatusTooManyRequests, "too_many_connections", "too many digest feeds open from your address")
		return
	}
	defer s.digests.conns.release(ip)
	ch, err := s.channels.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ch.Instance != "" {
		writeError(w, http.StatusNotFound, "not_found", "the digests of a linked instance's channel are served by that instance")
		return
	}
	key := strings.ToLower(ch.Name)
	if !s.digests.channels.acquire(key) {
		writeError(w, http.StatusTooManyRequests, "too_many_connections", "too many digest feeds of this channel are open")
		return
	}
	defer s.digests.channels.release(key)
	ctx, cancel := context.WithTimeout(r.Context(), digestFeedLifetime)
	defer cancel()
	feed, stop, err := s.media.Digests(ctx, ch.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer stop()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on at once
	w.WriteHeader(http.StatusOK)
	streamDigests(ctx, w, feed)
}

// streamDigests writes the feed's digests as events until the feed or
// the client ends.
func streamDigests(ctx context.Context, w http.ResponseWriter, feed <-chan media.Digest) {
	rc := http.NewResponseController(w)
	keepAlive := time.NewTicker(digestKeepAlive)
	defer keepAlive.Stop()
	var buf []byte
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(digestWriteTimeout))
		if rc.Flush() != nil {
			return
		}
		buf = buf[:0]
		select {
		case <-ctx.Done():
			return
		case <-keepAlive.C:
			buf = append(buf, ": \n\n"...)
		case d, ok := <-feed:
			if !ok {
				return
			}
			buf = appendDigest(buf, d)
			for more := true; more && len(buf) < 16<<10; { // what else waits goes in the same write
				select {
				case d, ok := <-feed:
					if !ok {
						more = false
						break
					}
					buf = appendDigest(buf, d)
				default:
					more = false
				}
			}
		}
		if _, err := w.Write(buf); err != nil {
			return
		}
	}
}

func appendDigest(buf []byte, d media.Digest) []byte {
	b, _ := json.Marshal(digestEvent{Kind: d.Kind(), RID: d.RID(), TS: d.Timestamp, Key: d.Key, Sum: d.Sum.String()})
	buf = append(buf, "data: "...)
	buf = append(buf, b...)
	return append(buf, "\n\n"...)
}
