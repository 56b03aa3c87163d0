package maintenance

import (
	"sort"
	"sync"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// circuits remembers which data planes hold an open (or half-open) circuit breaker for which
// backend. Only backends of the snapshot in force are kept, and only nodes that report events,
// so it stays as small as the fleet times its backends.
type circuits struct {
	mu   sync.Mutex
	open map[string]map[string]struct{} // backend URL → node ids
}

// ObserveBatch (an ingest.Observer) records the circuit events of a batch stored now, and makes
// Run publish when a route's state changed. It only takes a small lock: it runs on the stream.
func (m *Manager) ObserveBatch(b *proxyv1.EventBatch, stored bool, _ time.Duration, err error) {
	if !stored || err != nil || len(b.GetCircuits()) == 0 {
		return
	}
	known := m.backends()
	changed := false
	m.circuits.mu.Lock()
	for _, c := range b.GetCircuits() {
		backend := c.GetBackend()
		if !known[backend] {
			continue
		}
		nodes := m.circuits.open[backend]
		_, was := nodes[b.GetNodeId()]
		switch c.GetTo() {
		case "closed":
			if was {
				delete(nodes, b.GetNodeId())
				if len(nodes) == 0 {
					delete(m.circuits.open, backend)
				}
				changed = true
			}
		case "open", "half-open": // half-open still refuses most requests: keep the page
			if !was {
				if nodes == nil {
					nodes = map[string]struct{}{}
					m.circuits.open[backend] = nodes
				}
				nodes[b.GetNodeId()] = struct{}{}
				changed = true
			}
		}
	}
	m.circuits.mu.Unlock()
	if changed {
		m.poke()
	}
}

// prune forgets backends that left the snapshot.
func (c *circuits) prune(known map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for b := range c.open {
		if !known[b] {
			delete(c.open, b)
		}
	}
}

// routes are the routes of the snapshot in force whose backend has an open circuit, sorted.
func (c *circuits) routes(snaps Snapshots) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.open) == 0 {
		return nil
	}
	snap, _ := snaps.Current()
	var out []string
	for _, r := range snap.GetRoutes() {
		if _, ok := c.open[r.GetBackendUrl()]; ok {
			out = append(out, r.GetId())
		}
	}
	sort.Strings(out)
	return out
}

// CircuitOpen lists the routes shown in maintenance because of an open circuit.
func (m *Manager) CircuitOpen() []string { return m.circuits.routes(m.snaps) }
