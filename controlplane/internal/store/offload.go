package store

import "time"

// idleRunner runs a function on a thread the kernel schedules only when nothing else wants the
// CPU (idlethread.Thread), unless that thread does not start it within startWithin.
type idleRunner interface {
	TryRun(f func(), startWithin time.Duration) bool
}

// Offloading a piece of a batch to the idle thread is given up, and the writer stays at normal
// priority for busyBackoff, when the thread did not start it within idleStartWithin or took
// longer than idleBudget for it: the CPUs are busy, and a SCHED_IDLE thread on a busy CPU gets
// about 0.3% of it, so one 16-row chunk (about 0.4 ms of work) could hold every write of the
// control plane for a second while the data plane's event queue grows. The pieces are short so
// that a piece the thread did start is never held for long either.
const (
	idleStartWithin = 2 * time.Millisecond
	idleBudget      = 20 * time.Millisecond
	busyBackoff     = time.Second
)

// offload runs f, a piece of a batch's computation, on the idle thread when the batch is fresh
// (polite) and the CPUs were not found busy lately; otherwise on the writer goroutine, yielding
// the CPU after it if polite. Only the writer goroutine calls it.
func (s *Store) offload(polite bool, f func() error) error {
	if polite && s.idle != nil && time.Now().After(s.busyUntil) {
		var err error
		start := time.Now()
		if s.idle.TryRun(func() { err = f() }, idleStartWithin) {
			if time.Since(start) > idleBudget {
				s.busyUntil = time.Now().Add(busyBackoff)
			}
			return err
		}
		s.busyUntil = time.Now().Add(busyBackoff)
	}
	err := f()
	if polite {
		yieldCPU()
	}
	return err
}
