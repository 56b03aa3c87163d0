package idlethread

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const schedIdle = 5

// policy returns the scheduling policy of thread tid of this process, as /proc shows it.
func policy(t *testing.T, tid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/sched", tid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(name) == "policy" {
			p, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	t.Fatalf("no policy line for thread %d", tid)
	return 0
}

func TestRunsOnAnIdleThreadOnly(t *testing.T) {
	th, err := Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer th.Stop()
	if n := runtime.GOMAXPROCS(0); n < 2 {
		t.Errorf("GOMAXPROCS %d after Start, want at least 2", n)
	}

	var idleTID int
	th.Run(func() {
		idleTID = unix.Gettid()
		// Goroutines that start threads of their own while the idle thread runs: the runtime
		// must not clone them from it (they would inherit SCHED_IDLE).
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread() // exits locked: the thread ends with the goroutine
				time.Sleep(time.Millisecond)
			}()
		}
		wg.Wait()
	})
	if got := policy(t, idleTID); got != schedIdle {
		t.Fatalf("thread running f has policy %d, want SCHED_IDLE (%d)", got, schedIdle)
	}
	// Another Run is on the same thread.
	var again int
	th.Run(func() { again = unix.Gettid() })
	if again != idleTID {
		t.Errorf("second Run on thread %d, first on %d", again, idleTID)
	}

	// Nothing else of the process is idle: not the caller, not threads started since.
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		tid, _ := strconv.Atoi(e.Name())
		if tid == idleTID {
			continue
		}
		if p := policy(t, tid); p == schedIdle {
			t.Errorf("thread %d has inherited SCHED_IDLE", tid)
		}
	}
}

func TestStopEndsTheThread(t *testing.T) {
	th, err := Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	var tid int
	th.Run(func() { tid = unix.Gettid() })
	th.Stop()
	// The goroutine returned locked, so the runtime ends its thread (shortly after).
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d still exists 5 s after Stop", tid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunReraisesPanics(t *testing.T) {
	th, err := Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer th.Stop()
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v, want boom", p)
		}
		// The thread survives a panic of its work.
		ran := false
		th.Run(func() { ran = true })
		if !ran {
			t.Fatal("Run after a panic did not run")
		}
	}()
	th.Run(func() { panic("boom") })
}

func TestTryRun(t *testing.T) {
	th, err := Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer th.Stop()

	var tid int
	if !th.TryRun(func() { tid = unix.Gettid() }, 5*time.Second) {
		t.Fatal("TryRun on an idle thread was refused")
	}
	if p := policy(t, tid); p != schedIdle {
		t.Fatalf("TryRun ran f at policy %d, want SCHED_IDLE", p)
	}

	// A thread that cannot start f in time (here: busy with another function) refuses it, and
	// f never runs, not even once the thread is free again.
	release := make(chan struct{})
	busy := make(chan struct{})
	go th.Run(func() { close(busy); <-release })
	<-busy
	ran := make(chan struct{}, 1)
	if th.TryRun(func() { ran <- struct{}{} }, 10*time.Millisecond) {
		t.Fatal("TryRun on a busy thread returned true")
	}
	close(release)
	if !th.TryRun(func() {}, 5*time.Second) { // queued after the withdrawn one: it has been skipped
		t.Fatal("TryRun after the thread was freed was refused")
	}
	select {
	case <-ran:
		t.Fatal("a withdrawn function ran")
	default:
	}
}
