package web_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
)

// rawJoin opens /ws by hand and joins a channel: the client side is a bare
// TCP connection with no goroutine, so what the process holds per
// connection is nearly all the server's.
func rawJoin(addr, channel string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("upgrade: %v %v", res, err)
	}
	// A masked text frame with a zero mask: the payload goes as is.
	payload := `{"type":"join","channel":"` + channel + `"}`
	frame := append([]byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
	if _, err := c.Write(frame); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// BenchmarkChatIdleConnMemory reports the Go heap and stacks one idle
// chat connection costs (joined, nothing said), after the connection's
// writer has had time to end. FEDWAVE_IDLE_CONNS sets how many (1000).
//
//	go test -run XXX -bench ChatIdleConnMemory -benchtime 1x ./internal/web/
func BenchmarkChatIdleConnMemory(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("FEDWAVE_IDLE_CONNS")); err == nil {
		n = v
	}
	s := apptest.Start(b, func(c *config.Config) { c.ConnsPerIP = n + 10 })
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	addr := strings.TrimPrefix(s.URL, "http://")
	measure := func() (heap, stack uint64) {
		time.Sleep(3 * time.Second) // presence frames stop; writers end
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse, m.StackInuse
	}
	for range b.N {
		h0, s0 := measure()
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := rawJoin(addr, "alpha")
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		h1, s1 := measure()
		b.ReportMetric(float64(h1-h0)/float64(n)/1024, "heapKiB/conn")
		b.ReportMetric(float64(s1-s0)/float64(n)/1024, "stackKiB/conn")
		b.ReportMetric(float64(h1+s1-h0-s0)/float64(n)/1024, "KiB/conn")
		for _, c := range conns {
			c.Close()
		}
	}
}
