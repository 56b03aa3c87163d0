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
)

// ErrUnsupported is returned by Start where the policy cannot be set: not Linux, or a seccomp
// profile that refuses sched_setattr. The caller runs its work inline instead.
var ErrUnsupported = errors.New("idlethread: SCHED_IDLE is not available")

// Thread is a goroutine locked to an OS thread at SCHED_IDLE. Its methods are safe for concurrent
// use; Run calls are executed one at a time, in the order they arrive.
type Thread struct {
	work    chan func()
	stopped chan struct{}
}

// Start starts the thread. It fails, starting nothing, when the policy cannot be set.
//
// While it runs a function the thread holds one of the Go scheduler's Ps, and the kernel may
// leave it waiting for as long as the CPUs are busy: with a single P every other goroutine of
// the process would wait with it. Start therefore raises GOMAXPROCS to 2 when it is 1 (a
// container limited to one CPU, or a process pinned to one), so that the rest of the process
// always has a P of its own. The extra P costs nothing while unused.
func Start() (*Thread, error) {
	t := &Thread{work: make(chan func()), stopped: make(chan struct{})}
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
	for f := range t.work {
		f()
	}
}

// Run runs f on the thread and returns when it has returned. It must not be called after Stop.
// A panic in f is re-raised in the caller, so that it is not lost with the thread.
func (t *Thread) Run(f func()) {
	var p any
	done := make(chan struct{})
	t.work <- func() {
		defer close(done)
		defer func() { p = recover() }()
		f()
	}
	<-done
	if p != nil {
		panic(p)
	}
}

// Stop ends the thread once the function it is running, if any, has returned.
func (t *Thread) Stop() {
	close(t.work)
	<-t.stopped
}
