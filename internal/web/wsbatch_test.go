package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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

// What is queued leaves in one system call, in order; only what was
// queued is taken.
func TestWriteQueuedSendsTheQueueInOneWrite(t *testing.T) {
	rec := &recordingConn{}
	raw := &batchConn{Conn: rec, bufs: newBatchBufs()}
	var want []byte
	var frames [][]byte
	for i := range 40 {
		f := []byte(fmt.Sprintf(`{"n":%d}`, i))
		frames = append(frames, f)
		want = append(want, 0x81, byte(len(f)))
		want = append(want, f...)
	}
	q := queueOf(frames[1:]...)
	if err := writeQueued(raw, frames[0], q); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 1 || !bytes.Equal(rec.writes[0], want) {
		t.Fatalf("%d writes; want 1 with every frame in order", len(rec.writes))
	}
	// The connection is back to plain writes (the WebSocket library's).
	raw.Write([]byte("x"))
	if len(rec.writes) != 2 {
		t.Fatalf("a write after the batch was held back")
	}
}

// A batch larger than the size bound goes out in several writes, losing
// and reordering nothing.
func TestWriteQueuedSplitsLargeBatches(t *testing.T) {
	rec := &recordingConn{}
	raw := &batchConn{Conn: rec, bufs: newBatchBufs()}
	var want []byte
	var frames [][]byte
	for i := range 200 {
		f := []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", 1000)))
		frames = append(frames, f)
		want = appendTextFrame(want, f)
	}
	if err := writeQueued(raw, frames[0], queueOf(frames[1:]...)); err != nil {
		t.Fatal(err)
	}
	got := bytes.Join(rec.writes, nil)
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes written are not the frames in order")
	}
	if len(rec.writes) < 2 || len(rec.writes) > len(want)/maxBatchBytes+1 {
		t.Fatalf("%d writes for %d bytes", len(rec.writes), len(want))
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

// Through a real WebSocket: every frame arrives, in order, each as its own
// message, whatever its size; and a session the chat closes (too slow) gets
// its close code.
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
	for i := range n {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if want := frameN(i); !bytes.Equal(data, want) {
			t.Fatalf("frame %d is %.40s…, want %.40s…", i, data, want)
		}
	}
	if _, data, err := conn.Read(ctx); err != nil || !strings.Contains(string(data), "slow") {
		t.Fatalf("the frame queued before the close: %q, %v", data, err)
	}
	_, _, err = conn.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation {
		t.Fatalf("closed with %v, want policy violation", err)
	}
}

// frameN is the n-th test frame; sizes cross the 126 and 65536 byte
// boundaries of the frame header's length forms.
func frameN(n int) []byte {
	pad := []int{0, 100, 125, 126, 127, 1000, 65535, 65536, 70000}[n%9]
	return []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, n, strings.Repeat("x", pad)))
}
