package events

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// fill sets every field of m, and of its sub-messages, to a non-zero value: a field added to
// RequestEvent later is covered by the tests that use it without being named here.
func fill(m protoreflect.Message) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch fd.Kind() {
		case protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString("x-"+string(fd.Name())))
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			m.Set(fd, protoreflect.ValueOfInt32(7))
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			m.Set(fd, protoreflect.ValueOfInt64(7))
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			m.Set(fd, protoreflect.ValueOfUint32(7))
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			m.Set(fd, protoreflect.ValueOfUint64(7))
		case protoreflect.BoolKind:
			m.Set(fd, protoreflect.ValueOfBool(true))
		case protoreflect.EnumKind:
			m.Set(fd, protoreflect.ValueOfEnum(1))
		case protoreflect.MessageKind:
			fill(m.Mutable(fd).Message())
		default:
			panic("fill: field kind " + fd.Kind().String() + " of " + string(fd.FullName()))
		}
	}
}

func fullEvent() *proxyv1.RequestEvent {
	e := &proxyv1.RequestEvent{}
	fill(e.ProtoReflect())
	return e
}

// empty is what NewRequestEvent starts from and what a recycled event must be.
func empty() *proxyv1.RequestEvent {
	return &proxyv1.RequestEvent{Time: &timestamppb.Timestamp{}, Duration: &durationpb.Duration{}}
}

func TestNewRequestEventTimes(t *testing.T) {
	start := time.Date(2026, 11, 22, 15, 4, 5, 123456789, time.UTC)
	testCases := []struct {
		desc  string
		start time.Time
		d     time.Duration
	}{
		{desc: "zero duration", start: start},
		{desc: "sub-second", start: start, d: 1500 * time.Microsecond},
		{desc: "seconds and nanos", start: start, d: 2*time.Second + 7},
		{desc: "negative (a clock step)", start: start, d: -1500 * time.Millisecond},
		{desc: "before 1970", start: time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC), d: time.Hour},
		{desc: "zero time", d: time.Nanosecond},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			// A recycled event first, so that the times are written over old ones.
			old := fullEvent()
			recycleRequest(old)
			e := NewRequestEvent(tc.start, tc.d)
			want := &proxyv1.RequestEvent{Time: timestamppb.New(tc.start), Duration: durationpb.New(tc.d)}
			if !proto.Equal(e, want) {
				t.Fatalf("NewRequestEvent = %v, want %v (what timestamppb.New and durationpb.New give)", e, want)
			}
		})
	}
}

func TestRecycledEventIsEmpty(t *testing.T) {
	testCases := []struct {
		desc string
		ev   func() *proxyv1.RequestEvent
	}{
		{desc: "every field set", ev: fullEvent},
		{desc: "from NewRequestEvent", ev: func() *proxyv1.RequestEvent {
			e := NewRequestEvent(time.Now(), time.Second)
			e.RequestId, e.Error, e.Path = "r1", "boom", "/secret"
			return e
		}},
		{desc: "without Time and Duration", ev: func() *proxyv1.RequestEvent { return &proxyv1.RequestEvent{RequestId: "r1"} }},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			e := tc.ev()
			tm, d := e.Time, e.Duration
			recycleRequest(e)
			if tm != nil && (e.Time != tm || e.Duration != d) {
				t.Error("Time and Duration were not kept for reuse")
			}
			if tm == nil && (e.Time != nil || e.Duration != nil) {
				t.Error("a recycled event got sub-messages it did not have")
			}
			got := proto.Clone(e).(*proxyv1.RequestEvent)
			if got.Time == nil {
				got.Time, got.Duration = &timestamppb.Timestamp{}, &durationpb.Duration{}
			}
			if !proto.Equal(got, empty()) {
				t.Fatalf("recycled event still holds %v", e)
			}
			// Whatever the pool hands out next is the same empty event with new times.
			n := NewRequestEvent(time.Unix(5, 6), 7)
			if want := (&proxyv1.RequestEvent{Time: &timestamppb.Timestamp{Seconds: 5, Nanos: 6}, Duration: &durationpb.Duration{Nanos: 7}}); !proto.Equal(n, want) {
				t.Fatalf("NewRequestEvent after a recycle = %v, want %v", n, want)
			}
		})
	}
}

// counter stands in for the queue's recycle: it counts each event given back.
type counter struct {
	mu sync.Mutex
	n  map[*proxyv1.RequestEvent]int
}

func (c *counter) recycle(e *proxyv1.RequestEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[e]++
}

func TestDroppedEventsRecycledOnce(t *testing.T) {
	testCases := []struct {
		desc     string
		capacity int
		push     int   // events 0..push-1 are pushed one by one...
		takeAt   []int // ...and before pushing event i (for i in takeAt) the queue is emptied
		dropped  []int // the events the queue must drop, and recycle once each
	}{
		{desc: "no overflow", capacity: 4, push: 4},
		{desc: "overflow", capacity: 4, push: 6, dropped: []int{0, 1}},
		{desc: "overflow many times over", capacity: 3, push: 10, dropped: []int{0, 1, 2, 3, 4, 5, 6}},
		{desc: "capacity one", capacity: 1, push: 3, dropped: []int{0, 1}},
		{desc: "taken events are not the queue's", capacity: 2, push: 5, takeAt: []int{2}, dropped: []int{2}},
		{desc: "while the ring grows", capacity: 3 * minRing, push: 3*minRing + 2, dropped: []int{0, 1}},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			q := NewQueue(tc.capacity)
			c := &counter{n: make(map[*proxyv1.RequestEvent]int)}
			q.recycle = c.recycle
			evs := make([]*proxyv1.RequestEvent, tc.push)
			for i := range evs {
				evs[i] = ev(i)
			}
			for i, e := range evs {
				for _, at := range tc.takeAt {
					if at == i {
						q.Take(tc.capacity)
					}
				}
				q.Push(e)
			}
			want := make(map[*proxyv1.RequestEvent]int)
			for _, i := range tc.dropped {
				want[evs[i]] = 1
			}
			for i, e := range evs {
				if got := c.n[e]; got != want[e] {
					t.Errorf("event %d recycled %d times, want %d", i, got, want[e])
				}
			}
			if got := q.Dropped(); got != uint64(len(tc.dropped)) {
				t.Errorf("Dropped() = %d, want %d", got, len(tc.dropped))
			}
		})
	}
}

func TestDroppedEventIsEmptiedForReuse(t *testing.T) {
	q := NewQueue(1)
	first := fullEvent()
	q.Push(first)
	q.Push(ev(2))
	if first.GetRequestId() != "" || first.GetPath() != "" || first.GetTime().GetSeconds() != 0 {
		t.Fatalf("the dropped event was not recycled: %v", first)
	}
	if got := ids(q.Take(5)); !equal(got, []string{"2"}) {
		t.Fatalf("queue holds %v, want [2]", got)
	}
}

func TestConcurrentRecycling(t *testing.T) {
	// Producers fill pooled events while a consumer takes and recycles them and the queue drops
	// and recycles others: under -race, any event handed to two owners at once shows up.
	q := NewQueue(32)
	const producers, each = 4, 2000
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				e := NewRequestEvent(time.Now(), time.Millisecond)
				e.RequestId = strconv.Itoa(p*each + i)
				e.Status = 200
				q.Push(e)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	check := func(es []*proxyv1.RequestEvent) {
		for _, e := range es {
			if e.GetRequestId() == "" || e.GetStatus() != 200 || e.GetTime().GetSeconds() == 0 {
				t.Errorf("taken event was emptied under its owner: %v", e)
			}
		}
		RecycleRequests(es)
	}
	for finished := false; !finished; {
		select {
		case <-q.Ready():
		case <-done:
			finished = true
		case <-time.After(5 * time.Second):
			t.Fatal("consumer starved")
		}
		check(q.Take(8))
	}
	check(q.Take(producers * each))
}

// BenchmarkRequestEventPath is the life of a request event outside the request: made, pushed,
// taken in batches and given back; "new" is how events were made before the pool.
func BenchmarkRequestEventPath(b *testing.B) {
	testCases := []struct {
		name    string
		make    func(time.Time, time.Duration) *proxyv1.RequestEvent
		recycle func([]*proxyv1.RequestEvent)
	}{
		{name: "new", make: func(start time.Time, d time.Duration) *proxyv1.RequestEvent {
			return &proxyv1.RequestEvent{Time: timestamppb.New(start), Duration: durationpb.New(d)}
		}, recycle: func([]*proxyv1.RequestEvent) {}},
		{name: "pooled", make: NewRequestEvent, recycle: RecycleRequests},
	}
	for _, tc := range testCases {
		b.Run(tc.name, func(b *testing.B) {
			q := NewQueue(DefaultCapacity)
			start := time.Now()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e := tc.make(start, time.Millisecond)
				e.RequestId, e.Status = "r", 200
				q.Push(e)
				if i++; i%100 == 0 {
					tc.recycle(q.Take(100))
				}
			}
		})
	}
}
