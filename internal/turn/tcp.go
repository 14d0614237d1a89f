package turn

import (
	"errors"
	"net"
	"sync"
	"time"
)

// tcpIdleTimeout ends a TURN-over-TCP connection on which the client has
// sent nothing for this long. A live WebRTC client sends ICE consent checks
// every few seconds and refreshes its allocation every few minutes, so only
// abandoned or hostile connections reach it; without it each one would hold
// a goroutine and a socket forever.
const tcpIdleTimeout = 2 * time.Minute

// tcpListener keeps track of the TURN-over-TCP connections it accepted:
// pion's Close stops accepting but leaves accepted connections running.
type tcpListener struct {
	net.Listener
	idle time.Duration

	mu     sync.Mutex
	conns  map[*tcpConn]struct{}
	closed bool
}

func newTCPListener(l net.Listener, idle time.Duration) *tcpListener {
	return &tcpListener{Listener: l, idle: idle, conns: make(map[*tcpConn]struct{})}
}

// Accept waits out transient errors (such as running out of file
// descriptors) instead of returning them: pion stops serving TCP for good
// on the first error Accept returns.
func (l *tcpListener) Accept() (net.Conn, error) {
	var c net.Conn
	backoff := 5 * time.Millisecond
	for {
		var err error
		c, err = l.Listener.Accept()
		if err == nil {
			break
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
	}
	tc := &tcpConn{Conn: c, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns[tc] = struct{}{}
	return tc, nil
}

// Close stops accepting and closes every accepted connection.
func (l *tcpListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	conns := make([]*tcpConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return err
}

type tcpConn struct {
	net.Conn
	l    *tcpListener
	once sync.Once
	err  error
}

func (c *tcpConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.l.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *tcpConn) Close() error {
	c.once.Do(func() {
		c.err = c.Conn.Close()
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.err
}
