package turn

import (
	"errors"
	"net"
	"testing"
	"time"
)

func TestTCPIdleConnectionsAreCut(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newTCPListener(inner, 100*time.Millisecond)
	defer l.Close()
	client, err := net.Dial("tcp4", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	// Traffic keeps it open past the idle time...
	for range 3 {
		time.Sleep(60 * time.Millisecond)
		client.Write([]byte("x"))
		if _, err := server.Read(make([]byte, 8)); err != nil {
			t.Fatalf("read on an active connection: %v", err)
		}
	}
	// ...silence does not.
	start := time.Now()
	if _, err := server.Read(make([]byte, 8)); !isTimeout(err) {
		t.Fatalf("read on an idle connection: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("idle timeout took %v", d)
	}
}

// flakyListener fails Accept a few times with a non-fatal error.
type flakyListener struct {
	net.Listener
	fails int
}

func (f *flakyListener) Accept() (net.Conn, error) {
	if f.fails > 0 {
		f.fails--
		return nil, errors.New("accept4: too many open files")
	}
	return f.Listener.Accept()
}

func TestTCPAcceptSurvivesTransientErrors(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newTCPListener(&flakyListener{Listener: inner, fails: 3}, time.Minute)
	client, err := net.Dial("tcp4", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept gave up on a transient error: %v", err)
	}
	c.Close()
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
}
