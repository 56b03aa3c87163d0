// Package notify hands changes (a backend's health state, a certificate's expiry level) to the
// parts of the control plane that act on them, such as alerting.
//
// A subscriber gets every change published after it subscribed, in order, through a buffered
// channel. Publishing never blocks: a subscriber whose buffer is full loses the change, which is
// counted (Dropped) and reported by the publisher's log, so a stuck subscriber can never hold up
// health checks; state changes are rare, so a buffer of a few hundred is never full in practice.
package notify

import (
	"context"
	"sync"
	"sync/atomic"
)

// DefaultBuffer is the channel capacity of a subscriber.
const DefaultBuffer = 256

// Hub is safe for concurrent use. The zero value is not usable; use NewHub.
type Hub[T any] struct {
	buffer  int
	dropped atomic.Uint64

	mu   sync.Mutex
	subs map[chan T]struct{}
}

// NewHub returns a hub whose subscribers buffer up to buffer changes (DefaultBuffer if <= 0).
func NewHub[T any](buffer int) *Hub[T] {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Hub[T]{buffer: buffer, subs: make(map[chan T]struct{})}
}

// Subscribe returns a channel that receives every change published from now on. It is closed
// when ctx ends.
func (h *Hub[T]) Subscribe(ctx context.Context) <-chan T {
	ch := make(chan T, h.buffer)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		close(ch)
		h.mu.Unlock()
	})
	return ch
}

// Publish hands v to every subscriber without blocking and returns how many subscribers lost it
// because their buffer was full.
func (h *Hub[T]) Publish(v T) (lost int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- v:
		default:
			lost++
		}
	}
	h.dropped.Add(uint64(lost))
	return lost
}

// Dropped is how many changes subscribers lost since the hub was made.
func (h *Hub[T]) Dropped() uint64 { return h.dropped.Load() }
