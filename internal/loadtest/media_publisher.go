package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// mediaPublisher is the synthetic WHIP publisher: one video track (VP8 or
// H.264) and one Opus track, sent at a steady rate, keyframes on request.
type mediaPublisher struct {
	pc           *webrtc.PeerConnection
	video, audio *webrtc.TrackLocalStaticRTP
	codec        string
	location     string
	cancel       context.CancelFunc
	senders      sync.WaitGroup // the two sending loops
	readers      sync.WaitGroup // the RTCP readers
	forceKey     atomic.Bool
	closeOnce    sync.Once
	stopOnce     sync.Once

	started                    time.Time
	stopped                    time.Time
	frames, keyframes, plis    atomic.Int64
	videoPackets, audioPackets atomic.Int64
	bytes                      atomic.Int64
}

func (r *mediaRun) publish(ctx context.Context, api *webrtc.API, vc webrtc.RTPCodecParameters) (*mediaPublisher, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p := &mediaPublisher{pc: pc, codec: r.o.Codec}
	fail := func(err error) (*mediaPublisher, error) {
		pc.Close()
		p.readers.Wait()
		return nil, err
	}
	if p.video, err = webrtc.NewTrackLocalStaticRTP(vc.RTPCodecCapability, "video", "fedwave-loadtest"); err != nil {
		return fail(err)
	}
	if p.audio, err = webrtc.NewTrackLocalStaticRTP(opusCodec.RTPCodecCapability, "audio", "fedwave-loadtest"); err != nil {
		return fail(err)
	}
	for _, t := range []*webrtc.TrackLocalStaticRTP{p.video, p.audio} {
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fail(err)
		}
		video := t == p.video
		sender := tr.Sender()
		p.readers.Add(1)
		go func() { // RTCP: keyframe requests; reading also runs the NACK responder
			defer p.readers.Done()
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, pkt := range pkts {
					switch pkt.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						if video {
							p.plis.Add(1)
							p.forceKey.Store(true)
						}
					}
				}
			}
		}()
	}
	sdp, err := offer(ctx, pc)
	if err != nil {
		return fail(fmt.Errorf("publisher: %w", err))
	}
	answer, loc, _, err := r.exchange(ctx, r.o.WHIP, r.o.Key, sdp)
	if err != nil {
		return fail(fmt.Errorf("publish: %w", err))
	}
	p.location = loc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		r.remove(loc, r.o.Key)
		return fail(fmt.Errorf("publish: the answer: %w", err))
	}
	if err := connected(ctx, pc, joinTimeout); err != nil {
		r.remove(loc, r.o.Key)
		return fail(fmt.Errorf("publish: %w", err))
	}
	sctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.started = time.Now()
	p.senders.Add(2)
	go func() { defer p.senders.Done(); p.sendVideo(sctx, r.o.Bitrate, r.o.FPS, r.o.Pace) }()
	go func() { defer p.senders.Done(); p.sendAudio(sctx) }()
	return p, nil
}

// stop ends sending.
func (p *mediaPublisher) stop() {
	p.stopOnce.Do(func() {
		p.cancel()
		p.senders.Wait()
		p.stopped = time.Now()
	})
}

// close stops, ends the WHIP session and closes the connection.
func (p *mediaPublisher) close(r *mediaRun) {
	p.stop()
	p.closeOnce.Do(func() {
		r.remove(p.location, r.o.Key)
		p.pc.Close()
		p.readers.Wait()
	})
}

func (p *mediaPublisher) stats() PublisherStats {
	return PublisherStats{
		Frames: p.frames.Load(), Keyframes: p.keyframes.Load(), PLIs: p.plis.Load(),
		VideoPackets: p.videoPackets.Load(), AudioPackets: p.audioPackets.Load(),
		Bytes: p.bytes.Load(), Duration: p.stopped.Sub(p.started),
	}
}

// sendVideo sends frames at fps until ctx ends: a keyframe every second or
// when asked for one (PLI), sized so the average is the bitrate. With pace
// > 0 a frame's packets leave at pace × bitrate (a browser's pacer uses
// 2.5), else back to back: a keyframe is then a burst of dozens.
func (p *mediaPublisher) sendVideo(ctx context.Context, bitrate, fps int, pace float64) {
	avg := bitrate / 8 / fps
	keySize := avg * min(4, fps)
	deltaSize := avg
	if fps > 1 {
		deltaSize = max((avg*fps-keySize)/(fps-1), 200)
	}
	seq := uint16(rand.Uint32())
	tsBase := rand.Uint32()
	pictureID := uint16(rand.Uint32()) & 0x7fff
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(fps))
	defer tick.Stop()
	for frame := uint32(0); ; frame++ {
		key := frame%uint32(fps) == 0
		if p.forceKey.Swap(false) {
			key = true
		}
		size := deltaSize
		if key {
			size = keySize
		}
		var pls []payload
		if p.codec == "h264" {
			pls = h264Frame(key, size)
		} else {
			pls = vp8Frame(key, size, pictureID)
			pictureID = (pictureID + 1) & 0x7fff
		}
		ts := tsBase + uint32(time.Since(start).Seconds()*90000)
		sendAt := time.Now()
		for i, pl := range pls {
			if pace > 0 {
				if wait := time.Until(sendAt); wait > 0 {
					time.Sleep(wait)
				}
				sendAt = sendAt.Add(time.Duration(float64(len(pl.data)*8) / (pace * float64(bitrate)) * float64(time.Second)))
			}
			if pl.stamped {
				stamp(pl.data, frame)
			}
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == len(pls)-1, SequenceNumber: seq, Timestamp: ts}, Payload: pl.data}
			seq++
			p.video.WriteRTP(pkt) // a viewer's failed write is the server's business
			p.videoPackets.Add(1)
			p.bytes.Add(int64(len(pl.data)))
		}
		p.frames.Add(1)
		if key {
			p.keyframes.Add(1)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sendAudio sends a 20 ms Opus-sized packet every 20 ms until ctx ends.
func (p *mediaPublisher) sendAudio(ctx context.Context) {
	seq := uint16(rand.Uint32())
	ts := rand.Uint32()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n := uint32(0); ; n++ {
		data := filled([]byte{0xfc}, audioPayload) // TOC: CELT fullband 20 ms, stereo, one frame
		stamp(data, n)
		p.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: n == 0, SequenceNumber: seq, Timestamp: ts}, Payload: data})
		p.audioPackets.Add(1)
		p.bytes.Add(int64(len(data)))
		seq++
		ts += 960
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
