package web

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// recordingConn is a net.Conn that keeps what is written, one entry per
// Write call (one system call on a real connection).
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func queueOf(frames ...[]byte) chan []byte {
	q := make(chan []byte, len(frames))
	for _, f := range frames {
		q <- f
	}
	return q
}

// wsFrame is one frame as a client reads it.
type wsFrame struct {
	op      byte
	payload []byte
}

// readFrames parses unmasked WebSocket frames (RFC 6455 §5.2), failing
// the test on a header that is not final or not in its shortest form.
func readFrames(t *testing.T, b []byte) []wsFrame {
	t.Helper()
	var out []wsFrame
	for len(b) > 0 {
		if len(b) < 2 || b[0]&0x80 == 0 {
			t.Fatalf("bad frame header % x", b[:min(len(b), 2)])
		}
		n, h := uint64(b[1]&0x7f), 2
		switch n {
		case 126:
			n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
			if n < 126 {
				t.Fatalf("16-bit length %d", n)
			}
		case 127:
			n, h = binary.BigEndian.Uint64(b[2:]), 10
			if n <= 0xFFFF {
				t.Fatalf("64-bit length %d", n)
			}
		}
		if uint64(len(b)-h) < n {
			t.Fatalf("frame of %d bytes, %d left", n, len(b)-h)
		}
		out = append(out, wsFrame{b[0] & 0x0f, b[h : h+int(n)]})
		b = b[h+int(n):]
	}
	return out
}

// objectsOf checks that the text messages in b respect the coalescing
// bound (or hold one frame alone) and returns their frames, in order.
func objectsOf(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var objs [][]byte
	for _, f := range readFrames(t, b) {
		if f.op != 1 {
			t.Fatalf("opcode %d among the text frames", f.op)
		}
		lines := bytes.Split(f.payload, []byte("\n"))
		if len(lines) > 1 && len(f.payload) > maxCoalesced {
			t.Fatalf("a message of %d bytes holds %d frames", len(f.payload), len(lines))
		}
		objs = append(objs, lines...)
	}
	return objs
}

func equalFrames(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

// What is queued leaves in one system call and one WebSocket message, in
// order; only what was queued is taken.
func TestWriteQueuedSendsTheQueueInOneWrite(t *testing.T) {
	rec := &recordingConn{}
	raw := &batchConn{Conn: rec, bufs: newBatchBufs()}
	var frames [][]byte
	for i := range 40 {
		frames = append(frames, []byte(fmt.Sprintf(`{"n":%d}`, i)))
	}
	q := queueOf(frames[1:]...)
	if err := writeQueued(raw, frames[0], q); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 1 {
		t.Fatalf("%d writes; want 1", len(rec.writes))
	}
	if msgs := readFrames(t, rec.writes[0]); len(msgs) != 1 {
		t.Fatalf("%d messages; want 1", len(msgs))
	}
	if !equalFrames(objectsOf(t, rec.writes[0]), frames) {
		t.Fatal("the message does not hold every frame in order")
	}
	// The connection is back to plain writes (the WebSocket library's).
	raw.Write([]byte("x"))
	if len(rec.writes) != 2 {
		t.Fatalf("a write after the batch was held back")
	}
}

// A lone frame goes as it is, with the shortest header.
func TestWriteQueuedOneSmallFrame(t *testing.T) {
	rec := &recordingConn{}
	raw := &batchConn{Conn: rec, bufs: newBatchBufs()}
	if err := writeQueued(raw, []byte(`{"n":1}`), queueOf()); err != nil {
		t.Fatal(err)
	}
	if want := append([]byte{0x81, 7}, `{"n":1}`...); len(rec.writes) != 1 || !bytes.Equal(rec.writes[0], want) {
		t.Fatalf("wrote %q, want %q", rec.writes, want)
	}
}

// A batch larger than the size bounds goes out in several writes and
// messages, each message within maxCoalesced unless it holds one larger
// frame alone, losing and reordering nothing.
func TestWriteQueuedSplitsLargeBatches(t *testing.T) {
	rec := &recordingConn{}
	raw := &batchConn{Conn: rec, bufs: newBatchBufs()}
	var frames [][]byte
	for i := range 200 {
		frames = append(frames, frameN(i))
	}
	if err := writeQueued(raw, frames[0], queueOf(frames[1:]...)); err != nil {
		t.Fatal(err)
	}
	got := bytes.Join(rec.writes, nil)
	if !equalFrames(objectsOf(t, got), frames) {
		t.Fatal("the frames written are not the frames queued, in order")
	}
	for _, f := range readFrames(t, got) {
		if len(f.payload) > maxCoalesced && bytes.IndexByte(f.payload, '\n') >= 0 {
			t.Fatal("a frame over the bound shares its message")
		}
	}
	if len(rec.writes) < 2 || len(rec.writes) > len(got)/maxBatchBytes+1 {
		t.Fatalf("%d writes for %d bytes", len(rec.writes), len(got))
	}
	if msgs := len(readFrames(t, got)); msgs >= len(frames)/2 {
		t.Fatalf("%d messages for %d frames: little was coalesced", msgs, len(frames))
	}
}

// A control frame the WebSocket library writes during a batch (a pong)
// goes between two messages, never inside one.
func TestBatchKeepsControlFramesWhole(t *testing.T) {
	rec := &recordingConn{}
	raw := &batchConn{Conn: rec, bufs: newBatchBufs()}
	raw.begin()
	raw.appendText([]byte(`{"n":1}`))
	pong := []byte{0x8a, 2, 'h', 'i'}
	raw.Write(pong)
	raw.appendText([]byte(`{"n":2}`))
	if err := raw.end(); err != nil {
		t.Fatal(err)
	}
	got := readFrames(t, bytes.Join(rec.writes, nil))
	if len(got) != 3 || got[0].op != 1 || got[1].op != 0xa || got[2].op != 1 ||
		string(got[0].payload) != `{"n":1}` || string(got[2].payload) != `{"n":2}` {
		t.Fatalf("frames %q", got)
	}
}

// fakeQueue is a session's outgoing side.
type fakeQueue struct {
	out     chan []byte
	urgent  chan struct{}
	done    chan struct{}
	code    int
	reasons string
}

func newFakeQueue(n int) *fakeQueue {
	return &fakeQueue{out: make(chan []byte, n), urgent: make(chan struct{}, 1), done: make(chan struct{})}
}

func (q *fakeQueue) Out() <-chan []byte         { return q.out }
func (q *fakeQueue) Urgent() <-chan struct{}    { return q.urgent }
func (q *fakeQueue) Done() <-chan struct{}      { return q.done }
func (q *fakeQueue) CloseStatus() (int, string) { return q.code, q.reasons }

// The write delay ends as soon as the queue says it is filling up, however
// long the delay.
func TestHoldBackEndsWhenTheQueueFills(t *testing.T) {
	q := newFakeQueue(1)
	q.urgent <- struct{}{}
	timer := time.NewTimer(time.Hour)
	returned := make(chan struct{})
	go func() { holdBack(context.Background(), timer, time.Hour, q); close(returned) }()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("holdBack waited out its delay although the queue was filling")
	}
}

// Through a real WebSocket: every frame arrives, in order, whatever its
// size, several to a message when they leave together; and a session the
// chat closes (too slow) gets the frame queued before and its close code.
func TestWSWriterDeliversInOrderThenCloses(t *testing.T) {
	q := newFakeQueue(64)
	const n = 2000
	wake := make(chan func(), 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := &batchingWriter{ResponseWriter: w, bufs: newBatchBufs()}
		conn, err := websocket.Accept(bw, r, nil)
		if err != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		ww := &wsWriter{ctx: ctx, cancel: cancel, conn: conn, raw: bw.conn, q: q, delay: wsWriteDelay}
		wake <- ww.wake
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	wakeWriter := <-wake
	go func() {
		// Like chat.Session: queue, then wake the writer; pauses let it
		// go idle and end between bursts.
		for i := range n {
			q.out <- frameN(i)
			if len(q.out) >= cap(q.out)/2 {
				select {
				case q.urgent <- struct{}{}:
				default:
				}
			}
			wakeWriter()
			if i%500 == 0 {
				time.Sleep(wsWriterLinger + 100*time.Millisecond)
			}
		}
		q.out <- []byte(`{"type":"error","code":"slow"}`)
		q.code, q.reasons = int(websocket.StatusPolicyViolation), "too slow to keep up with the chat"
		close(q.done)
		wakeWriter()
	}()
	var got [][]byte
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation {
				t.Fatalf("closed with %v, want policy violation", err)
			}
			break
		}
		got = append(got, bytes.Split(data, []byte("\n"))...)
	}
	if len(got) != n+1 || !strings.Contains(string(got[n]), "slow") {
		t.Fatalf("%d frames, want %d and the error", len(got), n)
	}
	for i := range n {
		if want := frameN(i); !bytes.Equal(got[i], want) {
			t.Fatalf("frame %d is %.40s…, want %.40s…", i, got[i], want)
		}
	}
}

// frameN is the n-th test frame; sizes cross the 126 and 65536 byte
// boundaries of the frame header's length forms.
func frameN(n int) []byte {
	pad := []int{0, 100, 125, 126, 127, 1000, 65535, 65536, 70000}[n%9]
	return []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, n, strings.Repeat("x", pad)))
}

// Frames share a message up to exactly maxCoalesced bytes, not one more.
func TestCoalescingBound(t *testing.T) {
	obj := func(n int) []byte { return []byte(`"` + strings.Repeat("x", n-2) + `"`) }
	for _, c := range []struct {
		first, second, messages int
	}{
		{maxCoalesced - 11, 10, 1},
		{maxCoalesced - 10, 10, 2},
		{maxCoalesced, 10, 2},
		{maxCoalesced + 1, 10, 2},
		{10, maxCoalesced, 2},
	} {
		rec := &recordingConn{}
		raw := &batchConn{Conn: rec, bufs: newBatchBufs()}
		frames := [][]byte{obj(c.first), obj(c.second)}
		if err := writeQueued(raw, frames[0], queueOf(frames[1])); err != nil {
			t.Fatal(err)
		}
		got := bytes.Join(rec.writes, nil)
		if n := len(readFrames(t, got)); n != c.messages {
			t.Errorf("%d+%d bytes: %d messages, want %d", c.first, c.second, n, c.messages)
		}
		if !equalFrames(objectsOf(t, got), frames) {
			t.Errorf("%d+%d bytes: frames changed", c.first, c.second)
		}
	}
}
