package app

import (
	"strings"
	"sync"
	"time"
)

// audienceNews tells a channel's pages that its audience changed: the
// player reads the number from live frames, the chat from presence frames.
// Changes are gathered for a second per channel, so a crowd arriving sends
// one frame, not one per person.
type audienceNews struct {
	tell func(channel string)

	mu      sync.Mutex
	pending map[string]*time.Timer // by lower-case channel name: news on the way
	closed  bool
	wg      sync.WaitGroup
}

func newAudienceNews(tell func(channel string)) *audienceNews {
	return &audienceNews{tell: tell, pending: map[string]*time.Timer{}}
}

// changed implements the audience registry's callback; it never blocks.
func (n *audienceNews) changed(channel string) {
	key := strings.ToLower(channel)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || n.pending[key] != nil {
		return
	}
	n.wg.Add(1)
	n.pending[key] = time.AfterFunc(time.Second, func() {
		defer n.wg.Done()
		n.mu.Lock()
		delete(n.pending, key)
		closed := n.closed
		n.mu.Unlock()
		if !closed {
			n.tell(channel)
		}
	})
}

// close drops the news on the way and waits for any being told.
func (n *audienceNews) close() {
	n.mu.Lock()
	n.closed = true
	for _, t := range n.pending {
		if t.Stop() {
			n.wg.Done()
		}
	}
	n.mu.Unlock()
	n.wg.Wait()
}
