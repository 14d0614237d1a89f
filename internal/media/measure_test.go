package media_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/media"
)

// Measurements of a remote stream (issue 9), not tests: they print
// figures and never fail on them. Run with
//
//	FEDWAVE_MEASURE=1 go test -count=1 -run TestMeasureRemoteStream -v ./internal/media/
//
// A (the channel's home, with a publisher) runs in a child process, this
// test binary, so that its CPU time is its own.

// TestMeasureOrigin is the child: A, until its standard input closes.
func TestMeasureOrigin(t *testing.T) {
	if os.Getenv("FEDWAVE_MEASURE_ORIGIN") == "" {
		t.Skip("the origin of TestMeasureRemoteStream")
	}
	a := newInstance(t, media.Federation{})
	publish(t, a.srv.URL+"/whip/alice", "", "vp8")
	waitFor(t, "A live", func() bool { live, _, _ := a.svc().Live("alice"); return live })
	fmt.Println("origin", a.srv.URL)
	io.Copy(io.Discard, os.Stdin)
}

// cpuTicks is a process's user and system time, in clock ticks (1/100 s).
func cpuTicks(t *testing.T, pid int) (user, sys int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	user, _ = strconv.Atoi(f[11])
	sys, _ = strconv.Atoi(f[12])
	return user, sys
}

func received(t *testing.T, url string) (publishers uint64) {
	res, err := http.Get(url + "/received")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r struct{ Publishers uint64 }
	json.NewDecoder(res.Body).Decode(&r)
	return r.Publishers
}

// firstKeyframe returns how long after start v's first video keyframe came.
func firstKeyframe(t *testing.T, v *viewer, start time.Time) time.Duration {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		v.mu.Lock()
		n := keyframes(v.video, "video/VP8")
		v.mu.Unlock()
		if n > 0 {
			return time.Since(start)
		}
	}
	t.Fatal("no keyframe")
	return 0
}

func TestMeasureRemoteStream(t *testing.T) {
	if os.Getenv("FEDWAVE_MEASURE") == "" {
		t.Skip("set FEDWAVE_MEASURE=1 to measure")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMeasureOrigin$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FEDWAVE_MEASURE_ORIGIN=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	lines := bufio.NewScanner(stdout)
	var aURL string
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "origin "); ok {
			aURL = u
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	host := strings.TrimPrefix(aURL, "http://")
	b := newInstance(t, media.Federation{Peers: &peers{base: aURL, host: host}})
	url := b.srv.URL + "/whep/alice@" + host

	// Join times: cold (the pull starts) and warm (it runs).
	var cold, warm []time.Duration
	for range 5 {
		start := time.Now()
		first := watch(t, url, false)
		cold = append(cold, firstKeyframe(t, first, start))
		start = time.Now()
		second := watch(t, url, false)
		warm = append(warm, firstKeyframe(t, second, start))
		first.pc.Close()
		second.pc.Close()
		waitLonger(t, "the pull to end", 30*time.Second, func() bool { return pullGoroutines() == 0 })
	}
	t.Logf("join, POST to first keyframe: cold %s; warm %s", durations(cold), durations(warm))

	measure := func(n int) {
		viewers := make([]*viewer, n)
		for i := range viewers {
			viewers[i] = watch(t, url, false)
		}
		for _, v := range viewers {
			waitFor(t, "video on B", func() bool { video, _ := v.counts(); return video > 0 })
		}
		time.Sleep(3 * time.Second)
		const window = 10 * time.Second
		u0, s0 := cpuTicks(t, cmd.Process.Pid)
		in0 := received(t, aURL)
		_, up0 := b.svc().ReceivedBytes()
		time.Sleep(window)
		u1, s1 := cpuTicks(t, cmd.Process.Pid)
		in1 := received(t, aURL)
		_, up1 := b.svc().ReceivedBytes()
		sec := window.Seconds()
		t.Logf("%d B viewers: A's CPU user %.1f%% sys %.1f%% of a core; A's ingest %.0f kbit/s; A's upload to B %.0f kbit/s (%.2f copies)",
			n, float64(u1-u0)/sec, float64(s1-s0)/sec, float64(in1-in0)*8/1000/sec, float64(up1-up0)*8/1000/sec, float64(up1-up0)/float64(in1-in0))
		for _, v := range viewers {
			v.pc.Close()
		}
		waitLonger(t, "the pull to end", 30*time.Second, func() bool { return pullGoroutines() == 0 })
	}
	measure(1)
	measure(50)
}

func durations(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.Round(time.Millisecond).String()
	}
	return "p50 " + s[len(s)/2].Round(time.Millisecond).String() + " (" + strings.Join(parts, " ") + ")"
}
