package turn

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// rawClient speaks TURN by hand, to send what pion's client never would:
// peer addresses in the IPv6 family that spell IPv4 addresses
// (::ffff:127.0.0.1), which are the CVE-2020-26262 style bypass.
type rawClient struct {
	t                     *testing.T
	conn                  net.PacketConn
	server                net.Addr
	user, realm, password string
	nonce                 string
}

func newRawClient(t *testing.T, server, user, password string) *rawClient {
	t.Helper()
	sa, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", net.JoinHostPort(hostOf(server), "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, server: sa, user: user, password: password}
}

// attr is a STUN attribute given as its raw value.
type attr struct {
	typ stun.AttrType
	val []byte
}

func (a attr) AddTo(m *stun.Message) error {
	m.Add(a.typ, a.val)
	return nil
}

// xorPeer encodes ip:port as XOR-PEER-ADDRESS in the family of its byte
// length, whatever address it holds: a 16-byte ::ffff:a.b.c.d goes out as an
// IPv6 address. It must come after the transaction ID is set.
type xorPeer struct {
	ip   [16]byte
	v4   bool
	port int
}

func (p xorPeer) AddTo(m *stun.Message) error {
	var key [16]byte
	binary.BigEndian.PutUint32(key[:4], 0x2112A442)
	copy(key[4:], m.TransactionID[:])
	val := []byte{0, 0x02, 0, 0}
	addr := p.ip[:]
	if p.v4 {
		val[1] = 0x01
		addr = p.ip[12:]
	}
	binary.BigEndian.PutUint16(val[2:], uint16(p.port)^0x2112)
	for i, b := range addr {
		val = append(val, b^key[i])
	}
	m.Add(stun.AttrXORPeerAddress, val)
	return nil
}

func peerAttr(ip string, port int) xorPeer {
	a := netip.MustParseAddr(ip)
	return xorPeer{ip: a.As16(), v4: a.Is4(), port: port}
}

// do sends a request and returns the response to it.
func (c *rawClient) do(method stun.Method, auth bool, attrs ...stun.Setter) *stun.Message {
	c.t.Helper()
	setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
	setters = append(setters, attrs...)
	if auth {
		setters = append(setters, stun.NewUsername(c.user), stun.NewRealm(c.realm), stun.NewNonce(c.nonce),
			stun.NewLongTermIntegrity(c.user, c.realm, c.password))
	}
	setters = append(setters, stun.Fingerprint)
	req, err := stun.Build(setters...)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.WriteTo(req.Raw, c.server); err != nil {
		c.t.Fatal(err)
	}
	buf := make([]byte, 1500)
	c.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			c.t.Fatalf("no response to %v: %v", method, err)
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if res.Decode() != nil || res.TransactionID != req.TransactionID {
			continue
		}
		return res
	}
}

func errorCode(m *stun.Message) int {
	if m.Type.Class != stun.ClassErrorResponse {
		return 0
	}
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(m); err != nil {
		return -1
	}
	return int(code.Code)
}

var requestUDP = attr{stun.AttrRequestedTransport, []byte{17, 0, 0, 0}}

// allocate makes a UDP allocation in the given family (0x01 IPv4, 0x02 IPv6).
func (c *rawClient) allocate(family byte) {
	c.t.Helper()
	family6 := attr{stun.AttrRequestedAddressFamily, []byte{family, 0, 0, 0}}
	res := c.do(stun.MethodAllocate, false, requestUDP, family6)
	var nonce stun.Nonce
	var realm stun.Realm
	if errorCode(res) != 401 || nonce.GetFrom(res) != nil || realm.GetFrom(res) != nil {
		c.t.Fatalf("unauthenticated Allocate: want 401 with nonce and realm, got %v", res)
	}
	c.nonce, c.realm = nonce.String(), realm.String()
	if res := c.do(stun.MethodAllocate, true, requestUDP, family6); res.Type.Class != stun.ClassSuccessResponse {
		c.t.Fatalf("Allocate failed: code %d", errorCode(res))
	}
}

func TestWirePermissionIPv4Allocation(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Config{})
	user, pass, _ := NewCredentials(testSecret, time.Hour).Issue(User(11), time.Now()) // signed in: the general policy applies
	c := newRawClient(t, addr, user, pass)
	c.allocate(0x01)

	for i, ip := range []string{
		"127.0.0.1", "0.0.0.0", "10.0.0.1", "169.254.169.254", "100.64.0.1", "224.0.0.1",
		// IPv6-family spellings that pion treats as IPv4 peers.
		"::ffff:127.0.0.1", "::ffff:0.0.0.0", "::ffff:10.0.0.1", "::ffff:192.168.1.1",
		"::ffff:169.254.169.254", "::ffff:100.64.0.1",
	} {
		res := c.do(stun.MethodCreatePermission, true, peerAttr(ip, 5000))
		if res.Type.Class == stun.ClassSuccessResponse {
			t.Errorf("CreatePermission(%s) succeeded", ip)
		}
		// A fresh channel number each time, so that only the peer can be
		// the reason for a refusal.
		ch := attr{stun.AttrChannelNumber, []byte{0x40, byte(i), 0, 0}}
		if res := c.do(stun.MethodChannelBind, true, ch, peerAttr(ip, 5000)); res.Type.Class == stun.ClassSuccessResponse {
			t.Errorf("ChannelBind(%s) succeeded", ip)
		}
	}
	for _, ip := range []string{"8.8.8.8", "::ffff:8.8.8.8"} {
		if res := c.do(stun.MethodCreatePermission, true, peerAttr(ip, 5000)); res.Type.Class != stun.ClassSuccessResponse {
			t.Errorf("CreatePermission(%s) failed: code %d", ip, errorCode(res))
		}
	}
	// One bad address in a list refuses the whole request.
	res := c.do(stun.MethodCreatePermission, true, peerAttr("8.8.4.4", 1), peerAttr("::ffff:127.0.0.1", 1))
	if res.Type.Class == stun.ClassSuccessResponse {
		t.Error("CreatePermission(8.8.4.4, ::ffff:127.0.0.1) succeeded")
	}
}

// TestWireSendIndicationNeedsPermission: a Send indication to a peer with
// no permission is dropped, whatever its spelling.
func TestWireSendIndicationNeedsPermission(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Config{})
	echo := startEcho(t, "udp4", "127.0.0.1:0")
	user, pass, _ := NewCredentials(testSecret, time.Hour).Issue("wire-send", time.Now())
	c := newRawClient(t, addr, user, pass)
	c.allocate(0x01)
	port := echo.addr().Port
	for _, ip := range []string{"127.0.0.1", "::ffff:127.0.0.1"} {
		msg, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
			peerAttr(ip, port), attr{stun.AttrData, []byte("hello")}, stun.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		c.conn.WriteTo(msg.Raw, c.server)
	}
	time.Sleep(200 * time.Millisecond)
	if n := echo.received(); n != 0 {
		t.Errorf("loopback peer received %d datagrams", n)
	}
}

func TestWirePermissionIPv6Allocation(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Config{ListenIP: "::1"})
	user, pass, _ := NewCredentials(testSecret, time.Hour).Issue(User(12), time.Now()) // signed in: the general policy applies
	c := newRawClient(t, addr, user, pass)
	c.allocate(0x02)

	for _, ip := range []string{
		"::1", "::", "::127.0.0.1", "::10.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a00:1",
		"64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "2002:a00:1::1", "fe80::1", "fc00::1",
		"fd00::1", "ff02::1", "2001::7f00:1", "2001:db8::1", "::ffff:0:7f00:1",
	} {
		res := c.do(stun.MethodCreatePermission, true, peerAttr(ip, 5000))
		if res.Type.Class == stun.ClassSuccessResponse {
			t.Errorf("CreatePermission(%s) succeeded", ip)
		}
	}
	for _, ip := range []string{"2001:4860::8888", "64:ff9b::808:808", "2002:808:808::1"} {
		if res := c.do(stun.MethodCreatePermission, true, peerAttr(ip, 5000)); res.Type.Class != stun.ClassSuccessResponse {
			t.Errorf("CreatePermission(%s) failed: code %d", ip, errorCode(res))
		}
	}
}

// TestRelayConnRefusesForbiddenPeers checks the last line of defence: the
// relay socket itself will not send to a forbidden address even if pion
// were to ask it to.
func TestRelayConnRefusesForbiddenPeers(t *testing.T) {
	t.Parallel()
	echo := startEcho(t, "udp4", "127.0.0.1:0")
	u := testOwner("udp", "127.0.0.1:5000", User(1)).id()
	for _, allowLoopback := range []bool{false, true} {
		r := testRelays(peerPolicy{allowLoopback: allowLoopback}, Limits{PerUser: 1})
		pc, _, err := r.AllocatePacketConn(turn.AllocateListenerConfig{Network: "udp4", UserID: u})
		if err != nil {
			t.Fatal(err)
		}
		for _, ip := range []string{"127.0.0.1", "::ffff:127.0.0.1", "10.0.0.1", "::ffff:10.0.0.1"} {
			_, err := pc.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP(ip), Port: echo.addr().Port})
			wantOK := allowLoopback && (ip == "127.0.0.1" || ip == "::ffff:127.0.0.1")
			if (err == nil) != wantOK {
				t.Errorf("allowLoopback=%v WriteTo(%s) err = %v", allowLoopback, ip, err)
			}
		}
		if _, err := pc.WriteTo([]byte("x"), &net.TCPAddr{IP: net.IPv4(8, 8, 8, 8), Port: 1}); err == nil {
			t.Error("WriteTo a non-UDP address succeeded")
		}
		// Quota bookkeeping: one open, a second refused, Close releases.
		if _, _, err := r.AllocatePacketConn(turn.AllocateListenerConfig{Network: "udp4", UserID: u}); err == nil {
			t.Error("second allocation over a quota of one succeeded")
		}
		pc.Close()
		pc.Close() // idempotent: must not release twice
		if r.count("user u1") != 0 || r.count("") != 0 || len(r.counts) != 0 || len(r.clients) != 0 {
			t.Errorf("after Close: user %d, all %d, counters %v, clients %d", r.count("user u1"), r.count(""), r.counts, len(r.clients))
		}
		r.closeAll()
		if _, _, err := r.AllocatePacketConn(turn.AllocateListenerConfig{Network: "udp4", UserID: u}); err == nil {
			t.Error("allocation after closeAll succeeded")
		}
	}
	eventually(t, "the loopback echo to see the two allowed datagrams", func() bool { return echo.received() == 2 })
}

// TestWireWrongRealmRefused: the key covers the realm the client names, so
// without a realm check a client could pick its own; the server insists on
// its own realm.
func TestWireWrongRealmRefused(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Config{})
	user, pass, _ := NewCredentials(testSecret, time.Hour).Issue("wire-realm", time.Now())
	c := newRawClient(t, addr, user, pass)
	res := c.do(stun.MethodAllocate, false, requestUDP)
	var nonce stun.Nonce
	if errorCode(res) != 401 || nonce.GetFrom(res) != nil {
		t.Fatalf("unauthenticated Allocate: want 401 with a nonce, got %v", res)
	}
	c.nonce, c.realm = nonce.String(), "not-the-realm"
	if res := c.do(stun.MethodAllocate, true, requestUDP); errorCode(res) != 401 {
		t.Fatalf("Allocate with another realm: code %d, want 401", errorCode(res))
	}
}
