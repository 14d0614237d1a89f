package media

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// keyframeInterval bounds keyframe requests to a publisher.
const keyframeInterval = 500 * time.Millisecond

// stream is a channel's live media: the publisher (if any), the outgoing
// tracks and the viewers.
type stream struct {
	name string

	mu        sync.Mutex
	pub       *session
	pubWho    string
	tracks    map[string]*forwarder // "audio", "video/" + rid
	startedAt time.Time
	live      bool
	viewers   map[*session]bool
	lastPLI   time.Time
	mediaSSRC map[string]uint32 // current incoming SSRC per track key, for keyframe requests
}

func newStream(name string) *stream {
	return &stream{name: name, tracks: map[string]*forwarder{}, viewers: map[*session]bool{}, mediaSSRC: map[string]uint32{}}
}

func trackKey(kind webrtc.RTPCodecType, rid string) string {
	if kind == webrtc.RTPCodecTypeAudio {
		return "audio"
	}
	return "video/" + rid
}

// forwarderFor returns the outgoing track for an incoming one, creating it
// (or replacing it if the codec changed).
func (st *stream) forwarderFor(key string, c webrtc.RTPCodecCapability, kind string) (*forwarder, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if f := st.tracks[key]; f != nil && strings.EqualFold(f.track.Codec().MimeType, c.MimeType) {
		return f, nil
	}
	f, err := newForwarder(c, kind, "fedwave-"+st.name)
	if err != nil {
		return nil, err
	}
	st.tracks[key] = f
	return f, nil
}

// videoRIDs lists the simulcast layers, best first.
func (st *stream) videoRIDs() []string {
	var rids []string
	for k := range st.tracks {
		if rid, ok := strings.CutPrefix(k, "video/"); ok {
			rids = append(rids, rid)
		}
	}
	sort.Slice(rids, func(i, j int) bool { return layerRank(rids[i]) > layerRank(rids[j]) })
	return rids
}

// layerRank orders the rids publishers commonly use; a stream without
// simulcast has the single rid "".
func layerRank(rid string) int {
	switch strings.ToLower(rid) {
	case "", "f", "high", "h", "hi", "2":
		return 3
	case "m", "mid", "1":
		return 2
	}
	return 1
}

// pick returns the tracks a viewer of the given quality gets.
func (st *stream) pick(quality string) []*forwarder {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []*forwarder
	if a := st.tracks["audio"]; a != nil {
		out = append(out, a)
	}
	if quality == "audio" {
		return out
	}
	rids := st.videoRIDs()
	if len(rids) == 0 {
		return out
	}
	rid := rids[0]
	if quality == "low" {
		rid = rids[len(rids)-1]
	}
	return append(out, st.tracks["video/"+rid])
}

// requestKeyframe asks the publisher for a keyframe on every video layer,
// at most once per keyframeInterval.
func (st *stream) requestKeyframe() {
	st.mu.Lock()
	pub := st.pub
	if pub == nil || time.Since(st.lastPLI) < keyframeInterval {
		st.mu.Unlock()
		return
	}
	st.lastPLI = time.Now()
	var pkts []rtcp.Packet
	for k, ssrc := range st.mediaSSRC {
		if strings.HasPrefix(k, "video/") {
			pkts = append(pkts, &rtcp.PictureLossIndication{MediaSSRC: ssrc})
		}
	}
	st.mu.Unlock()
	if len(pkts) > 0 {
		pub.pc.WriteRTCP(pkts)
	}
}
