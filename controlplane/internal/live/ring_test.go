package live

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func entries(from, to int) []store.LogEntry {
	var out []store.LogEntry
	for i := from; i < to; i++ {
		out = append(out, store.LogEntry{RequestID: fmt.Sprint(i), Status: 200 + i%2*300})
	}
	return out
}

func ids(es []store.LogEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.RequestID)
	}
	return out
}

func TestRing(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		adds  [][2]int // entries(from, to) per Add
		limit int
		keep  func(*store.LogEntry) bool
		want  []string
	}{
		{name: "empty", size: 3, want: nil},
		{name: "partial", size: 3, adds: [][2]int{{0, 2}}, want: []string{"1", "0"}},
		{name: "full", size: 3, adds: [][2]int{{0, 3}}, want: []string{"2", "1", "0"}},
		{name: "wraps", size: 3, adds: [][2]int{{0, 2}, {2, 5}}, want: []string{"4", "3", "2"}},
		{name: "batch larger than ring", size: 3, adds: [][2]int{{0, 10}}, want: []string{"9", "8", "7"}},
		{name: "limit", size: 5, adds: [][2]int{{0, 5}}, limit: 2, want: []string{"4", "3"}},
		{name: "filter", size: 5, adds: [][2]int{{0, 5}}, keep: func(e *store.LogEntry) bool { return e.IsError() },
			want: []string{"3", "1"}},
		{name: "filter and limit", size: 5, adds: [][2]int{{0, 5}}, limit: 1,
			keep: func(e *store.LogEntry) bool { return e.IsError() }, want: []string{"3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRing(tc.size)
			for _, a := range tc.adds {
				r.Add(entries(a[0], a[1])...)
			}
			if got := ids(r.Snapshot(tc.limit, tc.keep)); !slices.Equal(got, tc.want) {
				t.Fatalf("Snapshot = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRingBounded checks that the ring never holds more than its capacity, and that a snapshot
// is a copy: later writes do not change it.
func TestRingBounded(t *testing.T) {
	r := NewRing(0)
	for i := 0; i < 5; i++ {
		r.Add(entries(i*Capacity, (i+1)*Capacity)...)
	}
	snap := r.Snapshot(0, nil)
	if len(snap) != Capacity || snap[0].RequestID != fmt.Sprint(5*Capacity-1) {
		t.Fatalf("%d entries, newest %s", len(snap), snap[0].RequestID)
	}
	r.Add(store.LogEntry{RequestID: "new"})
	if snap[0].RequestID != fmt.Sprint(5*Capacity-1) {
		t.Fatal("a snapshot changed after a write")
	}
}

func TestRingConcurrent(t *testing.T) {
	r := NewRing(100)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				r.Add(entries(i, i+10)...)
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if n := len(r.Snapshot(50, nil)); n > 50 {
					t.Errorf("snapshot of %d entries, limit 50", n)
				}
			}
		}()
	}
	wg.Wait()
}

type sink struct{ got []store.LogEntry }

func (s *sink) WriteErrors(es []store.LogEntry) error { s.got = append(s.got, es...); return nil }

func TestFeed(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	r, s := NewRing(10), &sink{}
	f := NewFeed(zaptest.NewLogger(t), r, s)
	f.now = func() time.Time { return now }
	b := &proxyv1.EventBatch{NodeId: "n1", BootId: "b", Sequence: 1, Requests: []*proxyv1.RequestEvent{
		{Time: timestamppb.New(now.Add(-time.Second)), RequestId: "ok", Status: 200},
		{RequestId: "no-time", Status: 502},
		{Time: timestamppb.New(now), RequestId: "err", Status: 200, Error: "client went away"},
	}}
	f.ObserveBatch(b, false, 0, nil) // stored before: already in the ring
	f.ObserveBatch(b, true, 0, fmt.Errorf("disk full"))
	if n := len(r.Snapshot(0, nil)); n != 0 {
		t.Fatalf("%d entries from batches not stored now", n)
	}
	f.ObserveBatch(b, true, time.Millisecond, nil)
	got := r.Snapshot(0, nil)
	if !slices.Equal(ids(got), []string{"err", "no-time", "ok"}) || got[1].Time != now || got[0].NodeID != "n1" {
		t.Fatalf("ring: %+v", got)
	}
	if !slices.Equal(ids(s.got), []string{"no-time", "err"}) {
		t.Fatalf("error sink got %v", ids(s.got))
	}
}

func BenchmarkRingAdd(b *testing.B) {
	r := NewRing(Capacity)
	batch := entries(0, 500)
	b.ReportAllocs()
	for b.Loop() {
		r.Add(batch...)
	}
}
