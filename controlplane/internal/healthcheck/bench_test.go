package healthcheck

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkStatuses measures what GET /api/health costs with 1,000 checked routes, each with a
// full minute of checks at the 1 s minimum interval and a full list of transitions.
func BenchmarkStatuses(b *testing.B) {
	c := New(zap.NewNop(), nil, nil, Options{})
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 1000 {
		t := &target{id: fmt.Sprintf("r%04d.example.org/", i), spec: spec{backend: "http://app:80", url: "http://app:80/health", method: "GET"}, state: Healthy, since: t0}
		for s := range 60 {
			t.win.add(result{at: t0.Add(time.Duration(s) * time.Second), ok: s%7 != 0, elapsed: time.Millisecond})
		}
		for k := range c.opts.MaxTransitions {
			t.transitions = append(t.transitions, Transition{From: Healthy, To: Degraded, At: t0.Add(time.Duration(k) * time.Minute)})
		}
		c.targets[t.id] = t
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(c.Statuses()) != 1000 {
			b.Fatal("routes missing")
		}
	}
}

// BenchmarkWindowAdd is the cost of recording one check in a full minute of checks.
func BenchmarkWindowAdd(b *testing.B) {
	var w window
	t0 := time.Unix(1_800_000_000, 0)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		w.add(result{at: t0.Add(time.Duration(i) * time.Second), ok: i%3 != 0, elapsed: time.Millisecond})
		i++
	}
	if len(w.results) != 60 {
		b.Fatalf("window holds %d checks, want 60", len(w.results))
	}
}
