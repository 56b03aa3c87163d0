// Package idlethread runs work on an OS thread that Linux runs only when no other thread wants its
// CPU (the SCHED_IDLE policy).
//
// The control plane stores the data planes' request events: milliseconds of SQLite computation
// per batch, on a machine it usually shares with a data plane. At the normal policy the kernel
// lets it finish its slice (about 1.4 ms on 2 CPUs) before a data plane woken by a request gets
// the CPU back, and that wait is the data plane's latency. A SCHED_IDLE thread is preempted the
// moment any other thread becomes runnable (kernel/sched/fair.c: "Idle tasks are by definition
// preempted by non-idle tasks"), and it still gets every cycle nobody else uses. Lowering a
// thread to SCHED_IDLE needs no privilege; raising it back does (RLIMIT_NICE or CAP_SYS_NICE),
// so the thread stays idle for its life and work that must not wait runs elsewhere.
package idlethread

import (
	"errors"
	"runtime"
	"sync/atomic"
	"time"
)

// ErrUnsupported is returned by Start where the policy cannot be set: not Linux, or a seccomp
// profile that refuses sched_setattr. The caller runs its work inline instead.
var ErrUnsupported = errors.New("idlethread: SCHED_IDLE is not available")

// Thread is a goroutine locked to an OS thread at SCHED_IDLE. Its methods are safe for concurrent
// use; the functions it is given run one at a time, in the order they were given.
type Thread struct {
	work    chan *item
	stopped chan struct{}
}

// item is one function given to the thread. state moves from queued to started (by the thread)
// or to withdrawn (by TryRun's caller), never both.
type item struct {
	f     func()
	state atomic.Int32
	done  chan struct{}
	panic any
}

const (
	queued int32 = iota
	started
	withdrawn
)

// Start starts the thread. It fails, starting nothing, when the policy cannot be set.
//
// While it runs a function the thread holds one of the Go scheduler's Ps, and the kernel may
// leave it waiting for as long as the CPUs are busy: with a single P every other goroutine of
// the process would wait with it. Start therefore raises GOMAXPROCS to 2 when it is 1 (a
// container limited to one CPU, or a process pinned to one), so that the rest of the process
// always has a P of its own. The extra P costs nothing while unused.
func Start() (*Thread, error) {
	t := &Thread{work: make(chan *item, 16), stopped: make(chan struct{})}
	ready := make(chan error, 1)
	go t.loop(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	return t, nil
}

func (t *Thread) loop(ready chan<- error) {
	defer close(t.stopped)
	// Never unlocked: when this goroutine returns, the runtime ends the thread instead of
	// handing its lowered policy to other goroutines. Threads the runtime starts later are
	// cloned from a thread of its own (runtime.newm on a locked M), so they do not inherit it.
	runtime.LockOSThread()
	if err := setIdle(); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for it := range t.work {
		if !it.state.CompareAndSwap(queued, started) {
			continue // withdrawn: its caller ran it
		}
		func() {
			defer close(it.done)
			defer func() { it.panic = recover() }()
			it.f()
		}()
	}
}

// Run runs f on the thread and returns when it has returned, however long the thread has to
// wait for a CPU. It must not be called after Stop. A panic in f is re-raised in the caller, so
// that it is not lost with the thread.
func (t *Thread) Run(f func()) {
	it := &item{f: f, done: make(chan struct{})}
	t.work <- it
	t.wait(it)
}

// TryRun runs f on the thread if the thread starts it within startWithin, and then returns
// true when f has returned. Otherwise it returns false and f will never run there: the CPUs are
// busy, and the caller should run f itself rather than wait for an idle moment that may be
// seconds away (a SCHED_IDLE thread gets about 0.3% of a busy CPU). Once started, f may still be
// preempted by anything that wakes up; a caller that needs a bound on that too should give short
// functions.
func (t *Thread) TryRun(f func(), startWithin time.Duration) bool {
	it := &item{f: f, done: make(chan struct{})}
	select {
	case t.work <- it:
	default:
		return false // withdrawn items the thread has not got to yet: it is starved
	}
	timer := time.NewTimer(startWithin)
	defer timer.Stop()
	select {
	case <-it.done:
	case <-timer.C:
		if it.state.CompareAndSwap(queued, withdrawn) {
			return false
		}
	}
	t.wait(it)
	return true
}

func (t *Thread) wait(it *item) {
	<-it.done
	if it.panic != nil {
		panic(it.panic)
	}
}

// Stop ends the thread once the function it is running, if any, has returned.
func (t *Thread) Stop() {
	close(t.work)
	<-t.stopped
}
