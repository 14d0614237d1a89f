package web

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// clientKey is the request context key of the resolved client address.
type clientKey struct{}

// withClient resolves the client's address once per request: the peer, or,
// when the peer is one of the trusted proxies, the rightmost hop of
// X-Forwarded-For that is not itself a trusted proxy. Without trusted
// proxies the header is never believed: anyone can send it.
func (s *Server) withClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := s.resolveClient(r)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, addr)))
	})
}

func (s *Server) resolveClient(r *http.Request) netip.Addr {
	addr := peerAddr(r)
	if !s.trusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage from further out: keep the last hop a trusted proxy vouched for
		}
		addr = hop.Unmap()
		if !s.trusted(addr) {
			break
		}
	}
	return addr
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address at the other end of the TCP connection.
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		a, _ := netip.ParseAddr(host)
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}

// clientAddr is the client's address, as resolved by withClient.
func clientAddr(r *http.Request) netip.Addr {
	if a, ok := r.Context().Value(clientKey{}).(netip.Addr); ok {
		return a
	}
	return peerAddr(r)
}

// clientIP is the key every per-address limit uses (rate limits, chat
// connections, password attempts): the client's IPv4 address, or its IPv6
// /64, since one IPv6 host usually holds a whole /64 and could otherwise
// take a fresh bucket per address.
func clientIP(r *http.Request) string {
	return limitKey(clientAddr(r))
}

func limitKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// proxyHeaders are the headers a reverse proxy adds: a request carrying any
// of them came through one, whatever its peer address.
var proxyHeaders = []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip"}

// isLocal reports whether r comes from this machine and not through a
// proxy (a proxy on this machine relays requests from anywhere).
func isLocal(r *http.Request) bool {
	for _, h := range proxyHeaders {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	return clientAddr(r).IsLoopback()
}

// withDeadlines bounds the time to read each request, body included, and
// to write its answer, so a client that stalls mid-body or stops reading
// frees its connection. A WebSocket is not bound: net/http clears the
// connection's deadlines when the upgrade hijacks it.
func withDeadlines(timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		end := time.Now().Add(timeout)
		// Errors mean the writer cannot have deadlines (a test recorder);
		// the server's own connections always can.
		_ = rc.SetReadDeadline(end)
		_ = rc.SetWriteDeadline(end)
		next.ServeHTTP(w, r)
	})
}
