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
	layers    map[string]*layer // "audio", "video/" + rid
	writers   *writers
	startedAt time.Time
	live      bool
	viewers   map[*session]bool
	lastPLI   time.Time
	pliLater  bool // a request waits for the end of the interval
	counters  *Counters
	mediaSSRC map[string]uint32 // current incoming SSRC per track key, for keyframe requests
}

func newStream(name string, counters *Counters) *stream {
	return &stream{name: name, counters: counters, layers: map[string]*layer{}, writers: newWriters(), viewers: map[*session]bool{}, mediaSSRC: map[string]uint32{}}
}

func trackKey(kind webrtc.RTPCodecType, rid string) string {
	if kind == webrtc.RTPCodecTypeAudio {
		return "audio"
	}
	return "video/" + rid
}

// layerFor returns the layer an incoming track feeds: the one its key had
// (viewers stay on it across publisher reconnects), or a new one if the
// codec changed.
func (st *stream) layerFor(key string, c webrtc.RTPCodecCapability) *layer {
	st.mu.Lock()
	defer st.mu.Unlock()
	if l := st.layers[key]; l != nil && strings.EqualFold(l.codec.MimeType, c.MimeType) {
		return l
	}
	l := newLayer(key, c)
	st.layers[key] = l
	return l
}

// videoRIDs lists the simulcast layers, best first: those the current
// publisher sends (a reconnected publisher may send others than before).
func (st *stream) videoRIDs() []string {
	var rids []string
	for k := range st.layers {
		if rid, ok := strings.CutPrefix(k, "video/"); ok && (st.pub == nil || st.pub.expected[k]) {
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

// pick returns a stream's audio layer and the video layer for a quality
// (nil for audio only, or when there is none).
func (st *stream) pick(quality string) (audio, video *layer) {
	st.mu.Lock()
	defer st.mu.Unlock()
	audio = st.layers["audio"]
	rids := st.videoRIDs()
	if len(rids) == 0 || quality == "audio" {
		return audio, nil
	}
	rid := rids[0]
	if quality == "low" {
		rid = rids[len(rids)-1]
	}
	return audio, st.layers["video/"+rid]
}

// requestKeyframe asks the publisher for a keyframe on every video layer,
// at most once per keyframeInterval. A request within the interval is
// sent when it ends (one for all that came meanwhile): the keyframe of the
// last request may have gone by before the viewer asking now subscribed,
// and a browser publisher sends no keyframe unless asked.
func (st *stream) requestKeyframe() {
	st.mu.Lock()
	pub := st.pub
	if pub == nil {
		st.mu.Unlock()
		return
	}
	if wait := keyframeInterval - time.Since(st.lastPLI); wait > 0 {
		if !st.pliLater {
			st.pliLater = true
			time.AfterFunc(wait, func() {
				st.mu.Lock()
				st.pliLater = false
				st.mu.Unlock()
				st.requestKeyframe()
			})
		}
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
		st.counters.KeyframeRequests.Add(1)
		pub.pc.WriteRTCP(pkts)
	}
}
