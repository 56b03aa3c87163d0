package ratelimit

import (
	"sync/atomic"
)

// window is a sliding-window counter over a window of W milliseconds, in two fixed
// sub-windows: the count of the current fixed window [kW, (k+1)W) and of the one before it.
// At time t = kW + e (0 <= e < W) the number of events in the last W is estimated as
//
//	prev × (W − e) / W + cur
//
// that is, the previous window's events are assumed spread evenly over it, and the part of it
// still inside the sliding window counts. Compared with a fixed window, a client cannot send a
// full limit at the end of one window and another at the start of the next; compared with a log
// of timestamps it costs 16 bytes per client. All arithmetic is exact integer arithmetic on
// milliseconds, so the tests can state the edges to the millisecond.
type window struct {
	start     int64 // index k of the current fixed window
	cur, prev uint32
}

// roll moves the counter to fixed window k.
func (c *window) roll(k int64) {
	switch k - c.start {
	case 0:
		return
	case 1:
		c.prev, c.cur = c.cur, 0
	default:
		c.prev, c.cur = 0, 0
	}
	c.start = k
}

// fits reports whether one more event fits under limit at offset e into the current window:
// prev × (W − e) / W + cur + 1 <= limit.
func fits(prev, cur uint32, e, w, limit int64) bool {
	room := limit - int64(cur) - 1
	return room >= 0 && int64(prev)*(w-e) <= room*w
}

// estimate is the count of events in the sliding window, rounded down.
func estimate(prev, cur uint32, e, w int64) int64 {
	return (int64(prev)*(w-e))/w + int64(cur)
}

// wait is how long (in ms) from offset e until one more event fits, if no other event is
// counted meanwhile. It is > 0 only when the event does not fit now.
func wait(prev, cur uint32, e, w, limit int64) int64 {
	if fits(prev, cur, e, w, limit) {
		return 0
	}
	// Later in the current window, the previous window's share shrinks.
	if room := limit - int64(cur) - 1; room >= 0 && prev > 0 {
		// smallest e' with prev × (W − e') <= room × W
		if at := w - (room*w)/int64(prev); at < w {
			return at - e
		}
	}
	// In the next window, the current one becomes the previous: cur × (W − e'') <= (limit−1) × W.
	at := int64(0)
	if cur > 0 {
		at = max(0, w-((limit-1)*w)/int64(cur))
	}
	return w - e + at
}

// Global counters pack a window into one uint64 so that the all-clients limit of a route is
// a compare-and-swap, not a lock every request of the route contends on: 20 bits of fixed
// window index (wrapping after 2^20 windows, two years of minutes: a counter idle exactly that
// long would be read as current), and 22 bits each for cur and prev.
const (
	globalMax   = 1<<22 - 1 // the largest global limit
	startBits   = 20
	countBits   = 22
	countMask   = 1<<countBits - 1
	startMask   = 1<<startBits - 1
	curShift    = startBits
	prevShift   = startBits + countBits
	maxAttempts = 64
)

type globalWindow struct {
	v atomic.Uint64
}

func unpack(v uint64, k int64) window {
	c := window{start: int64(v & startMask), cur: uint32(v >> curShift & countMask), prev: uint32(v >> prevShift & countMask)}
	switch (k - c.start) & startMask {
	case 0:
	case 1:
		c.prev, c.cur = c.cur, 0
	default:
		c.prev, c.cur = 0, 0
	}
	c.start = k & startMask
	return c
}

func pack(c window) uint64 {
	return uint64(c.start)&startMask | uint64(c.cur)<<curShift | uint64(c.prev)<<prevShift
}

// take counts one event in window k at offset e if it fits under limit. It returns the window
// as it was before (for the estimate and the wait) and whether the event was counted.
func (g *globalWindow) take(k, e, w, limit int64) (window, bool) {
	for range maxAttempts {
		old := g.v.Load()
		c := unpack(old, k)
		if !fits(c.prev, c.cur, e, w, limit) {
			return c, false
		}
		n := c
		n.cur++
		if g.v.CompareAndSwap(old, pack(n)) {
			return c, true
		}
	}
	// Under extreme contention, let the request through rather than spin: a global limit is
	// about load, and the next attempts will count.
	return window{}, true
}

// refund takes back an event counted in window k by take.
func (g *globalWindow) refund(k int64) {
	for range maxAttempts {
		old := g.v.Load()
		c := unpack(old, k)
		if c.start != int64(old&startMask) || c.cur == 0 {
			return // the window moved on: the event no longer counts as current
		}
		c.cur--
		if g.v.CompareAndSwap(old, pack(c)) {
			return
		}
	}
}
