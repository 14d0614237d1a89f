package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Batching chat frames into one write.
//
// Every chat frame to every client is one WebSocket message, and the
// WebSocket library flushes each message with its own write system call.
// With thousands of clients that call is most of the server's work. So the
// hijacked connection is wrapped: while a connection's writer drains its
// queue it turns batching on, the frames collect in a buffer, and they leave
// in one write.
//
// Draining alone is not enough: a busy room's messages come from many
// senders spread over time, ~10 ms apart at 100 messages/s, so a queue
// rarely holds more than one. A frame therefore waits up to wsWriteDelay
// for the ones after it, and they leave together: at 100 messages/s about
// three per write instead of one, and the writer goroutine wakes once per
// write instead of once per frame. The wait is cut short when the queue is
// half full (chat.Session.Urgent), so a burst never makes a client that
// keeps up look too slow, and frames keep their order: one writer sends
// them as queued. Each frame stays its own WebSocket message (one JSON
// object), which every client reads.
//
// 25 ms is below what a reader notices in a chat (a frame at 60 Hz is
// 17 ms) and leaves room under a 100 ms delivery budget for the commit and
// the fan-out; waiting longer would save little more, as each write would
// still carry only a few frames at the rates a room sees.
const wsWriteDelay = 25 * time.Millisecond

// maxFramesPerWrite bounds what one writeQueued call sends; the queue
// holds fewer (chat.Settings.QueueLength), so it only guards against a
// queue that refills as fast as it drains.
const maxFramesPerWrite = 256

// wsQueue is a connection's outgoing side: chat.Session.
type wsQueue interface {
	Out() <-chan []byte
	Urgent() <-chan struct{}
	Done() <-chan struct{}
	CloseStatus() (int, string)
}

// holdBack waits, after a first frame was taken from q, for more to come:
// until d has passed, q is half full, q's session ends or ctx is done. The
// timer is the connection's own, stopped between uses.
func holdBack(ctx context.Context, delay *time.Timer, d time.Duration, q wsQueue) {
	delay.Reset(d)
	defer delay.Stop()
	select {
	case <-delay.C:
	case <-q.Urgent():
	case <-q.Done():
	case <-ctx.Done():
	}
}

// writeQueued writes first and then whatever else is queued, in order, and
// sends it all with as few system calls as the batch size allows.
func writeQueued(raw *batchConn, write func([]byte) error, first []byte, queue <-chan []byte) error {
	raw.begin()
	err := write(first)
drain:
	for i := 1; err == nil && i < maxFramesPerWrite; i++ {
		select {
		case frame := <-queue:
			err = write(frame)
		default:
			break drain
		}
	}
	return errors.Join(err, raw.end())
}

// batchConn is a net.Conn whose writes can be held back and sent together.
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      *[]byte
}

// batchBufs holds the buffers of batches in progress: a connection keeps
// none while idle.
var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// maxBatchBytes sends a batch early when it grows this large.
const maxBatchBytes = 64 << 10

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		return c.Conn.Write(p)
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= maxBatchBytes {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// begin holds writes back until end.
func (c *batchConn) begin() {
	c.mu.Lock()
	c.batching = true
	c.buf = batchBufs.Get().(*[]byte)
	c.mu.Unlock()
}

// end sends what was held back, in one write.
func (c *batchConn) end() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.flushLocked()
	c.batching = false
	if cap(*c.buf) <= maxBatchBytes*2 {
		batchBufs.Put(c.buf)
	}
	c.buf = nil
	return err
}

func (c *batchConn) flushLocked() error {
	if len(*c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	return err
}

// batchingWriter hands the WebSocket library a batchConn when it hijacks
// the connection.
type batchingWriter struct {
	http.ResponseWriter
	conn *batchConn
}

func (w *batchingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &batchConn{Conn: c}
	// Small buffers: they live as long as the connection, and chat frames
	// are small. Bytes the server had already read past the request are
	// carried over. The writer can be small too: frames collect in the batch
	// buffer, and bufio passes large payloads straight through.
	// The early bytes must sit in the new reader's buffer, not behind it:
	// the WebSocket library keeps what is buffered and replaces the rest.
	n := brw.Reader.Buffered()
	early, _ := brw.Reader.Peek(n)
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), w.conn), max(512, n))
	if n > 0 {
		if _, err := br.Peek(n); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	return w.conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.conn, 512)), nil
}
