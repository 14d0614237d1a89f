package sfu

import (
	"math"
	"sync"
)

// writers is a stream's pool of writer goroutines. A down-track with
// packets queued waits in the run queue; a writer takes it, sends a batch
// and puts it back if more are waiting. About sqrt(N) writers serve N
// viewers, at least two, so one viewer whose writes block holds up one
// writer, never the stream.
type writers struct {
	mu    sync.Mutex
	wake  sync.Cond
	run   []*DownTrack
	n     int // writers running
	want  int
	group sync.WaitGroup
}

func newWriters() *writers {
	w := &writers{}
	w.wake.L = &w.mu
	return w
}

// resize sets the pool's size for a number of viewers: none for none.
func (w *writers) resize(viewers int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.want = 0
	if viewers > 0 {
		w.want = max(2, int(math.Ceil(math.Sqrt(float64(viewers)))))
	}
	for ; w.n < w.want; w.n++ {
		w.group.Go(w.work)
	}
	w.wake.Broadcast() // writers beyond want leave
}

// schedule puts a down-track with packets queued on the run queue.
func (w *writers) schedule(d *DownTrack) {
	w.mu.Lock()
	w.run = append(w.run, d)
	w.mu.Unlock()
	w.wake.Signal()
}

func (w *writers) work() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for len(w.run) == 0 && w.n <= w.want {
			w.wake.Wait()
		}
		if w.n > w.want {
			w.n--
			if w.n == 0 {
				clear(w.run) // the last viewer left: what is queued goes nowhere
				w.run = w.run[:0]
			}
			return
		}
		d := w.run[0]
		w.run[0] = nil
		w.run = w.run[1:]
		w.mu.Unlock()
		more := d.drain()
		w.mu.Lock()
		if more {
			w.run = append(w.run, d)
		}
	}
}

// wait returns when every writer has left (after resize(0)).
func (w *writers) wait() { w.group.Wait() }
