package chat

import (
	"context"
	"fmt"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// maxBatch bounds how many messages one transaction stores.
const maxBatch = 256

// postReq is one message waiting for the room's committer.
type postReq struct {
	m     store.Message
	slow  time.Duration // slow mode interval for this sender; 0: exempt
	done  chan struct{}
	frame Message
	err   error
}

// commitLoop stores and publishes a room's messages, in batches: whatever
// arrived while the previous batch was being synced goes into the next
// transaction. It ends when the room closes.
func (r *room) commitLoop() {
	for first := range r.posts {
		batch := []*postReq{first}
	more:
		for len(batch) < maxBatch {
			select {
			case p, ok := <-r.posts:
				if !ok {
					break more
				}
				batch = append(batch, p)
			default:
				break more
			}
		}
		r.commit(batch)
	}
}

// commit stores a batch durably, then publishes it in offset order, then
// releases the senders so they can acknowledge.
func (r *room) commit(batch []*postReq) {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	defer func() {
		for _, p := range batch {
			close(p.done)
		}
	}()
	now := r.hub.now()
	var accepted []*postReq
	var msgs []*store.Message
	for _, p := range batch {
		if last, ok := r.lastSend[p.m.UserID]; ok && p.slow > 0 {
			if wait := p.slow - now.Sub(last); wait > 0 {
				p.err = fail.New(fail.TooMany, "slow_mode", "slow mode is on: wait %s before your next message", wait.Round(time.Second))
				continue
			}
		}
		p.m.TS = now
		accepted = append(accepted, p)
		msgs = append(msgs, &p.m)
	}
	if len(msgs) == 0 {
		return
	}
	// Not the sender's context: the batch holds other people's messages.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dups, err := r.hub.store.AppendMessages(ctx, msgs)
	for i, p := range accepted {
		if err != nil {
			p.err = fmt.Errorf("store message: %w", err)
			continue
		}
		p.frame = messageFrame(&p.m)
		if !dups[i] {
			r.lastSend[p.m.UserID] = now
			r.hub.stored.Add(1)
			r.publish(encode(p.frame))
			m := p.m
			r.emit(Event{Kind: "message", Channel: r.name, Message: &m})
		}
	}
}
