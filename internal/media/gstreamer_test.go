package media_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// gstCheck exits 0 where the WHIP publisher in testdata/whip_gst.py can
// run: PyGObject with GStreamer, its WebRTC and SDP libraries, and the
// elements the script's pipeline uses (.ci/run installs them with the same
// check).
const gstCheck = `import gi, sys
gi.require_version("Gst", "1.0"); gi.require_version("GstWebRTC", "1.0"); gi.require_version("GstSdp", "1.0")
from gi.repository import Gst, GstWebRTC, GstSdp
Gst.init(None)
missing = [e for e in ("webrtcbin", "nicesrc", "dtlssrtpenc", "videotestsrc", "vp8enc", "rtpvp8pay", "audiotestsrc", "opusenc", "rtpopuspay") if Gst.ElementFactory.find(e) is None]
sys.exit("missing GStreamer elements: " + " ".join(missing) if missing else 0)`

// gstPython returns a python3 that can run the publisher, or skips the test
// (fails it with FEDWAVE_REQUIRE_GSTREAMER=1). Debian's python3-gi is
// installed for /usr/bin/python3 only, which a python3 earlier in PATH (a
// pyenv one, say) does not see: both are tried.
func gstPython(t *testing.T) string {
	t.Helper()
	var why []string
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		out, err := exec.Command(py, "-c", gstCheck).CombinedOutput()
		if err == nil {
			return py
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		why = append(why, fmt.Sprintf("%s: %v: %s", py, err, lines[len(lines)-1]))
	}
	msg := "GStreamer's webrtcbin is not usable from Python (on Debian: apt-get install python3-gst-1.0 " +
		"gir1.2-gst-plugins-bad-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good " +
		"gstreamer1.0-plugins-bad gstreamer1.0-nice): " + strings.Join(why, "; ")
	if os.Getenv("FEDWAVE_REQUIRE_GSTREAMER") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// lineLog sends what a child process writes to the test log, a line at a
// time, and calls seen (if set) with each line.
type lineLog struct {
	t      *testing.T
	prefix string
	seen   func(string)
	mu     sync.Mutex
	buf    []byte
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		l.t.Logf("%s%s", l.prefix, line)
		if l.seen != nil {
			l.seen(line)
		}
	}
}

// gstPublisher is testdata/whip_gst.py running as a child process.
type gstPublisher struct {
	cmd       *exec.Cmd
	stdin     interface{ Close() error }
	published atomic.Bool
	exited    chan struct{} // closed when the process has been waited for
	err       error         // cmd.Wait's result, once exited is closed
	stopOnce  sync.Once
	cancel    context.CancelFunc
}

// startGStreamer starts the publisher on url with token. It is stopped (and
// waited for) at cleanup at the latest: no process outlives the test.
func startGStreamer(t *testing.T, py, url, token string) *gstPublisher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &gstPublisher{exited: make(chan struct{}), cancel: cancel}
	p.cmd = exec.CommandContext(ctx, py, "testdata/whip_gst.py", url, token)
	// Cancelling asks the script to DELETE its session and leave; only if it
	// has not gone WaitDelay later is it killed.
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(syscall.SIGTERM) }
	p.cmd.WaitDelay = 15 * time.Second
	p.cmd.Stderr = &lineLog{t: t, prefix: "whip_gst.py: "}
	p.cmd.Stdout = &lineLog{t: t, prefix: "whip_gst.py stdout: ", seen: func(line string) {
		if strings.HasPrefix(line, "published") {
			p.published.Store(true)
		}
	}}
	stdin, err := p.cmd.StdinPipe() // kept open: the script runs until it closes
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("whip_gst.py: %v", err)
		}
	})
	return p
}

// stop closes the script's stdin, which makes it DELETE its session and
// exit, and waits for it; a script that hangs gets SIGTERM after 30 s and
// SIGKILL WaitDelay after that. It returns how the script ended.
func (p *gstPublisher) stop() error {
	p.stopOnce.Do(func() {
		p.stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			p.cancel()
			<-p.exited
			p.err = errors.Join(errors.New("did not exit after its stdin closed"), p.err)
		}
		p.cancel()
	})
	<-p.exited
	return p.err
}

// running fails the test if the script has already ended.
func (p *gstPublisher) running(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("whip_gst.py ended early: %v", p.err)
	default:
	}
}

// A publisher that is not pion: GStreamer's webrtcbin, as OBS-like tools and
// scripts use it, publishes over WHIP, and a viewer gets its VP8 and Opus.
func TestGStreamerPublisher(t *testing.T) {
	py := gstPython(t)
	s, key, _ := setup(t)
	pub := startGStreamer(t, py, s.URL+"/whip/alpha", key)

	// Generous: Python, GStreamer and ICE all start up on a busy machine.
	waitLonger(t, "the GStreamer publisher to go live", 30*time.Second, func() bool {
		pub.running(t)
		return pub.published.Load() && live(s)
	})

	v := watch(t, s.URL+"/whep/alpha", false)
	if v.res.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP: %d", v.res.StatusCode)
	}
	// At 30 frames/s with a keyframe at least every 30 frames, and Opus at
	// 50 packets/s, this is a few seconds' worth: several keyframes.
	waitLonger(t, "video and audio from GStreamer", 30*time.Second, func() bool {
		pub.running(t)
		vi, au := v.counts()
		return vi > 150 && au > 100
	})
	v.mu.Lock()
	video, audio, mime := append([]*rtp.Packet(nil), v.video...), append([]*rtp.Packet(nil), v.audio...), v.mime
	v.mu.Unlock()
	if !strings.EqualFold(mime, "video/VP8") {
		t.Fatalf("viewer got %s, want video/VP8", mime)
	}
	if keyframes(video, mime) == 0 {
		t.Fatal("no keyframe reached the viewer: nothing to decode from")
	}
	for _, p := range audio {
		if len(p.Payload) == 0 {
			t.Fatalf("empty Opus packet (sequence number %d)", p.SequenceNumber)
		}
	}
	checkContinuous(t, "video", video)
	checkContinuous(t, "audio", audio)

	// Closing stdin makes the script DELETE its session: the stream ends.
	if err := pub.stop(); err != nil {
		t.Fatalf("whip_gst.py: %v", err)
	}
	waitFor(t, "the channel to go offline", func() bool { return !live(s) })
}
