package store

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// recordingRunner wraps the store's idle thread and records, for each piece it runs, the
// scheduling policy of the thread that ran it. refuse makes it decline every piece, as the real
// thread does when the CPUs are busy; delay makes each piece take that much longer.
type recordingRunner struct {
	inner    idleRunner
	refuse   bool
	delay    time.Duration
	mu       sync.Mutex
	tries    int
	policies []string
}

func (r *recordingRunner) TryRun(f func(), startWithin time.Duration) bool {
	r.mu.Lock()
	r.tries++
	r.mu.Unlock()
	if r.refuse {
		return false
	}
	return r.inner.TryRun(func() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/sched", unix.Gettid()))
		policy := "unreadable: " + fmt.Sprint(err)
		for line := range strings.Lines(string(b)) {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "policy" {
				policy = strings.TrimSpace(value)
			}
		}
		r.mu.Lock()
		r.policies = append(r.policies, policy)
		r.mu.Unlock()
		time.Sleep(r.delay)
		f()
	}, time.Second) // the test machine may be busy: do not let a late start decide the test
}

func (r *recordingRunner) take() (tries int, policies []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tries, policies = r.tries, r.policies
	r.tries, r.policies = 0, nil
	return tries, policies
}

func TestSaveBatchOffloadsFreshBatchesToTheIdleThread(t *testing.T) {
	s, _ := openTestStore(t)
	if s.idle == nil {
		t.Skip("SCHED_IDLE is not available here (the store logged why): batches run at normal priority")
	}
	rec := &recordingRunner{inner: s.idle}
	s.idle = rec // before the first write; only the writer goroutine reads it

	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) // testBatch's first event
	seq := uint64(0)
	save := func(t *testing.T, now time.Time) {
		t.Helper()
		s.SetClock(func() time.Time { return now })
		seq++
		// 20 events: chunks of 16 and 4, then the roll-ups: three pieces.
		if stored, err := s.SaveBatch(context.Background(), testBatch("dp-1", "boot-1", seq, 20, "site/r")); err != nil || !stored {
			t.Fatalf("SaveBatch: stored %v, %v", stored, err)
		}
	}

	t.Run("fresh batch: every piece on the idle thread", func(t *testing.T) {
		save(t, start.Add(40*time.Millisecond))
		if tries, policies := rec.take(); tries != 3 || strings.Join(policies, ",") != "5,5,5" {
			t.Fatalf("%d tries, policies %q; want 3 pieces at SCHED_IDLE (5)", tries, policies)
		}
	})
	t.Run("late batch: the data plane's queue is growing, no offload", func(t *testing.T) {
		save(t, start.Add(time.Minute))
		if tries, _ := rec.take(); tries != 0 {
			t.Fatalf("%d pieces offered to the idle thread, want 0", tries)
		}
	})
	t.Run("busy CPUs: one refusal keeps the writer at normal priority", func(t *testing.T) {
		rec.refuse = true
		save(t, start.Add(40*time.Millisecond))
		if tries, _ := rec.take(); tries != 1 {
			t.Fatalf("%d pieces offered after a refusal, want 1", tries)
		}
		if !s.busyUntil.After(time.Now()) {
			t.Fatalf("busyUntil %v is not in the future after a refusal", s.busyUntil)
		}
		save(t, start.Add(40*time.Millisecond))
		if tries, _ := rec.take(); tries != 0 {
			t.Fatalf("%d pieces offered within the back-off, want 0", tries)
		}
	})
	t.Run("a piece that overran its budget also backs off", func(t *testing.T) {
		rec.refuse, rec.delay = false, idleBudget+5*time.Millisecond
		s.busyUntil = time.Time{} // as if the back-off had passed
		save(t, start.Add(40*time.Millisecond))
		if tries, _ := rec.take(); tries != 1 {
			t.Fatalf("%d pieces offered, want 1: the slow first one ends the offloading", tries)
		}
		if !s.busyUntil.After(time.Now()) {
			t.Fatalf("busyUntil %v is not in the future after a slow piece", s.busyUntil)
		}
	})

	var n int
	if err := s.read.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM request_logs").Scan(&n); err != nil || n != 5*20 {
		t.Fatalf("%d request_logs rows (%v), want %d: every batch stored whichever thread ran it", n, err, 5*20)
	}
}
