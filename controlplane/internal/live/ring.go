// Package live keeps the last requests of every data plane in memory for the live log view, and
// passes the failed ones on to the error log.
//
// The ring is bounded (Capacity entries, whatever the traffic) and lock-light: a writer takes
// its mutex once per event batch, a reader once per snapshot, each for a copy of at most
// Capacity entries and no allocation by the writer.
package live

import (
	"sync"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Capacity is how many requests the ring keeps.
const Capacity = 1000

// Ring holds the last Capacity requests, across data planes. The zero value is not usable; use
// NewRing. It is safe for concurrent use.
type Ring struct {
	mu    sync.Mutex
	buf   []store.LogEntry // len Capacity
	next  int              // index of the slot written next
	count int              // filled slots, up to len(buf)
}

// NewRing returns an empty ring of n entries (Capacity when n <= 0).
func NewRing(n int) *Ring {
	if n <= 0 {
		n = Capacity
	}
	return &Ring{buf: make([]store.LogEntry, n)}
}

// Add appends entries, oldest first, overwriting the oldest held when the ring is full.
func (r *Ring) Add(entries ...store.LogEntry) {
	if len(entries) > len(r.buf) {
		entries = entries[len(entries)-len(r.buf):]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		r.buf[r.next] = e
		r.next = (r.next + 1) % len(r.buf)
	}
	r.count = min(r.count+len(entries), len(r.buf))
}

// Snapshot returns a copy of the entries held, newest first, keeping those keep accepts (all
// when keep is nil), at most limit of them (all when limit <= 0).
func (r *Ring) Snapshot(limit int, keep func(*store.LogEntry) bool) []store.LogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.count
	if limit > 0 && keep == nil {
		n = min(n, limit)
	}
	out := make([]store.LogEntry, 0, n)
	for i := 1; i <= r.count && (limit <= 0 || len(out) < limit); i++ {
		e := &r.buf[(r.next-i+len(r.buf))%len(r.buf)]
		if keep == nil || keep(e) {
			out = append(out, *e)
		}
	}
	return out
}

// Entry is the log view of a request event reported by data plane nodeID.
func Entry(nodeID string, ev *proxyv1.RequestEvent) store.LogEntry {
	e := store.LogEntry{
		RequestID: ev.GetRequestId(), NodeID: nodeID, Route: ev.GetRouteId(), Host: ev.GetHost(),
		Method: ev.GetMethod(), Path: ev.GetPath(), Status: int(ev.GetStatus()),
		DurationMS: ev.GetDuration().AsDuration().Milliseconds(), BytesIn: int64(ev.GetBytesIn()),
		BytesOut: int64(ev.GetBytesOut()), ClientIP: ev.GetClientIp(), UserAgent: ev.GetUserAgent(),
		Backend: ev.GetBackend(), Protocol: ev.GetProtocol(), Error: ev.GetError(), Timeout: ev.GetTimeout(),
		BlockedBy: ev.GetBlockedBy(), Country: ev.GetCountry(), Retries: int64(ev.GetRetryCount()),
	}
	if ev.GetTime() != nil {
		e.Time = ev.GetTime().AsTime().UTC()
	}
	return e
}
