package healthcheck

import "time"

// State is a route's health as its checks over the last minute see it.
type State string

// The states; the thresholds are those of the seeds (task #5).
const (
	Unknown  State = "unknown"  // no check has finished yet
	Healthy  State = "healthy"  // at least 90% of the last minute's checks succeeded
	Degraded State = "degraded" // 50% to under 90%
	Down     State = "down"     // under 50%
)

// Window is the sliding minute the state is decided over.
const Window = time.Minute

// stateOf is the state for a share of successful checks.
func stateOf(ratio float64) State {
	switch {
	case ratio >= 0.9:
		return Healthy
	case ratio >= 0.5:
		return Degraded
	default:
		return Down
	}
}

// result is one finished check.
type result struct {
	at      time.Time
	ok      bool
	elapsed time.Duration
}

// window holds the checks of the last minute, oldest first. Its size is bounded by the
// interval: at most Window/minInterval+1 checks.
type window struct {
	results []result
}

// add records r and forgets the checks that left the minute ending at r: those at or before
// r.at - Window. It returns the share of successes and the mean response time of what is left.
func (w *window) add(r result) (ratio float64, avg time.Duration, n int) {
	w.results = append(w.results, r)
	cut := r.at.Add(-Window)
	drop := 0
	for drop < len(w.results) && !w.results[drop].at.After(cut) {
		drop++
	}
	w.results = append(w.results[:0], w.results[drop:]...)
	var ok int
	var total time.Duration
	for _, x := range w.results {
		if x.ok {
			ok++
		}
		total += x.elapsed
	}
	n = len(w.results)
	return float64(ok) / float64(n), total / time.Duration(n), n
}
