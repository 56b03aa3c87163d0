package events

import (
	"strconv"
	"sync"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func ev(i int) *proxyv1.RequestEvent { return &proxyv1.RequestEvent{RequestId: strconv.Itoa(i)} }

func ids(es []*proxyv1.RequestEvent) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.GetRequestId()
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQueue(t *testing.T) {
	testCases := []struct {
		desc        string
		capacity    int
		push        int // events 1..push are pushed, then...
		takes       []int
		wantTaken   [][]string
		wantLen     int
		wantDropped uint64
	}{
		{desc: "empty take", capacity: 4, takes: []int{10}, wantTaken: [][]string{{}}},
		{desc: "fifo order", capacity: 4, push: 3, takes: []int{10}, wantTaken: [][]string{{"1", "2", "3"}}},
		{desc: "take fewer than held", capacity: 4, push: 3, takes: []int{2, 2}, wantTaken: [][]string{{"1", "2"}, {"3"}}},
		{desc: "take zero or negative", capacity: 4, push: 2, takes: []int{0, -1}, wantTaken: [][]string{{}, {}}, wantLen: 2},
		{desc: "exactly full drops nothing", capacity: 4, push: 4, takes: []int{10}, wantTaken: [][]string{{"1", "2", "3", "4"}}},
		{desc: "overflow drops the oldest", capacity: 4, push: 6, takes: []int{10}, wantTaken: [][]string{{"3", "4", "5", "6"}}, wantDropped: 2},
		{desc: "overflow many times", capacity: 3, push: 10, takes: []int{2}, wantTaken: [][]string{{"8", "9"}}, wantLen: 1, wantDropped: 7},
		{desc: "capacity one", capacity: 1, push: 3, takes: []int{5}, wantTaken: [][]string{{"3"}}, wantDropped: 2},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			q := NewQueue(tc.capacity)
			for i := 1; i <= tc.push; i++ {
				q.Push(ev(i))
			}
			for i, n := range tc.takes {
				if got := ids(q.Take(n)); !equal(got, tc.wantTaken[i]) {
					t.Errorf("Take(%d) #%d = %v, want %v", n, i, got, tc.wantTaken[i])
				}
			}
			if q.Len() != tc.wantLen {
				t.Errorf("Len() = %d, want %d", q.Len(), tc.wantLen)
			}
			if q.Dropped() != tc.wantDropped {
				t.Errorf("Dropped() = %d, want %d", q.Dropped(), tc.wantDropped)
			}
		})
	}
}

func TestWrapAround(t *testing.T) {
	// Interleave pushes and takes so that head and tail wrap the ring many times, and check
	// that order is kept and a Take spanning the end of the buffer is stitched together.
	q := NewQueue(5)
	next, want := 1, 1
	for round := range 20 {
		for range 3 + round%3 {
			q.Push(ev(next))
			next++
		}
		want += int(q.TakeDropped()) // the dropped ones are the oldest: skip them
		got := q.Take(3)
		for _, e := range got {
			if e.GetRequestId() != strconv.Itoa(want) {
				t.Fatalf("round %d: got %s, want %d", round, e.GetRequestId(), want)
			}
			want++
		}
	}
}

func TestTakeDroppedResets(t *testing.T) {
	q := NewQueue(2)
	for i := range 5 {
		q.Push(ev(i))
	}
	if d := q.TakeDropped(); d != 3 {
		t.Fatalf("TakeDropped() = %d, want 3", d)
	}
	if d := q.TakeDropped(); d != 0 {
		t.Fatalf("second TakeDropped() = %d, want 0", d)
	}
	q.Push(ev(9))
	if d := q.Dropped(); d != 1 {
		t.Fatalf("Dropped() after one more overflow = %d, want 1", d)
	}
	// The total keeps what TakeDropped handed out, and what it has not yet.
	if d := q.DroppedTotal(); d != 4 {
		t.Fatalf("DroppedTotal() = %d, want 4", d)
	}
}

func TestDefaultCapacity(t *testing.T) {
	if c := NewQueue(0).Cap(); c != DefaultCapacity {
		t.Fatalf("Cap() = %d, want %d", c, DefaultCapacity)
	}
}

func TestNilIgnored(t *testing.T) {
	q := NewQueue(2)
	q.Push(nil)
	if q.Len() != 0 {
		t.Fatal("nil event queued")
	}
}

func TestTakeReleasesSlots(t *testing.T) {
	q := NewQueue(4)
	q.Push(ev(1))
	q.Push(ev(2))
	q.Take(2)
	for i, e := range q.requests.buf {
		if e != nil {
			t.Errorf("slot %d still holds %v after Take", i, e)
		}
	}
}

func TestReady(t *testing.T) {
	q := NewQueue(10)
	select {
	case <-q.Ready():
		t.Fatal("Ready before any Push")
	default:
	}
	for i := range 5 {
		q.Push(ev(i))
	}
	<-q.Ready()
	if got := len(q.Take(2)); got != 2 {
		t.Fatalf("Take(2) gave %d", got)
	}
	select {
	case <-q.Ready():
	default:
		t.Fatal("Ready not re-armed while 3 events wait")
	}
	q.Take(10)
	select {
	case <-q.Ready():
		t.Fatal("Ready after the queue was emptied")
	default:
	}
}

func TestConcurrentProducersOneConsumer(t *testing.T) {
	q := NewQueue(64)
	const producers, each = 8, 1000
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				q.Push(ev(p*each + i))
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var taken int
	for finished := false; !finished; {
		select {
		case <-q.Ready():
		case <-done:
			finished = true
		case <-time.After(5 * time.Second):
			t.Fatal("consumer starved")
		}
		taken += len(q.Take(16))
	}
	taken += len(q.Take(producers * each))
	if total := uint64(taken) + q.Dropped(); total != producers*each {
		t.Fatalf("taken %d + dropped %d = %d, want %d", taken, q.Dropped(), total, producers*each)
	}
}

func BenchmarkPushParallel(b *testing.B) {
	q := NewQueue(DefaultCapacity)
	e := ev(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			q.Push(e)
		}
	})
}

func BenchmarkPushParallelWithConsumer(b *testing.B) {
	q := NewQueue(DefaultCapacity)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-q.Ready():
				q.Take(1000)
			}
		}
	})
	e := ev(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			q.Push(e)
		}
	})
	b.StopTimer()
	close(stop)
	wg.Wait()
}

func TestCircuitEvents(t *testing.T) {
	q := NewQueue(1000)
	for i := 0; i < circuitCapacity+5; i++ {
		q.PushCircuit(&proxyv1.CircuitEvent{Failures: uint32(i)})
	}
	if q.Len() != circuitCapacity || q.TakeDropped() != 5 {
		t.Fatalf("Len %d, want %d with 5 dropped", q.Len(), circuitCapacity)
	}
	got := q.TakeCircuits(3)
	if len(got) != 3 || got[0].GetFailures() != 5 {
		t.Fatalf("TakeCircuits = %v, want the oldest kept first (failures 5)", got)
	}
}

// TestRingGrows checks that the ring keeps FIFO order and its bound while its buffer grows
// from nothing, also when the entries wrap around the buffer's end, and that a drained backlog
// gives its buffer back.
func TestRingGrows(t *testing.T) {
	r := ring[int]{max: 6000}
	next, want := 0, 0
	push := func(n int) {
		for range n {
			r.push(next)
			next++
		}
	}
	take := func(n int) {
		for _, got := range r.take(n) {
			if got != want {
				t.Fatalf("took %d, want %d", got, want)
			}
			want++
		}
	}
	push(200)
	take(150) // head moves forward
	push(300) // wraps, then grows
	take(100)
	push(5000)
	if r.n != 5250 || len(r.buf) > r.max {
		t.Fatalf("%d entries in a buffer of %d, want 5250 within %d", r.n, len(r.buf), r.max)
	}
	push(1000) // over the bound: the oldest 250 are dropped
	want += 250
	if r.n != r.max {
		t.Fatalf("%d entries, want %d", r.n, r.max)
	}
	take(r.max)
	if r.buf != nil {
		t.Errorf("drained ring kept a buffer of %d", len(r.buf))
	}
}

func TestSecurityEventsHaveTheirOwnBoundedRing(t *testing.T) {
	q := NewQueue(10) // security ring: max(10/10, 1000) = 1000
	for i := range 1001 {
		q.PushSecurity(&proxyv1.SecurityEvent{Count: int64(i)})
	}
	q.Push(&proxyv1.RequestEvent{RequestId: "r"})
	if got := q.Len(); got != 1001 {
		t.Fatalf("Len = %d, want 1001 (1000 security + 1 request)", got)
	}
	got := q.TakeSecurity(2000)
	if len(got) != 1000 || got[0].GetCount() != 1 {
		t.Fatalf("TakeSecurity took %d, first count %d; want 1000 with the oldest dropped", len(got), got[0].GetCount())
	}
	if d := q.TakeDropped(); d != 1 {
		t.Fatalf("dropped = %d, want 1", d)
	}
	if r := q.Take(10); len(r) != 1 {
		t.Fatalf("request events = %d, want 1 (untouched by the security flood)", len(r))
	}
}
