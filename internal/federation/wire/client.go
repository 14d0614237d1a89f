package wire

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/turn"
)

// The limits of an outgoing federation request.
const (
	dialTimeout           = 5 * time.Second
	tlsTimeout            = 5 * time.Second
	responseHeaderTimeout = 10 * time.Second
	requestTimeout        = 15 * time.Second
)

// codeInvalidURL is the error code of a peer URL FedWave will not use.
const codeInvalidURL = "invalid_url"

// NewClient is the HTTP client for outgoing federation requests: bounded in
// time, never following redirects (a peer's URL is what its admin approved),
// ignoring proxy settings, and unless allowPrivate refusing at dial time any
// address that is not public unicast. The check runs on the address actually
// dialled, after DNS resolution, so a name that resolves (or rebinds) to a
// private address is refused too. The policy is the one the TURN relay and
// ICE candidates use (turn.PeerAllowed). A refused dial fails with a
// *fail.Error, code invalid_url, inside the client's error.
func NewClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: dialTimeout}
	if !allowPrivate {
		d.Control = refusePrivate
	}
	tr := &http.Transport{
		Proxy:                  nil, // a proxy would dial for us and the check would see only the proxy
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true, // a custom dialer turns HTTP/2 off otherwise
		TLSHandshakeTimeout:    tlsTimeout,
		ResponseHeaderTimeout:  responseHeaderTimeout,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConnsPerHost:    4,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// refusePrivate is the dialer's Control hook: it sees the resolved IP about
// to be connected to.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fail.New(fail.Invalid, codeInvalidURL, "refusing to dial %q: not an IP address", address)
	}
	if !turn.PeerAllowed(ap.Addr(), false) {
		return fail.New(fail.Invalid, codeInvalidURL,
			"refusing to dial %s: not a public address (peers on private addresses need --federation-allow-private)", ap.Addr())
	}
	return nil
}

// maxURL bounds a peer URL typed by an admin.
const maxURL = 2048

// CheckPeerURL validates a peer URL typed by an admin: absolute, no user
// info, no query or fragment, path empty or "/"; https unless allowPrivate
// (then http too), and unless allowPrivate an IP literal must be public. It
// returns the normalised base URL (scheme://host[:port], lower case, default
// port dropped, no slash) and the host[:port] that names the instance.
// Errors are *fail.Error with code invalid_url.
func CheckPeerURL(raw string, allowPrivate bool) (base, host string, err error) {
	bad := func(format string, args ...any) (string, string, error) {
		return "", "", fail.New(fail.Invalid, codeInvalidURL, "peer URL: "+format, args...)
	}
	if len(raw) > maxURL {
		return bad("longer than %d bytes", maxURL)
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return bad("%v", err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "https" && !(scheme == "http" && allowPrivate):
		if scheme == "http" {
			return bad("must be https (plain http needs --federation-allow-private)")
		}
		return bad("must be an https:// URL")
	case u.Opaque != "" || u.Host == "":
		return bad("must be absolute, like https://example.com")
	case u.User != nil:
		return bad("must not contain a user name or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("must not have a query or fragment")
	case u.Path != "" && u.Path != "/":
		return bad("must be the site's address without a path")
	}
	host, ok := normaliseHost(scheme, u.Host)
	if !ok {
		return bad("host %q is not a valid host name or IP address with an optional port", u.Host)
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !allowPrivate && !turn.PeerAllowed(ip, false) {
		return bad("%s is not a public address (peers on private addresses need --federation-allow-private)", ip)
	}
	return scheme + "://" + host, host, nil
}

// normaliseHost lower-cases h, writes an IPv6 literal in its canonical form
// and drops the scheme's default port; it reports whether the result is a
// valid instance name.
func normaliseHost(scheme, h string) (string, bool) {
	name, port := h, ""
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.LastIndexByte(h, ']') < i {
		name, port = h[:i], h[i+1:]
		if port == "" {
			return "", false
		}
	}
	name = strings.ToLower(name)
	if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
		ip, err := netip.ParseAddr(name[1 : len(name)-1])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", false
		}
		name = "[" + ip.String() + "]"
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		name += ":" + port
	}
	return name, ValidHost(name)
}

// maxHost bounds an instance name: a DNS name (253) and a port.
const maxHost = 253 + 6

// ValidHost reports whether s is an instance name in canonical form: a lower
// case DNS name or IPv4 address, or a bracketed canonical IPv6 address,
// optionally followed by ":port" (1-65535, no leading zero).
func ValidHost(s string) bool {
	if len(s) == 0 || len(s) > maxHost {
		return false
	}
	name := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 && strings.LastIndexByte(s, ']') < i {
		name = s[:i]
		p, err := strconv.Atoi(s[i+1:])
		if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != s[i+1:] {
			return false
		}
	}
	if strings.HasPrefix(name, "[") {
		if !strings.HasSuffix(name, "]") {
			return false
		}
		ip, err := netip.ParseAddr(name[1 : len(name)-1])
		return err == nil && ip.Is6() && ip.Zone() == "" && ip.String() == name[1:len(name)-1]
	}
	return validDNSName(name)
}

// validDNSName: dot-separated labels of lower-case letters, digits and
// hyphens, 1-63 bytes each, not starting or ending with a hyphen; no trailing
// dot (one spelling per host).
func validDNSName(name string) bool {
	if len(name) == 0 || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
