package loadtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/keyframe"
)

// TestMediaLoadSmall publishes a synthetic stream to a real server and
// watches it with three WHEP viewers, for each codec: every viewer joins
// and receives frames and keyframes, and nothing is left running after.
// (Only counts are checked; loss and timings are for the benchmark.)
func TestMediaLoadSmall(t *testing.T) {
	for _, codec := range []string{"vp8", "h264"} {
		t.Run(codec, func(t *testing.T) {
			s := apptest.Start(t)
			s.CreateUser("alpha", "password1", auth.RoleStreamer)
			key, _ := s.Do("POST", "/api/v1/channels/alpha/stream-key", nil, s.Login("alpha", "password1")).Body["streamKey"].(string)
			if key == "" {
				t.Fatal("no stream key")
			}
			var log io.Writer
			if testing.Verbose() {
				log = os.Stderr
			}
			http.DefaultClient.CloseIdleConnections()
			before := runtime.NumGoroutine()

			rep, err := RunMedia(context.Background(), MediaOptions{
				WHIP: s.URL + "/whip/alpha", Key: key, Viewers: 3, Duration: 3 * time.Second,
				Bitrate: 1_000_000, Codec: codec, Log: log,
			})
			if err != nil {
				t.Fatalf("%v\n%s", err, rep)
			}
			t.Logf("\n%s", rep)
			if rep.Joined != 3 || len(rep.Viewers) != 3 {
				t.Fatalf("%d of %d viewers joined", rep.Joined, len(rep.Viewers))
			}
			for _, v := range rep.Viewers {
				if v.Err != "" || v.Frames == 0 || v.Keyframes == 0 || v.Packets == 0 || v.Delay.Max == 0 {
					t.Errorf("viewer %d: %+v", v.N, v)
				}
			}
			p := rep.Publisher
			if p.Frames == 0 || p.Keyframes == 0 || p.AudioPackets == 0 {
				t.Errorf("publisher: %+v", p)
			}
			if !rep.Server.Available || rep.Server.CPU <= 0 {
				t.Errorf("server usage not read from /metrics: %+v", rep.Server)
			}
			if !strings.Contains(rep.String(), "3 of 3 received video") {
				t.Errorf("report:\n%s", rep)
			}

			// Every connection closed: the goroutines settle back (the
			// server's sessions end too, it runs in this process).
			http.DefaultClient.CloseIdleConnections()
			deadline := time.Now().Add(10 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines left running (%d before):\n%s", n-before, before, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}

func TestParseBitrate(t *testing.T) {
	for in, want := range map[string]int{"2500k": 2_500_000, "2.5M": 2_500_000, "800000": 800_000, "64kbit": 64_000, " 3m ": 3_000_000} {
		if got, err := ParseBitrate(in); err != nil || got != want {
			t.Errorf("ParseBitrate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-5k", "1", "5G"} {
		if _, err := ParseBitrate(in); err == nil {
			t.Errorf("ParseBitrate(%q) accepted", in)
		}
	}
}

// The packetizers write what the receive side recognizes: keyframes,
// stamps, and sizes near the target.
func TestPacketizers(t *testing.T) {
	for _, key := range []bool{true, false} {
		total := 0
		pls := vp8Frame(key, 5000, 1234)
		for i, p := range pls {
			total += len(p.data)
			if got := keyframe.Start("video/vp8", p.data); got != (key && i == 0) {
				t.Errorf("vp8 key=%v packet %d: isKeyframe %v", key, i, got)
			}
			stamp(p.data, 7)
			if _, c, ok := readStamp(p.data); !p.stamped || !ok || c != 7 {
				t.Errorf("vp8 packet %d: stamp not read back", i)
			}
		}
		if len(pls) != 5 || total < 5000 || total > 5100 {
			t.Errorf("vp8 5000 bytes: %d packets, %d bytes", len(pls), total)
		}

		pls = h264Frame(key, 5000)
		keys := 0
		for _, p := range pls {
			if keyframe.Start("video/h264", p.data) {
				keys++
			}
			if len(p.data) > maxPayload {
				t.Errorf("h264 packet of %d bytes", len(p.data))
			}
			if _, _, ok := readStamp(p.data); ok || p.stamped == (p.data[0]&0x1f == 24) {
				t.Errorf("h264 packet type %d: stamped %v, stamp found before stamping %v", p.data[0]&0x1f, p.stamped, ok)
			}
		}
		if want := map[bool]int{true: 2, false: 0}[key]; keys != want { // STAP-A with SPS, first FU-A of the IDR
			t.Errorf("h264 key=%v: %d packets look like keyframes, want %d", key, keys, want)
		}
		if first := pls[len(pls)-len(packetSizes(5000))]; first.data[1]&0x80 == 0 {
			t.Errorf("h264: first fragment without the start bit")
		}
	}
	if !keyframe.Start("video/h264", h264Frame(true, 500)[1].data) || keyframe.Start("video/h264", h264Frame(false, 500)[0].data) {
		t.Errorf("h264 single NAL unit packets: wrong IDR type")
	}
}

func TestDelayHistogram(t *testing.T) {
	var h delayHist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * 10 * time.Microsecond) // 10 µs .. 10 ms
	}
	p := h.percentiles()
	near := func(got, want time.Duration) bool { return got >= want && got <= want*104/100 }
	if !near(p.P50, 5*time.Millisecond) || !near(p.P99, 9900*time.Microsecond) || p.Max != 10*time.Millisecond {
		t.Errorf("percentiles %+v", p)
	}
	for us := range uint64(1 << 20) {
		if i := delayBucket(us); time.Duration(us)*time.Microsecond >= delayUpper(i) || (i > 0 && time.Duration(us)*time.Microsecond < delayUpper(i-1)) {
			t.Fatalf("%d µs in bucket %d, which ends at %s", us, i, delayUpper(i))
		}
	}
}

// Servers such as Broadcast Box want a bearer token with WHEP too: the
// viewers send --whep-key, on the offer and on the DELETE that ends them.
func TestMediaLoadWHEPKey(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	key, _ := s.Do("POST", "/api/v1/channels/alpha/stream-key", nil, s.Login("alpha", "password1")).Body["streamKey"].(string)
	target, _ := url.Parse(s.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var refused, deleted atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/whep/") && r.Header.Get("Authorization") != "Bearer viewer-key" {
			refused.Add(1)
			http.Error(w, "want the viewer key", http.StatusUnauthorized)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/whep/") && r.Method == http.MethodDelete {
			deleted.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	rep, err := RunMedia(context.Background(), MediaOptions{
		WHIP: front.URL + "/whip/alpha", Key: key, WHEPKey: "viewer-key", Viewers: 2, Duration: time.Second,
		Bitrate: 500_000, Metrics: "-",
	})
	if err != nil || rep.Joined != 2 {
		t.Fatalf("%d of 2 viewers joined (%v)\n%s", rep.Joined, err, rep)
	}
	if refused.Load() != 0 || deleted.Load() != 2 {
		t.Fatalf("%d WHEP requests refused, %d viewers deleted (want 0 and 2)", refused.Load(), deleted.Load())
	}
}
