// Package media is the WebRTC side of FedWave's selective forwarding
// unit: it owns the peer connections of publishers (WHIP) and viewers
// (WHEP), their negotiation, PATCH and entity tags, and the registry of
// sessions; package sfu routes their packets, as they came, never
// transcoded.
package media

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/pionlog"
)

// EngineConfig says where media flows.
type EngineConfig struct {
	ListenIP string // default all interfaces
	Port     int    // one UDP port for all media, and the same TCP port as fallback
	PublicIP string // advertised instead of the local address (NAT'd servers)
	Loopback bool   // offer 127.0.0.1 candidates and check clients' loopback ones (tests, single-machine setups)
	Log      *slog.Logger
}

// Engine holds the WebRTC APIs shared by every peer connection: codecs,
// interceptors and the single UDP/TCP port.
type Engine struct {
	// Publishers get the full set of interceptors: NACKs for lost packets,
	// receiver reports, transport-wide congestion feedback for their
	// encoder. Viewers get sender reports only: their retransmissions come
	// from the shared packets (downTrack.resend), not from a copy of every
	// packet per viewer.
	publishers, viewers *webrtc.API
	// Pulls of linked instances' streams are clients: each has a UDP port
	// of its own, since the media port's mux tells connections apart by
	// the remote address, and two pulls from one instance to another
	// (two qualities, two channels) would share that address on both
	// sides. The codecs and interceptors are the publishers'.
	pulls *webrtc.API

	udp []net.PacketConn // one per local address, or one on all of them (listen)
	tcp net.Listener
	log *slog.Logger

	// candidates decides which remote candidates are checked: loopback
	// ones only with EngineConfig.Loopback.
	candidates candidatePolicy

	certs certs // the DTLS certificate of every connection
}

// Codecs FedWave forwards: H.264 and VP8 video, Opus audio. Anything else is
// refused at negotiation.
var codecs = []struct {
	params webrtc.RTPCodecParameters
	kind   webrtc.RTPCodecType
}{
	{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1"}, PayloadType: 111}, webrtc.RTPCodecTypeAudio},
	{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 96}, webrtc.RTPCodecTypeVideo},
	{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: videoFeedback}, PayloadType: 102}, webrtc.RTPCodecTypeVideo},
	{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", RTCPFeedback: videoFeedback}, PayloadType: 104}, webrtc.RTPCodecTypeVideo},
	{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032", RTCPFeedback: videoFeedback}, PayloadType: 106}, webrtc.RTPCodecTypeVideo},
}

var videoFeedback = []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}

// srtpProfiles are the SRTP ciphers offered, the preferred first: as the
// DTLS server FedWave's order decides among those the client offers.
// AES-128-GCM encrypts and authenticates in one pass (AES-256-GCM, pion's
// default first, takes 14 AES rounds a block instead of 10: at 100
// viewers encryption is about 6 % of the server's CPU). AES-CM with
// HMAC-SHA1 stays for the clients that offer nothing else.
var srtpProfiles = []dtls.SRTPProtectionProfile{
	dtls.SRTP_AEAD_AES_128_GCM,
	dtls.SRTP_AEAD_AES_256_GCM,
	dtls.SRTP_AES128_CM_HMAC_SHA1_80,
}

// NewEngine opens the media port.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	e := &Engine{log: cfg.Log, candidates: candidatePolicy{allowLoopback: cfg.Loopback}}
	if e.log == nil {
		e.log = slog.Default()
	}
	if err := e.listen(cfg); err != nil {
		return nil, err
	}
	lf := pionlog.Factory{Log: e.log}
	se := webrtc.SettingEngine{}
	se.SetICEUDPMux(e.udpMux(lf.NewLogger("ice-udp")))
	se.SetICETCPMux(webrtc.NewICETCPMux(lf.NewLogger("ice-tcp"), e.tcp, 8))
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6})
	se.SetIncludeLoopbackCandidate(cfg.Loopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled) // no mDNS: the server's address is no secret
	// The machine's interfaces, read once: without it each connection's
	// ICE agent lists them again over netlink (about 1 % of the CPU of a
	// join). The media sockets are bound to the addresses found at start
	// anyway (listen).
	ifaces, err := stdnet.NewNet()
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("network interfaces: %w", err)
	}
	se.SetNet(ifaces)
	// The server answers as the DTLS server: the client, which picked the
	// ICE pair, starts the handshake on it. As the DTLS client the server's
	// first flights could go before its side of a relayed pair was ready,
	// and the handshake then waited for retransmissions (8 s and more
	// through TURN, sometimes never within 45 s, in the relay-only test).
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		return nil, err
	}
	// A publisher's retransmission can come more than pion's default 64
	// packets after the loss in a keyframe burst; browsers keep 1024.
	se.SetSRTPReplayProtectionWindow(1024)
	se.SetSRTPProtectionProfiles(srtpProfiles...)
	if cfg.PublicIP != "" {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{External: []string{cfg.PublicIP}, AsCandidateType: webrtc.ICECandidateTypeHost}); err != nil {
			e.Close()
			return nil, fmt.Errorf("--public-ip: %w", err)
		}
	}
	se.LoggerFactory = lf
	for _, a := range []struct {
		api        **webrtc.API
		publishers bool
	}{{&e.publishers, true}, {&e.viewers, false}} {
		me, ir, err := mediaEngine(a.publishers)
		if err != nil {
			e.Close()
			return nil, err
		}
		*a.api = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	}
	me, ir, err := mediaEngine(true)
	if err != nil {
		e.Close()
		return nil, err
	}
	e.pulls = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(pullSettings(cfg, lf)))
	return e, nil
}

// pullSettings are the settings of pulls' connections: the media port's,
// without its mux.
func pullSettings(cfg EngineConfig, lf pionlog.Factory) webrtc.SettingEngine {
	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetIncludeLoopbackCandidate(cfg.Loopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetSRTPReplayProtectionWindow(1024)
	se.SetSRTPProtectionProfiles(srtpProfiles...)
	// A home that restarted or a cut link is noticed within seconds (not
	// pion's 30), so that the pull tries again while its viewers wait.
	se.SetICETimeouts(3*time.Second, 6*time.Second, time.Second)
	if ip := net.ParseIP(cfg.ListenIP); ip != nil && !ip.IsUnspecified() {
		se.SetIPFilter(func(candidate net.IP) bool { return candidate.Equal(ip) })
	}
	return se
}

// mediaEngine registers FedWave's codecs, and the interceptors for
// publishers or for viewers.
func mediaEngine(publishers bool) (*webrtc.MediaEngine, *interceptor.Registry, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range codecs {
		if err := me.RegisterCodec(c.params, c.kind); err != nil {
			return nil, nil, fmt.Errorf("register codec %s: %w", c.params.MimeType, err)
		}
	}
	ir := &interceptor.Registry{}
	if !publishers {
		return me, ir, webrtc.ConfigureRTCPReports(ir)
	}
	// Simulcast layers are told apart by these header extensions.
	for _, ext := range []string{"urn:ietf:params:rtp-hdrext:sdes:mid", "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"} {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, nil, err
		}
	}
	return me, ir, webrtc.RegisterDefaultInterceptors(me, ir)
}

// newPeer makes a peer connection of api (publishers, viewers or pulls)
// with the engine's DTLS certificate.
func (e *Engine) newPeer(api *webrtc.API) (*webrtc.PeerConnection, error) {
	conf, err := e.certs.config()
	if err != nil {
		return nil, err
	}
	return api.NewPeerConnection(conf)
}

// Port is the media port actually bound (for a configured 0).
func (e *Engine) Port() int { return e.udp[0].LocalAddr().(*net.UDPAddr).Port }

// Close releases the media port.
func (e *Engine) Close() error {
	e.tcp.Close()
	return e.closeUDP()
}
