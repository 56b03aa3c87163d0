package cpclient

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/bans"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/edge"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/health"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/metrics"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/websocket"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// systemBatches returns the stored batches that carry system metrics.
func (f *fakeCP) systemBatches() []*proxyv1.EventBatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*proxyv1.EventBatch
	for _, b := range f.batches {
		if b.GetSystem() != nil {
			out = append(out, b)
		}
	}
	return out
}

func TestSystemMetricsEveryFewSecondsWithoutRequests(t *testing.T) {
	q := events.NewQueue(10)
	for i := range 13 {
		q.Push(&proxyv1.RequestEvent{RequestId: string(rune('a' + i))})
	}
	reqs := metrics.NewRequests()
	reqs.Route("a.test/").Observe("GET", 200, time.Millisecond, false)
	reqs.Route("a.test/").Observe("POST", 502, time.Second, false)
	reqs.Unmatched().Observe("GET", 404, time.Microsecond, false)
	banned := bans.New(bans.Options{})
	banned.Add(netip.MustParseAddr("203.0.113.7"), "a.test/", time.Now().Add(time.Hour), "test")
	sockets := websocket.NewTracker()
	lease, err := sockets.Acquire("a.test/", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	var holder atomic.Pointer[edge.Holder]
	exp, err := metrics.New(metrics.Sources{
		Requests: reqs, Start: time.Now().Add(-time.Minute), Queue: q,
		Connections: func() int64 { return 3 },
		WebSockets:  sockets.Open,
		Bans:        banned.Len,
		Snapshot: func() (uint64, time.Time) {
			if h := holder.Load(); h != nil {
				return h.Applied()
			}
			return 0, time.Time{}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cp := newFakeCP()
	h := start(t, cp, q, Options{System: exp.System, SystemEvery: 50 * time.Millisecond})
	holder.Store(h.holder)
	wait(t, cp.hellos, "hello")
	applied := time.Now()
	cp.snapshots <- snap(7, "http://127.0.0.1:9")
	if v := wait(t, cp.verdicts, "verdict on 7"); v.GetAck().GetVersion() != 7 {
		t.Fatalf("verdict %v, want Ack 7", v)
	}

	// Batches keep coming with the system metrics and no event: nothing else happens.
	deadline := time.Now().Add(10 * time.Second)
	var got *proxyv1.EventBatch
	for got == nil {
		for _, b := range cp.systemBatches() {
			if b.GetSystem().GetSnapshotVersion() == 7 && len(b.GetRequests()) == 0 {
				got = b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no batch with system metrics of snapshot 7 and no request: %v", cp.systemBatches())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := got.GetSystem()
	if up := m.GetUptime().AsDuration(); up < time.Minute || up > 2*time.Minute {
		t.Errorf("uptime %v, want about a minute", up)
	}
	if at := m.GetSnapshotAppliedAt().AsTime(); at.Before(applied.Add(-time.Second)) || at.After(time.Now()) {
		t.Errorf("snapshot applied at %v, want just after %v", at, applied)
	}
	want := &proxyv1.SystemMetrics{
		ActiveConnections: 3, RequestsTotal: 3, EventsDroppedTotal: 3, EventQueueLength: 0,
		EventQueueCapacity: 10, WebsocketsActive: 1, SnapshotVersion: 7, BansActive: 1,
	}
	if m.GetActiveConnections() != want.ActiveConnections || m.GetRequestsTotal() != want.RequestsTotal ||
		m.GetEventsDroppedTotal() != want.EventsDroppedTotal || m.GetEventQueueLength() != want.EventQueueLength ||
		m.GetEventQueueCapacity() != want.EventQueueCapacity || m.GetWebsocketsActive() != want.WebsocketsActive ||
		m.GetBansActive() != want.BansActive {
		t.Errorf("system metrics %v, want %v", m, want)
	}
	if m.GetGoroutines() < 5 || m.GetHeapBytes() < 1<<20 || m.GetRssBytes() < m.GetHeapBytes() {
		t.Errorf("goroutines %d, heap %d, rss %d: want a running process's", m.GetGoroutines(), m.GetHeapBytes(), m.GetRssBytes())
	}
	if d := m.GetTime().AsTime(); time.Since(d) > 10*time.Second {
		t.Errorf("time %v", d)
	}
}

// healthRecorder is the real holder, and a channel to wait on each list.
type healthRecorder struct {
	*health.Holder
	got chan *proxyv1.HealthList
}

func (r healthRecorder) SetHealth(l *proxyv1.HealthList) {
	r.Holder.SetHealth(l)
	r.got <- l
}

func TestHealthListsReachTheHealthSetterUnanswered(t *testing.T) {
	cp := newFakeCP()
	rec := healthRecorder{Holder: &health.Holder{}, got: make(chan *proxyv1.HealthList, 4)}
	start(t, cp, events.NewQueue(100), Options{Health: rec})
	wait(t, cp.hellos, "hello")
	cp.snapshots <- snap(1, "http://127.0.0.1:9")
	if v := wait(t, cp.verdicts, "verdict on 1"); v.GetAck().GetVersion() != 1 {
		t.Fatalf("verdict on 1: %v", v)
	}
	cp.health <- &proxyv1.HealthList{Version: 4, Backends: []*proxyv1.BackendHealth{
		{RouteId: "a.test/", BackendUrl: "http://127.0.0.1:9", State: "down"},
	}}
	if l := wait(t, rec.got, "health list"); l.GetVersion() != 4 {
		t.Fatalf("list %v", l)
	}
	if !rec.Down("a.test/", "http://127.0.0.1:9") {
		t.Fatal("the route's backend is not down after the list said so")
	}
	// Not answered: the next answer on the stream is the verdict on the next snapshot.
	cp.snapshots <- snap(2, "http://127.0.0.1:9")
	if v := wait(t, cp.verdicts, "verdict on 2"); v.GetAck().GetVersion() != 2 {
		t.Fatalf("answer after a health list: %v, want the Ack of snapshot 2", v)
	}
}
