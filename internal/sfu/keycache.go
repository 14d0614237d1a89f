package sfu

import (
	"slices"
	"time"
)

// keyCache is a video layer's run of packets from its last keyframe on,
// in sequence-number order whatever order they came in, without
// duplicates. A new viewer starts with a replay of it: a packet missing
// there would be a hole no retransmission fills, since the viewer's
// history only holds what it was sent.
//
// Packets that come before their keyframe's first packet (reordered on
// the way) are kept, so the keyframe finds them when it comes: when no
// keyframe has come yet or the run grew too long, the cache keeps the
// last reorderWindow packets, without a keyframe to replay.
type keyCache struct {
	run    []*packet // sorted by sequence number, relative to run[0]
	hasKey bool      // run[0] is the first packet of a keyframe
	left   uint32    // the source of the run before: its late packets are not kept
}

// reorderWindow is how many packets a keyless run keeps: more than a
// reordering or a retransmission on the way spans.
const reorderWindow = 64

// add stores p and reports whether it is new: false for a duplicate of a
// packet the cache holds (the caller need not forward it again).
func (c *keyCache) add(p *packet) (fresh bool) {
	if len(c.run) > 0 && c.run[0].source != p.source {
		if p.source == c.left {
			return true // a late packet of the session before
		}
		// Another publisher session: nothing of the old one may be
		// replayed with its packets.
		c.left = c.run[0].source
		clear(c.run)
		c.run, c.hasKey = c.run[:0], false
	}
	if len(c.run) == 0 {
		c.run, c.hasKey = append(c.run, p), p.key
		return true
	}
	if p.key && (after(p.seq, c.run[0].seq) || !c.hasKey && int16(c.run[0].seq-p.seq) <= reorderWindow) {
		c.restart(p)
		return true
	}
	if !after(p.seq, c.run[0].seq) {
		// Before the run (from a previous keyframe's run: no viewer
		// starts there) or its first packet again.
		return p.seq != c.run[0].seq
	}
	i, found := c.search(p.seq)
	if found {
		return false
	}
	c.run = slices.Insert(c.run, i, p)
	if len(c.run) > maxGOP {
		c.trim(reorderWindow)
	}
	return true
}

// restart begins a new run at keyframe start k, keeping the packets of
// the old run that follow k: they came before it.
func (c *keyCache) restart(k *packet) {
	i := 0
	if after(k.seq, c.run[0].seq) {
		i, _ = c.search(k.seq)
	}
	if i < len(c.run) && c.run[i].seq == k.seq {
		i++ // the same packet, seen before without its keyframe flag: k replaces it
	}
	if i == 0 {
		c.run = slices.Insert(c.run, 0, k)
	} else {
		c.run[i-1] = k
		n := copy(c.run, c.run[i-1:])
		clear(c.run[n:])
		c.run = c.run[:n]
	}
	c.hasKey = true
}

// trim keeps the last n packets, with no keyframe to replay.
func (c *keyCache) trim(n int) {
	drop := len(c.run) - n
	copy(c.run, c.run[drop:])
	clear(c.run[n:])
	c.run, c.hasKey = c.run[:n], false
}

// search returns where seq is or would be in the run.
func (c *keyCache) search(seq uint16) (int, bool) {
	base := c.run[0].seq
	return slices.BinarySearchFunc(c.run, seq, func(p *packet, s uint16) int {
		return int(p.seq-base) - int(s-base)
	})
}

// replay returns the run to replay to a new viewer: one that starts with
// a keyframe, is at most maxLen packets and began at most maxAge ago;
// else nil.
func (c *keyCache) replay(maxLen int, maxAge time.Duration) []*packet {
	if !c.hasKey || len(c.run) > maxLen || time.Since(c.run[0].at) > maxAge {
		return nil
	}
	return c.run
}

// after reports whether sequence number a comes after b (RFC 3550
// wrap-around).
func after(a, b uint16) bool { return int16(a-b) > 0 }
