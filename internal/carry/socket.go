package carry

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/chain"
)

// writeTimeout bounds one write to a client: one that stops reading is
// closed.
const writeTimeout = 10 * time.Second

// errClosed: the socket is closing; its messages are ignored.
var errClosed = errors.New("closed")

// Socket is one player's control socket. Its fields are under Hub.mu.
type Socket struct {
	hub   *Hub
	room  *room
	id    string
	conn  Conn
	q     chan []byte   // to the writer
	done  chan struct{} // closed when the socket closes
	ctx   context.Context
	abort context.CancelFunc // ends a write in flight

	closing      bool
	code         int
	reason       string
	hello        bool
	receive      bool // it can be fed by a carrier
	carry        bool // the switch is on
	offer        int  // children it offers
	inTree       bool // a carrier in the tree (not expired since it turned the switch on)
	playing, fed bool
	down, loss   float64
	statsAt      time.Time
	downAt       time.Time // its last stats fed by a server while playing
	kidLoss      float64   // the worst loss its children reported lately
	kidLossAt    time.Time
	parent       string          // the carrier feeding it
	kids         map[string]bool // the viewers it feeds
	banned       map[string]time.Time
	tried        time.Time // last placement try
	keyframeAt   time.Time // its last keyframe request
}

// ID is the socket's id, the only thing peers learn of each other.
func (s *Socket) ID() string { return s.id }

// Close ends the socket with a close code and reason (a limit the caller
// enforces: too many messages, silence).
func (s *Socket) Close(code int, reason string) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.close(code, reason)
}

func (s *Socket) close(code int, reason string) {
	if s.closing {
		return
	}
	s.closing, s.code, s.reason = true, code, reason
	close(s.done)
}

// send queues a message; a socket whose queue is full cannot keep up and
// is closed.
func (s *Socket) send(v any) { s.sendRaw(encode(v)) }

func (s *Socket) sendRaw(b []byte) {
	if s.closing {
		return
	}
	select {
	case s.q <- b:
	default:
		s.close(CodePolicy, "too slow")
		s.abort() // it will not take the close frame either
	}
}

// write is the socket's writer: it sends what is queued until the socket
// closes, then closes the connection.
func (s *Socket) write() {
	defer s.abort()
	for {
		select {
		case <-s.done: // before what is still queued
			s.finish()
			return
		default:
		}
		select {
		case b := <-s.q:
			ctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
			err := s.conn.Write(ctx, b)
			cancel()
			if err != nil {
				s.Close(CodePolicy, "write failed")
			}
		case <-s.done:
			s.finish()
			return
		}
	}
}

// finish closes the connection with the socket's close code and reason.
func (s *Socket) finish() {
	s.hub.mu.Lock()
	code, reason := s.code, s.reason
	s.hub.mu.Unlock()
	s.conn.Close(code, reason)
}

// Leave removes the socket (its connection ended): its links end, its
// children go back to a server or another carrier.
func (s *Socket) Leave() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	s.close(CodeNormal, "")
	r := s.room
	if r.socks[s.id] != s {
		return
	}
	delete(r.socks, s.id)
	h.tree.LeaveBrowser(s.id)
	if p := r.socks[s.parent]; p != nil {
		h.unlink(p, s, "left", true)
	}
	for kid := range s.kids {
		if k := r.socks[kid]; k != nil {
			h.unlink(s, k, "left", true)
		}
	}
	if len(r.socks) == 0 {
		h.stopFeed(r)
		if key := strings.ToLower(r.name); h.rooms[key] == r {
			delete(h.rooms, key)
		}
	} else {
		h.place(r, time.Now())
	}
}

// Handle acts on one client message. An error means the socket is closing
// (a malformed message closes it): the caller stops reading.
func (s *Socket) Handle(data []byte) error {
	m, err := parse(data)
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closing {
		return errClosed
	}
	if err == nil && s.hello == (m.Type == "hello") {
		err = errors.New("hello first, once")
	}
	if err != nil {
		s.close(CodePolicy, err.Error())
		return err
	}
	now := time.Now()
	r := s.room
	switch m.Type {
	case "hello":
		s.hello, s.receive = true, m.Receive != nil && *m.Receive
		s.send(welcome{Type: "welcome", ID: s.id})
		if m.Carry {
			s.carryOn(m.Room, now)
		}
		h.place(r, now)
	case "carry":
		if m.On {
			s.carryOn(m.Room, now)
		} else {
			s.carryOff()
		}
		h.place(r, now)
	case "stats":
		s.stats(m, now)
	case "signal":
		if p := r.socks[m.Peer]; p != nil && (s.parent == p.id || p.parent == s.id) {
			p.send(signalMsg{Type: "signal", Peer: s.id, SDP: m.SDP, Candidate: m.Candidate})
		}
	case "keyframe":
		// A fed child missed a frame, or its link opened after the
		// keyframe asked for when it was placed went by: a browser
		// publisher sends one only when asked.
		if s.parent != "" && now.Sub(s.keyframeAt) >= keyframeGap {
			s.keyframeAt = now
			h.media.Keyframe(r.name)
		}
	case "lost", "leave":
		// lost: the carrier failed the child, which is not placed on it
		// again for a while; leave: the child chose to go (another
		// quality), no fault of the carrier's.
		reason := "lost"
		if m.Type == "leave" {
			reason = "left"
		}
		if p := r.socks[m.Peer]; p != nil && s.parent == p.id {
			h.unlink(p, s, reason, false)
			h.place(r, now)
		}
	}
	return nil
}

// carryOn: the switch is on, offering room children.
func (s *Socket) carryOn(room int, now time.Time) {
	s.carry, s.offer, s.inTree = true, room, true
	s.hub.tree.JoinBrowser(s.id, s.room.name, room, now)
}

// carryOff: the switch is off; its children are handed back at once.
func (s *Socket) carryOff() {
	h := s.hub
	s.carry, s.inTree = false, false
	h.tree.StopCarrying(s.id)
	for kid := range s.kids {
		if k := s.room.socks[kid]; k != nil {
			h.unlink(s, k, "switched off", true)
		}
	}
}

// stats records a heartbeat: what the viewer receives, and for a carrier
// how well it keeps up.
func (s *Socket) stats(m in, now time.Time) {
	h, r := s.hub, s.room
	s.playing, s.fed, s.loss, s.statsAt = m.Playing, m.Fed, m.Loss, now
	if m.Receive != nil { // a viewer choosing a lower quality than carriers pass on is not placed on one
		s.receive = *m.Receive
	}
	if m.Playing && !m.Fed {
		// Smoothed as the tree smooths a carrier's own figure, so that
		// the two compare: one heartbeat's figure swings with keyframes.
		if now.Sub(s.downAt) > rateWindow {
			s.down = m.Down
		} else {
			s.down += downSmoothing * (m.Down - s.down)
		}
		s.downAt = now
	}
	if p := r.socks[s.parent]; p != nil && m.Fed {
		if now.Sub(p.kidLossAt) > lossWindow {
			p.kidLoss = 0
		}
		p.kidLoss, p.kidLossAt = max(p.kidLoss, m.Loss), now
	}
	if !s.carry {
		return
	}
	if !s.inTree { // it stalled and was dropped: it starts again, as when switched on
		s.carryOn(s.offer, now)
	}
	loss := m.Loss
	if now.Sub(s.kidLossAt) <= lossWindow {
		loss = max(loss, s.kidLoss)
	}
	h.tree.HeardBrowser(s.id, chain.BrowserMeasure{Throughput: m.Down, Bitrate: r.rate, Loss: loss}, now)
}
