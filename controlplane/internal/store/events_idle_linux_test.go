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

// recordingRunner wraps the store's idle thread and records, for each function it runs, the
// scheduling policy of the thread that ran it.
type recordingRunner struct {
	inner    idleRunner
	mu       sync.Mutex
	policies []string
}

func (r *recordingRunner) Run(f func()) {
	r.inner.Run(func() {
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
		f()
	})
}

func TestSaveBatchRunsAtIdlePriorityUnlessBehind(t *testing.T) {
	s, _ := openTestStore(t)
	if s.idle == nil {
		t.Skip("SCHED_IDLE is not available here (the store logged why): batches run at normal priority")
	}
	rec := &recordingRunner{inner: s.writer.idle}
	s.writer.idle = rec // before the first write: the writer reads it after receiving one

	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) // testBatch's first event
	for _, tc := range []struct {
		desc     string
		now      time.Time
		wantIdle bool
	}{
		{desc: "fresh batch", now: start.Add(40 * time.Millisecond), wantIdle: true},
		{desc: "late batch: the data plane's queue is growing", now: start.Add(time.Minute), wantIdle: false},
		{desc: "fresh again", now: start.Add(30 * time.Millisecond), wantIdle: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s.SetClock(func() time.Time { return tc.now })
			rec.mu.Lock()
			before := len(rec.policies)
			rec.mu.Unlock()
			seq := uint64(tc.now.UnixNano())
			if stored, err := s.SaveBatch(context.Background(), testBatch("dp-1", "boot-1", seq, 20, "site/r")); err != nil || !stored {
				t.Fatalf("SaveBatch: stored %v, %v", stored, err)
			}
			rec.mu.Lock()
			got := rec.policies[before:]
			rec.mu.Unlock()
			switch {
			case tc.wantIdle && (len(got) != 1 || got[0] != "5"):
				t.Fatalf("ran on the idle thread with policies %q, want once with 5 (SCHED_IDLE)", got)
			case !tc.wantIdle && len(got) != 0:
				t.Fatalf("a late batch ran on the idle thread (%q)", got)
			}
		})
	}
	var n int
	if err := s.read.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM request_logs").Scan(&n); err != nil || n != 60 {
		t.Fatalf("%d request_logs rows (%v), want 60", n, err)
	}
}
