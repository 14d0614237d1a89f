package media_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// digestFeed reads a channel's digest feed (server-sent events) into a
// map by kind and RTP timestamp until the test ends.
type digestFeed struct {
	mu   sync.Mutex
	sums map[string][]string // "video/<ts>" → the hex digests sent at that timestamp
}

func readDigests(t *testing.T, url string) *digestFeed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, res.Header.Get("Content-Type"))
	}
	f := &digestFeed{sums: map[string][]string{}}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var d struct {
				Kind string `json:"kind"`
				TS   uint32 `json:"ts"`
				Sum  string `json:"sum"`
			}
			if json.Unmarshal([]byte(data), &d) == nil {
				f.mu.Lock()
				k := d.Kind + "/" + itoa(d.TS)
				f.sums[k] = append(f.sums[k], d.Sum)
				f.mu.Unlock()
			}
		}
	}()
	return f
}

func itoa(ts uint32) string { return strconv.FormatUint(uint64(ts), 10) }

// match reports whether the feed has digests for kind at ts, and whether
// sum is one of them (the publisher may send several packets at one
// timestamp, such as Opus headers).
func (f *digestFeed) match(kind string, ts uint32, sum string) (seen, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sums, seen := f.sums[kind+"/"+itoa(ts)]
	return seen, slices.Contains(sums, sum)
}

func (f *digestFeed) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sums)
}

// frameSums reassembles whole frames from a viewer's packets with pion's
// depacketisers (an implementation apart from the server's) and returns
// their digests by RTP timestamp. Frames with a packet missing are left
// out.
func frameSums(t *testing.T, pkts []*rtp.Packet, codec string) map[uint32]string {
	t.Helper()
	pkts = slices.Clone(pkts)
	slices.SortFunc(pkts, func(a, b *rtp.Packet) int { return int(int16(a.SequenceNumber - b.SequenceNumber)) })
	pkts = slices.CompactFunc(pkts, func(a, b *rtp.Packet) bool { return a.SequenceNumber == b.SequenceNumber })
	out := map[uint32]string{}
	var frame []byte
	var h codecs.H264Packet // it keeps FU-A fragments until the last
	ok := false             // the frame's start was seen and no packet is missing
	for i, p := range pkts {
		if i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1 {
			ok = false
		}
		if i > 0 && pkts[i-1].Marker && p.SequenceNumber == pkts[i-1].SequenceNumber+1 {
			ok, frame, h = true, frame[:0], codecs.H264Packet{}
		}
		var data []byte
		var err error
		if codec == "h264" {
			data, err = h.Unmarshal(p.Payload)
		} else {
			var v codecs.VP8Packet
			data, err = v.Unmarshal(p.Payload)
		}
		if err != nil {
			t.Fatalf("packet %d: %v", p.SequenceNumber, err)
		}
		frame = append(frame, data...)
		if p.Marker && ok {
			sum := sha256.Sum256(frame)
			out[p.Timestamp] = hex.EncodeToString(sum[:16])
		}
	}
	return out
}

// TestDigestFeedMatchesViewerFrames: the digests the origin streams for a
// channel are those of the frames a viewer reassembles from what it
// receives (VP8 and H.264 video, Opus audio), frame by frame.
func TestDigestFeedMatchesViewerFrames(t *testing.T) {
	for _, codec := range []string{"vp8", "h264"} {
		t.Run(codec, func(t *testing.T) {
			s, key, _ := setup(t)
			publish(t, s.URL+"/whip/alpha", key, codec)
			waitFor(t, "the channel to go live", func() bool { return live(s) })
			feed := readDigests(t, s.URL+"/api/v1/channels/alpha/digests")
			v := watch(t, s.URL+"/whep/alpha", false)
			waitFor(t, "video and audio", func() bool { vi, au := v.counts(); return vi > 100 && au > 100 })
			video := v.settledVideo()
			v.mu.Lock()
			audio := slices.Clone(v.audio)
			v.mu.Unlock()

			frames := frameSums(t, video, codec)
			checked, matched := 0, 0
			for ts, sum := range frames {
				seen, ok := feed.match("video", ts, sum)
				if !seen {
					continue // before the feed started, or after the last digest read
				}
				checked++
				if ok {
					matched++
				}
			}
			audioChecked, audioMatched := 0, 0
			for _, p := range audio {
				sum := sha256.Sum256(p.Payload)
				if seen, ok := feed.match("audio", p.Timestamp, hex.EncodeToString(sum[:16])); seen {
					audioChecked++
					if ok {
						audioMatched++
					}
				}
			}
			t.Logf("%s: %d of %d video frames and %d of %d audio frames match the feed (%d digests read)", codec, matched, checked, audioMatched, audioChecked, feed.count())
			if checked < 20 || matched != checked {
				t.Errorf("video: %d of %d frames match the origin's digests, want all of at least 20", matched, checked)
			}
			if audioChecked < 50 || audioMatched != audioChecked {
				t.Errorf("audio: %d of %d frames match the origin's digests, want all of at least 50", audioMatched, audioChecked)
			}
		})
	}
}
