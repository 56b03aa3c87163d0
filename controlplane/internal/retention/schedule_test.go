package retention

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/config"
)

// fakeClock is a clock the test moves: After hands the test each wait the job asks for.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	waits chan wait
}

type wait struct {
	d    time.Duration
	fire chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	w := wait{d: d, fire: make(chan time.Time, 1)}
	c.waits <- w
	return w.fire
}

// advance moves the clock by the wait's duration and ends the wait.
func (c *fakeClock) advance(w wait) {
	c.mu.Lock()
	c.t = c.t.Add(w.d)
	t := c.t
	c.mu.Unlock()
	w.fire <- t
}

func TestRunFollowsTheScheduleInLocalTime(t *testing.T) {
	tests := []struct {
		desc     string
		global   string
		start    time.Time
		firstRun time.Time
	}{
		{desc: "default: daily at 03:00 local", global: "",
			start: time.Date(2026, 11, 22, 2, 57, 30, 0, now.Location()), firstRun: time.Date(2026, 11, 22, 3, 0, 0, 0, now.Location())},
		{desc: "configured: Sundays 04:30", global: "retention: {schedule: \"30 4 * * sun\"}\n",
			start: time.Date(2026, 11, 20, 23, 0, 0, 0, now.Location()), firstRun: time.Date(2026, 11, 22, 4, 30, 0, 0, now.Location())},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			st, _, _ := setup(t)
			g, err := config.ParseGlobal("global.yaml", []byte(tc.global))
			if err != nil {
				t.Fatal(err)
			}
			// The last run was just before the start: nothing to make up.
			if err := st.Audit(context.Background(), store.AuditEntry{Time: tc.start.Add(-time.Minute), User: "system",
				Action: "retention_run", ResourceType: "retention"}); err != nil {
				t.Fatal(err)
			}
			clock := &fakeClock{t: tc.start, waits: make(chan wait)}
			job, err := New(zaptest.NewLogger(t), st, staticConfig{g}, Options{Now: clock.Now, After: clock.After})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- job.Run(ctx) }()

			runs := func() int {
				e, err := st.AuditEntries(context.Background(), 10, "retention_run")
				if err != nil {
					t.Fatal(err)
				}
				return len(e) - 1 // the run recorded before the start
			}
			// Until the first run the job only waits, never longer than a minute at a time (a
			// changed schedule applies within a minute) and never past the scheduled time.
			for {
				w := <-clock.waits
				if w.d <= 0 || w.d > time.Minute {
					t.Fatalf("waits %v at %v", w.d, clock.Now())
				}
				if n := runs(); n != 0 {
					t.Fatalf("%d runs before %v (now %v)", n, tc.firstRun, clock.Now())
				}
				clock.advance(w)
				if !clock.Now().Before(tc.firstRun) {
					break
				}
			}
			// At the scheduled minute it runs once, then waits again.
			w := <-clock.waits
			if !clock.Now().Equal(tc.firstRun) {
				t.Fatalf("clock at %v, want %v", clock.Now(), tc.firstRun)
			}
			if n := runs(); n != 1 {
				t.Fatalf("%d runs at %v, want 1", n, clock.Now())
			}
			e, _ := st.AuditEntries(context.Background(), 1, "retention_run")
			if e[0].Source != "schedule" || !e[0].Time.Equal(tc.firstRun) {
				t.Fatalf("run entry = %+v", e[0])
			}
			clock.advance(w)
			<-clock.waits // the minute after: no second run
			if n := runs(); n != 1 {
				t.Fatalf("%d runs a minute after the schedule, want 1", n)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A run the schedule called for while the control plane was down is made up at start: when the
// last recorded run is older than the latest scheduled time, or there is none.
func TestRunMakesUpAMissedRun(t *testing.T) {
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, now.Location()) // the 03:00 run of today was missed
	for desc, lastRun := range map[string]time.Time{
		"last run two days ago": time.Date(2026, 11, 20, 3, 0, 0, 0, now.Location()),
		"no run recorded":       {},
	} {
		t.Run(desc, func(t *testing.T) {
			st, _, _ := setup(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if !lastRun.IsZero() {
				if err := st.Audit(ctx, store.AuditEntry{Time: lastRun, User: "system", Action: "retention_run",
					ResourceType: "retention"}); err != nil {
					t.Fatal(err)
				}
			}
			g, err := config.ParseGlobal("global.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			clock := &fakeClock{t: start, waits: make(chan wait)}
			job, err := New(zaptest.NewLogger(t), st, staticConfig{g}, Options{Now: clock.Now, After: clock.After})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- job.Run(ctx) }()
			<-clock.waits // the job waits only after it ran
			e, err := st.AuditEntries(ctx, 10, "retention_run")
			if err != nil || len(e) == 0 || !e[0].Time.Equal(start) || e[0].Source != "schedule" {
				t.Fatalf("runs recorded: %+v (%v); want one at the start, %v", e, err, start)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRunNowRefusesConcurrentRun(t *testing.T) {
	st, _, _ := setup(t)
	job, err := New(zaptest.NewLogger(t), st, testConfig(t), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	job.mu.Lock()
	_, err = job.RunNow(context.Background(), "api")
	job.mu.Unlock()
	if !errors.Is(err, ErrRunning) {
		t.Fatalf("RunNow during a run = %v, want ErrRunning", err)
	}
}
