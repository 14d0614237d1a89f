// Package bus carries published frames between the parts of FedWave that
// fan out to clients. Subjects name a chat room ("room.<channel>") or a user
// ("user.<id>"). The in-process implementation serves one node; a NATS one
// can serve several behind the same interface.
package bus

import (
	"context"
	"sync"
)

// Bus publishes messages to the handlers subscribed to a subject.
type Bus interface {
	// Publish delivers msg to every current subscriber of subject. The
	// bytes are shared: neither side may change them.
	Publish(subject string, msg []byte) error
	// Subscribe calls handler for each message on subject until the
	// subscription is cancelled. Handlers must not block.
	Subscribe(subject string, handler func(msg []byte)) (cancel func(), err error)
	// Ping reports whether the bus is reachable (for /readyz).
	Ping(ctx context.Context) error
}

// Local is the in-process Bus: Publish calls the handlers synchronously, in
// the order they subscribed.
type Local struct {
	mu   sync.RWMutex
	subs map[string][]*subscription
}

type subscription struct {
	handler func([]byte)
}

// NewLocal makes an in-process bus.
func NewLocal() *Local {
	return &Local{subs: map[string][]*subscription{}}
}

// Publish implements Bus.
func (l *Local) Publish(subject string, msg []byte) error {
	l.mu.RLock()
	subs := l.subs[subject]
	l.mu.RUnlock()
	// subs is never modified in place (Subscribe and cancel copy), so it is
	// safe to range over without the lock.
	for _, s := range subs {
		s.handler(msg)
	}
	return nil
}

// Subscribe implements Bus.
func (l *Local) Subscribe(subject string, handler func([]byte)) (func(), error) {
	s := &subscription{handler: handler}
	l.mu.Lock()
	l.subs[subject] = append(l.subs[subject][:len(l.subs[subject]):len(l.subs[subject])], s)
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			old := l.subs[subject]
			kept := make([]*subscription, 0, len(old))
			for _, o := range old {
				if o != s {
					kept = append(kept, o)
				}
			}
			if len(kept) == 0 {
				delete(l.subs, subject)
			} else {
				l.subs[subject] = kept
			}
		})
	}, nil
}

// Ping implements Bus; the in-process bus is always there.
func (l *Local) Ping(context.Context) error { return nil }
