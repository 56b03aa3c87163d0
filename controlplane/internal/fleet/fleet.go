// Package fleet knows every data plane and hands each the current snapshot.
//
// Snapshot rules (the contract in proto/proxy/v1/snapshot.proto, enforced here):
//   - a stream starts with Hello; the node is sent the current snapshot unless it already holds
//     exactly that version;
//   - every version sent is answered by one Ack or Nack; a version a node NACKed is never sent to
//     that node again, on this stream or after a reconnect: only a newer version is;
//   - versions only grow; Publish ignores a snapshot that is not newer than the current one.
//
// Ban rules (rule 5 of the contract): the ban list travels on the same stream, apart from
// snapshots and never acknowledged. Right after Hello a node is sent the current BanList (before
// any snapshot, so a new data plane refuses banned clients from its first request), then every
// list published later. A node that falls behind gets only the newest list: each one replaces
// the previous, so skipping one loses nothing.
//
// Health rules: the health list (the control plane's active health checks) travels the same
// way as the ban list: the current one right after Hello, then every one published later,
// newest only, never acknowledged. The maintenance list (routes answering with their maintenance
// page) too.
package fleet

import (
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Fleet is safe for concurrent use.
type Fleet struct {
	log *zap.Logger
	now func() time.Time

	mu      sync.Mutex
	current *proxyv1.Snapshot
	changed chan struct{} // closed and replaced by Publish: a broadcast to every stream
	bans    *proxyv1.BanList
	bansNew chan struct{} // closed and replaced by PublishBans
	nodes   map[string]*node

	health    *proxyv1.HealthList
	healthNew chan struct{} // closed and replaced by PublishHealth

	maint    *proxyv1.MaintenanceList
	maintNew chan struct{} // closed and replaced by PublishMaintenance
}

// node is what the control plane remembers of one data plane.
type node struct {
	id, binaryVersion, peer string
	stream                  uint64 // id of the live stream, 0 when disconnected
	connectedSince          time.Time
	lastSeen                time.Time
	applied                 uint64
	lastAck                 time.Time
	nackVersion             uint64
	nackReason              string
	batches, stored         uint64
	dropped                 uint64
}

// New returns an empty fleet with no snapshot.
func New(log *zap.Logger) *Fleet {
	f := &Fleet{log: log, now: time.Now, changed: make(chan struct{}), bansNew: make(chan struct{}), nodes: make(map[string]*node)}
	f.healthNew, f.maintNew = make(chan struct{}), make(chan struct{})
	return f
}

// Publish makes s the snapshot every data plane should run. s must not be modified afterwards.
func (f *Fleet) Publish(s *proxyv1.Snapshot) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.current != nil && s.GetVersion() <= f.current.GetVersion() {
		f.log.Warn("snapshot not newer than the current one; ignored",
			zap.Uint64("version", s.GetVersion()), zap.Uint64("current", f.current.GetVersion()))
		return false
	}
	f.current = s
	close(f.changed)
	f.changed = make(chan struct{})
	return true
}

// Current returns the current snapshot (nil before the first Publish) and a channel closed on the
// next Publish.
func (f *Fleet) Current() (*proxyv1.Snapshot, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current, f.changed
}

// PublishBans makes l the ban list every data plane enforces, replacing the previous one. l must
// not be modified afterwards. Until the first call, streams carry no ban list.
func (f *Fleet) PublishBans(l *proxyv1.BanList) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bans = l
	close(f.bansNew)
	f.bansNew = make(chan struct{})
}

// Bans returns the current ban list (nil before the first PublishBans) and a channel closed on
// the next PublishBans.
func (f *Fleet) Bans() (*proxyv1.BanList, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bans, f.bansNew
}

// PublishHealth makes l the health list every data plane holds, replacing the previous one. l
// must not be modified afterwards. Until the first call, streams carry no health list.
func (f *Fleet) PublishHealth(l *proxyv1.HealthList) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.health = l
	close(f.healthNew)
	f.healthNew = make(chan struct{})
}

// Health returns the current health list (nil before the first PublishHealth) and a channel
// closed on the next PublishHealth.
func (f *Fleet) Health() (*proxyv1.HealthList, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health, f.healthNew
}

// PublishMaintenance makes l the maintenance list every data plane enforces, replacing the
// previous one. l must not be modified afterwards. Until the first call, streams carry none.
func (f *Fleet) PublishMaintenance(l *proxyv1.MaintenanceList) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maint = l
	close(f.maintNew)
	f.maintNew = make(chan struct{})
}

// Maintenance returns the current maintenance list (nil before the first PublishMaintenance)
// and a channel closed on the next PublishMaintenance.
func (f *Fleet) Maintenance() (*proxyv1.MaintenanceList, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maint, f.maintNew
}

// RecordBatch counts an event batch received from a node (stored is false for a re-sent batch).
func (f *Fleet) RecordBatch(nodeID string, events int, stored bool, dropped uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodeLocked(nodeID)
	n.lastSeen = f.now()
	if stored {
		n.batches++
		n.stored += uint64(events)
		n.dropped += dropped
	}
}

func (f *Fleet) nodeLocked(id string) *node {
	n, ok := f.nodes[id]
	if !ok {
		n = &node{id: id}
		f.nodes[id] = n
	}
	return n
}

// Dataplanes describes every node seen since the control plane started, sorted by node id.
func (f *Fleet) Dataplanes() []*proxyv1.Dataplane {
	f.mu.Lock()
	defer f.mu.Unlock()
	var cur uint64
	if f.current != nil {
		cur = f.current.GetVersion()
	}
	out := make([]*proxyv1.Dataplane, 0, len(f.nodes))
	for _, n := range f.nodes {
		d := &proxyv1.Dataplane{
			NodeId:         n.id,
			BinaryVersion:  n.binaryVersion,
			Connected:      n.stream != 0,
			AppliedVersion: n.applied,
			NackVersion:    n.nackVersion,
			NackReason:     n.nackReason,
			PeerAddress:    n.peer,
			EventBatches:   n.batches,
			EventsStored:   n.stored,
			EventsDropped:  n.dropped,
			LastAckTime:    ts(n.lastAck),
			ConnectedSince: ts(n.connectedSince),
			LastSeen:       ts(n.lastSeen),
		}
		if cur > n.applied {
			d.Lag = cur - n.applied
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeId < out[j].NodeId })
	return out
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
