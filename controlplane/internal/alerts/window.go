package alerts

import "time"

// buckets is how many parts a sliding window is counted in: its memory is fixed, and an event
// leaves the window at most window/buckets late.
const buckets = 12

// slider counts events and errors over a sliding window, in fixed buckets.
type slider struct {
	window time.Duration
	width  time.Duration
	b      [buckets]bucket
}

type bucket struct {
	idx          int64 // the bucket's start, in widths since the epoch
	total, count int
}

func newSlider(window time.Duration) *slider {
	return &slider{window: window, width: window / buckets}
}

func (s *slider) index(now time.Time) int64 { return now.UnixNano() / int64(s.width) }

// add counts total events, count of which are errors (or the only kind counted), at now.
func (s *slider) add(now time.Time, total, count int) {
	i := s.index(now)
	b := &s.b[i%buckets]
	if b.idx != i {
		*b = bucket{idx: i}
	}
	b.total += total
	b.count += count
}

// sum is what the window ending at now holds.
func (s *slider) sum(now time.Time) (total, count int) {
	i := s.index(now)
	for _, b := range s.b {
		if b.idx > i-buckets && b.idx <= i {
			total += b.total
			count += b.count
		}
	}
	return total, count
}

// trigger fires once when a condition starts and re-arms only once it ended (hysteresis).
type trigger struct{ fired bool }

// update reports whether the condition starting now is an alert: above is whether it holds,
// below whether it ended (neither: no change, such as too few requests to judge).
func (t *trigger) update(above, below bool) bool {
	switch {
	case above && !t.fired:
		t.fired = true
		return true
	case below:
		t.fired = false
	}
	return false
}
