package activitypub

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/fedwave/fedwave/internal/store"
)

// Delivery settings: what a server may reasonably expect from us, and
// what keeps an unreachable one from costing much.
const (
	defaultPerHost     = 2     // deliveries under way to one host
	defaultConcurrency = 32    // deliveries under way in all
	defaultPerHostMax  = 5000  // deliveries waiting for one host
	defaultQueueMax    = 50000 // deliveries waiting in all
	defaultRetryMin    = time.Minute
	defaultRetryMax    = 6 * time.Hour
	defaultGiveUp      = 48 * time.Hour
	// idlePoll bounds how long the queue sleeps without looking at the
	// database (a clock step, or a wake-up missed).
	idlePoll = time.Minute
)

// DeliveryConfig tunes the delivery queue; zero fields take the defaults (2
// per host, 32 in all, retries from 1 min doubling to 6 h, given up after
// 48 h, 5,000 waiting per host and 50,000 in all).
type DeliveryConfig struct {
	PerHost     int
	Concurrency int
	RetryMin    time.Duration
	RetryMax    time.Duration
	GiveUpAfter time.Duration
	Limits      store.QueueLimits
}

func (d DeliveryConfig) withDefaults() DeliveryConfig {
	def := func(v *int, n int) {
		if *v <= 0 {
			*v = n
		}
	}
	defDur := func(v *time.Duration, n time.Duration) {
		if *v <= 0 {
			*v = n
		}
	}
	def(&d.PerHost, defaultPerHost)
	def(&d.Concurrency, defaultConcurrency)
	def(&d.Limits.PerHost, defaultPerHostMax)
	def(&d.Limits.Total, defaultQueueMax)
	defDur(&d.RetryMin, defaultRetryMin)
	defDur(&d.RetryMax, defaultRetryMax)
	defDur(&d.GiveUpAfter, defaultGiveUp)
	return d
}

// outcome is a finished attempt, reported to the queue's loop.
type outcome struct {
	store.DeliveryResult
	host     string
	canceled bool // stopped by Close: the delivery stays due
}

// send queues an activity for each inbox (deduplicated), signed as
// channel's actor, and wakes the queue.
func (s *Service) send(ctx context.Context, channel string, body []byte, inboxes []string) error {
	left, err := s.st.Enqueue(ctx, &store.Outgoing{Signer: channel, Body: body, Inboxes: inboxes}, s.delivery.Limits, s.now())
	if err != nil {
		return err
	}
	if left > 0 {
		s.log.Warn("activitypub: delivery queue full, some inboxes left out", "channel", channel, "inboxes", len(inboxes), "left_out", left)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// runQueue delivers what is due, at most PerHost at once to a host and
// Concurrency in all, until Close; it is the only writer of results, so
// they are recorded in batches.
func (s *Service) runQueue() {
	inflight := map[int64]bool{}
	perHost := map[string]int{}
	timer := time.NewTimer(0)
	defer timer.Stop()
	record := func(first outcome) {
		batch := []store.DeliveryResult{}
		for o, more := first, true; more; {
			delete(inflight, o.ID)
			if perHost[o.host]--; perHost[o.host] <= 0 {
				delete(perHost, o.host)
			}
			if !o.canceled {
				batch = append(batch, o.DeliveryResult)
			}
			select {
			case o = <-s.outcomes:
			default:
				more = false
			}
		}
		// Recorded even while closing: a delivery made and not recorded
		// would be made again after a restart.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.st.FinishDeliveries(ctx, batch); err != nil {
			s.log.Error("activitypub: recording deliveries", "err", err)
		}
	}
	for {
		at := s.now()
		s.dispatch(at, inflight, perHost)
		s.resetTimer(timer, at)
		select {
		case <-s.ctx.Done():
			// Those under way stop at once; what they finished is kept.
			for len(inflight) > 0 {
				record(<-s.outcomes)
			}
			return
		case o := <-s.outcomes:
			record(o)
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// dispatch starts the deliveries due at now that the limits allow.
func (s *Service) dispatch(now time.Time, inflight map[int64]bool, perHost map[string]int) {
	free := s.delivery.Concurrency - len(inflight)
	// Reading what is due costs a query over the due deliveries: when
	// busy, wait until a quarter of the slots are free to fill them at
	// once.
	if free <= 0 || len(inflight) > 0 && free < max(1, s.delivery.Concurrency/4) {
		return
	}
	due, err := s.st.DueDeliveries(s.ctx, now, s.delivery.PerHost, free+len(inflight))
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Error("activitypub: reading the delivery queue", "err", err)
		}
		return
	}
	for _, d := range due {
		if free == 0 {
			return
		}
		if inflight[d.ID] || perHost[d.Host] >= s.delivery.PerHost {
			continue
		}
		inflight[d.ID] = true
		perHost[d.Host]++
		free--
		s.wg.Go(func() { s.outcomes <- s.attempt(d) })
	}
}

// resetTimer sets timer to the first delivery due after the dispatch at
// at (those due before are under way, or wait for one to finish), at most
// idlePoll away.
func (s *Service) resetTimer(timer *time.Timer, at time.Time) {
	wait := idlePoll
	if next, ok, err := s.st.NextDeliveryAt(s.ctx, at); err == nil && ok {
		wait = min(wait, max(next.Sub(s.now()), time.Millisecond))
	}
	timer.Reset(wait)
}

// attempt makes one delivery and says what becomes of it: delivered, given
// up (refused for good, or failing for GiveUpAfter), or tried again later.
func (s *Service) attempt(d store.Delivery) outcome {
	o := outcome{DeliveryResult: store.DeliveryResult{ID: d.ID, Done: true}, host: d.Host}
	ctx, cancel := context.WithTimeout(s.ctx, deliveryTimeout)
	defer cancel()
	status, err := s.deliver(ctx, d.Signer, d.Inbox, d.Body)
	switch {
	case err == nil:
		return o
	case s.ctx.Err() != nil:
		o.canceled = true
		return o
	case errors.Is(err, errBadURL), permanent(status):
		s.log.Info("activitypub: delivery refused, dropped", "inbox", d.Inbox, "err", err)
		return o
	}
	delay := s.delivery.RetryMin << min(d.Attempts, 30)
	if delay <= 0 || delay > s.delivery.RetryMax {
		delay = s.delivery.RetryMax
	}
	next := s.now().Add(delay)
	if next.Sub(d.CreatedAt) > s.delivery.GiveUpAfter {
		s.log.Warn("activitypub: delivery given up", "inbox", d.Inbox, "attempts", d.Attempts+1, "since", d.CreatedAt, "err", err)
		return o
	}
	o.Done, o.Next = false, next
	return o
}

// permanent is a refusal that trying again will not change: a 4xx other
// than timeout and too many requests.
func permanent(status int) bool {
	return status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}
