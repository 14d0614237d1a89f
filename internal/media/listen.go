package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
)

// socketBuffer is the receive and send buffer asked for on each media
// socket.
const socketBuffer = 4 << 20

// listen binds the UDP media port and the same TCP port. Port 0 picks a
// free pair (tests): a few tries, since the TCP twin of a free UDP port
// can be taken.
//
// On all interfaces (no ListenIP, no PublicIP), the UDP port is bound
// once per local IPv4 address rather than once on 0.0.0.0: a wildcard
// socket answers from whatever address the kernel picks for the reply,
// so a client that checked a pair towards another of the server's
// addresses (loopback and LAN on one machine) got its answer from an
// address it did not send to and dropped it. Its ICE agent then waited
// for its next check round (200 ms in pion) to nominate a pair that
// worked: most of a join's time.
func (e *Engine) listen(cfg EngineConfig) error {
	ips := []string{cfg.ListenIP}
	if cfg.ListenIP == "" {
		ips = []string{"0.0.0.0"}
		if cfg.PublicIP == "" {
			if local := localIPv4s(cfg.Loopback); len(local) > 0 {
				ips = local
			}
		}
	}
	var err error
	for try := 0; try < 10; try++ {
		if err = e.bind(ips, cfg.Port); err == nil || cfg.Port != 0 {
			return err
		}
	}
	return err
}

// bind binds the UDP port on every address of ips (the first picks it for
// port 0) and the same TCP port on all of them.
func (e *Engine) bind(ips []string, port int) error {
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			e.closeUDP()
			return fmt.Errorf("media port (UDP %s): %w", addr, err)
		}
		if u, ok := c.(*net.UDPConn); ok {
			// A publisher's keyframe comes as a burst of dozens of packets
			// among the RTCP of every viewer, and a writer's turn is a
			// burst too: the default buffers (about 200 KiB) overflowed
			// when the reader was late, and every viewer then got the
			// lost packet late, by NACK. The kernel caps these at
			// net.core.rmem_max and wmem_max.
			u.SetReadBuffer(socketBuffer)
			u.SetWriteBuffer(socketBuffer)
		}
		e.udp = append(e.udp, c)
		port = c.LocalAddr().(*net.UDPAddr).Port
	}
	tcpIP := ips[0]
	if len(ips) > 1 {
		tcpIP = "0.0.0.0"
	}
	tcp, err := net.Listen("tcp", net.JoinHostPort(tcpIP, strconv.Itoa(port)))
	if err != nil {
		e.closeUDP()
		return fmt.Errorf("media port (TCP %d): %w", port, err)
	}
	e.tcp = tcp
	return nil
}

func (e *Engine) closeUDP() error {
	var errs []error
	for _, c := range e.udp {
		errs = append(errs, c.Close())
	}
	e.udp = nil
	return errors.Join(errs...)
}

// udpMux is pion's mux over the media port's sockets.
func (e *Engine) udpMux(log logging.LeveledLogger) ice.UDPMux {
	if len(e.udp) == 1 {
		return ice.NewUDPMuxDefault(ice.UDPMuxParams{Logger: log, UDPConn: e.udp[0]})
	}
	muxes := make([]ice.UDPMux, len(e.udp))
	for i, c := range e.udp {
		muxes[i] = ice.NewUDPMuxDefault(ice.UDPMuxParams{Logger: log, UDPConn: c})
	}
	return ice.NewMultiUDPMuxDefault(muxes...)
}

// localIPv4s lists the machine's IPv4 addresses media can come to:
// loopback ones only when loopback is true.
func localIPv4s(loopback bool) []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var ips []string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		ip = ip.Unmap()
		if !ok || !ip.Is4() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsLoopback() && !loopback {
			continue
		}
		ips = append(ips, ip.String())
	}
	return ips
}
