package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
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
// them as queued. What leaves together goes as few WebSocket messages,
// several JSON objects each separated by '\n' (CONTRACT §4), so a client
// also handles one message event per batch rather than one per object.
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

// maxCoalesced bounds a WebSocket message that carries several frames: 16
// KiB is ~50 chat messages, more than a write delay gathers, and stays
// under the 32 KiB a client library reads by default (coder/websocket).
// A larger frame goes alone, as it did before coalescing.
const maxCoalesced = 16 << 10

// wsQueue is a connection's outgoing side: chat.Session.
type wsQueue interface {
	Out() <-chan []byte
	Urgent() <-chan struct{}
	Done() <-chan struct{}
	CloseStatus() (int, string)
}

// wsWriter is a connection's one writer: it sends queued frames in order,
// several per system call, and closes the connection when the session asks
// (too slow, shutdown). Its goroutine runs only while there is something to
// write and a little after (wsWriterLinger): an idle connection keeps no
// goroutine, nor its stack, for writing. The session wakes it (SetWake)
// after each frame it queues and when it closes.
type wsWriter struct {
	ctx    context.Context
	cancel func() // ends the connection
	conn   *websocket.Conn
	raw    *batchConn
	q      wsQueue
	delay  time.Duration // the write delay, wsWriteDelay

	mu      sync.Mutex
	running bool // a goroutine runs run
	stopped bool // the connection has ended: start no more
	ping    *time.Timer
	wg      sync.WaitGroup
	timer   *time.Timer // the running goroutine's, for holdBack and lingering
}

// wake makes sure a goroutine is writing. Frames are queued before wake
// is called, and run looks at the queue one last time under mu before it
// ends, so no frame is left behind.
func (w *wsWriter) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running || w.stopped {
		return
	}
	w.running = true
	if w.timer == nil {
		w.timer = time.NewTimer(time.Hour)
		w.timer.Stop()
	}
	w.wg.Add(1)
	go w.run()
}

// stop waits for the writer to end, and keeps it from starting again.
func (w *wsWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	if w.ping != nil {
		w.ping.Stop()
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// startPings pings the client every interval to keep proxies from dropping
// an idle connection, from a timer rather than a goroutine; a failed ping
// ends the connection.
func (w *wsWriter) startPings(every time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ping = time.AfterFunc(every, func() {
		pctx, cancel := context.WithTimeout(w.ctx, wsWriteTimeout)
		err := w.conn.Ping(pctx)
		cancel()
		if err != nil {
			w.cancel()
			return
		}
		w.mu.Lock()
		if !w.stopped {
			w.ping.Reset(every)
		}
		w.mu.Unlock()
	})
}

func (w *wsWriter) run() {
	defer w.wg.Done()
	// A stuck write ends when ws's onClose cuts the connection.
	for {
		frame, ok := w.next()
		if !ok {
			return
		}
		if frame == nil { // the session ended
			w.close()
			w.cancel()
			return
		}
		holdBack(w.ctx, w.timer, w.delay, w.q)
		if writeQueued(w.raw, frame, w.q.Out()) != nil {
			w.cancel()
			return
		}
	}
}

// next waits for the next frame: nil when the session has ended; false
// when the writer should end, having waited wsWriterLinger for nothing, or
// the connection has ended.
func (w *wsWriter) next() ([]byte, bool) {
	w.timer.Reset(wsWriterLinger)
	defer w.timer.Stop()
	select {
	case frame := <-w.q.Out():
		return frame, true
	case <-w.q.Done():
		return nil, true
	case <-w.ctx.Done():
		return nil, false
	case <-w.timer.C:
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case frame := <-w.q.Out(): // queued just now: its wake saw this goroutine running
		return frame, true
	default:
		w.running = false
		return nil, false
	}
}

// close sends what was queued before the session ended (e.g. the error
// that explains it), then closes with the session's reason.
func (w *wsWriter) close() {
	select {
	case frame := <-w.q.Out():
		if writeQueued(w.raw, frame, w.q.Out()) != nil {
			return
		}
	default:
	}
	code, reason := w.q.CloseStatus()
	w.conn.Close(websocket.StatusCode(code), reason)
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

// writeQueued writes first and then whatever else is queued, in order, as
// few WebSocket text messages (appendText), and sends it all with as few
// system calls as the batch size allows.
func writeQueued(raw *batchConn, first []byte, queue <-chan []byte) error {
	raw.begin()
	raw.appendText(first)
drain:
	for i := 1; i < maxFramesPerWrite; i++ {
		select {
		case frame := <-queue:
			if err := raw.appendText(frame); err != nil {
				return errors.Join(err, raw.end())
			}
		default:
			break drain
		}
	}
	return raw.end()
}

// appendText adds one frame (a JSON object) to the batch: to the text
// message in progress after a '\n' while that stays within maxCoalesced,
// else as the start of a new one. Chat frames are framed here rather than
// by the WebSocket library: its per-message locking was most of the
// server's remaining time per delivery once writes were batched. This is
// safe because the library then writes only control frames (ping, pong,
// close), each in one Write to the connection (they fit its 512-byte
// buffer, which it flushes after each), and batchConn's lock keeps those
// whole between our messages. A server's frames are unmasked (RFC 6455
// §5.1).
func (c *batchConn) appendText(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open >= 0 && len(*c.buf)-c.open-openHeader+1+len(p) <= maxCoalesced {
		*c.buf = append(append(*c.buf, '\n'), p...)
		return nil
	}
	c.closeTextLocked()
	if len(*c.buf) >= maxBatchBytes {
		if err := c.flushLocked(); err != nil {
			return err
		}
	}
	if len(p) > maxCoalesced {
		*c.buf = appendTextFrame(*c.buf, p)
		return nil
	}
	// The length is known only when the message is complete: leave room
	// for the 16-bit form, which maxCoalesced fits, and fill it in then.
	c.open = len(*c.buf)
	*c.buf = append(append(*c.buf, 0x81, 126, 0, 0), p...)
	return nil
}

// openHeader is the room left for the header of the message in progress.
const openHeader = 4

// closeTextLocked completes the text message in progress, if any: its
// length goes in the header, in the shortest form as RFC 6455 §5.2
// requires.
func (c *batchConn) closeTextLocked() {
	if c.open < 0 {
		return
	}
	b := *c.buf
	h, n := c.open, len(b)-c.open-openHeader
	c.open = -1
	if n >= 126 {
		binary.BigEndian.PutUint16(b[h+2:], uint16(n))
		return
	}
	b[h+1] = byte(n)
	copy(b[h+2:], b[h+openHeader:])
	*c.buf = b[:len(b)-2]
}

// appendTextFrame appends a final, unmasked text frame holding p (RFC 6455
// §5.2).
func appendTextFrame(b, p []byte) []byte {
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x81, byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x81, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x81, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, p...)
}

// batchConn is a net.Conn whose writes can be held back and sent together.
type batchConn struct {
	net.Conn
	bufs     *sync.Pool // newBatchBufs
	mu       sync.Mutex
	batching bool
	buf      *[]byte
	open     int // where the text message in progress starts in buf; -1: none
}

// newBatchBufs makes the pool of the buffers of batches in progress, which
// a server's connections share: a connection keeps none while idle.
func newBatchBufs() *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}
}

// maxBatchBytes sends a batch early when it grows this large.
const maxBatchBytes = 64 << 10

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		return c.Conn.Write(p)
	}
	c.closeTextLocked() // a control frame goes between messages
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
	c.buf = c.bufs.Get().(*[]byte)
	c.open = -1
	c.mu.Unlock()
}

// end sends what was held back, in one write.
func (c *batchConn) end() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.flushLocked()
	c.batching = false
	if cap(*c.buf) <= maxBatchBytes*2 {
		c.bufs.Put(c.buf)
	}
	c.buf = nil
	return err
}

func (c *batchConn) flushLocked() error {
	c.closeTextLocked()
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
	bufs *sync.Pool // newBatchBufs
	conn *batchConn
}

func (w *batchingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &batchConn{Conn: c, bufs: w.bufs}
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
