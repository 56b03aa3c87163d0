package ratelimit

import (
	"sync"
)

// Table holds the per-client counters of every limit of every route of a data plane, in a
// fixed number of entries: a flood of distinct addresses evicts the least recently seen
// clients instead of growing the table. It is shared across snapshots (a reload keeps the
// counts of limits that did not change) and split into shards, each with its own lock, so that
// requests of different clients rarely wait for each other.
//
// A shard grows with the clients it sees, by doubling, up to its share of the capacity, and
// never beyond: 72 bytes per entry plus 8 for its index (an open-addressing hash table at most
// half full; Go's maps grow under the churn of constant eviction, this does not). A full table
// of capacity n takes 80 × n bytes: 10.5 MB for DefaultCapacity (TestTableFloodBound measures
// it). Growing instead of allocating it all at once keeps a quiet data plane's heap, and with it
// the garbage collector's target, small.
type Table struct {
	shards   [numShards]shard
	perShard int
}

const (
	numShards  = 64
	shardShift = 64 - 6 // the top 6 bits of a slot's hash pick its shard
	// DefaultCapacity is the number of clients × limits a Table tracks by default.
	DefaultCapacity = 1 << 17
)

// slot names one counter: a client under one limit.
type slot struct {
	client Key
	limit  uint64 // the limit's id (limitID)
}

// entry is one client's state under one limit.
type entry struct {
	slot slot
	// hits counts the requests let through (or, for failed logins, the failures).
	hits window
	// strikes counts the violations toward a ban.
	strikes window
	// noticed is 1 + the fixed window in which the client's last refusal was reported, so that
	// a refused client makes one security event per window, not one per request.
	noticed int64
	// older and newer link the shard's entries from the most to the least recently seen.
	older, newer int32
}

type shard struct {
	mu      sync.Mutex
	entries []entry // len = entries in use; cap grows up to the table's perShard
	// index maps a slot's hash to 1 + its entry's position (0: empty), linear probing.
	index []int32
	mask  uint64
	// newest and oldest are the ends of the recency list, -1 when the shard is empty.
	newest, oldest int32
	_              [64]byte // keep shards' locks on separate cache lines
}

// NewTable returns a Table of capacity entries (DefaultCapacity if capacity <= 0), rounded up
// to a multiple of its shard count.
func NewTable(capacity int) *Table {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	t := &Table{perShard: (capacity + numShards - 1) / numShards}
	for i := range t.shards {
		s := &t.shards[i]
		s.resize(min(initialShard, t.perShard))
		s.newest, s.oldest = -1, -1
	}
	return t
}

// initialShard is the number of entries a shard starts with.
const initialShard = 16

// resize gives the shard room for n entries, keeping the ones it holds (and their positions,
// which the recency list links by), with an index at most half full.
func (s *shard) resize(n int) {
	entries := make([]entry, len(s.entries), n)
	copy(entries, s.entries)
	size := 1
	for size < 2*n {
		size <<= 1
	}
	s.entries, s.index, s.mask = entries, make([]int32, size), uint64(size-1)
	for i := range s.entries {
		sl := s.entries[i].slot
		pos, _ := s.find(sl, sl.hash())
		s.index[pos] = int32(i) + 1
	}
}

// Capacity is the most entries the table holds.
func (t *Table) Capacity() int { return t.perShard * numShards }

// Len counts the entries held now.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}

func (s slot) hash() uint64 {
	h := s.client.hi*0x9e3779b97f4a7c15 ^ s.client.lo*0xc2b2ae3d27d4eb4f ^ s.limit*0x165667b19e3779f9
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>29
}

func (s slot) shard() int { return int(s.hash() >> shardShift) }

// acquire locks the shard of sl and returns its entry, created if the client is new (taking
// the place of the shard's least recently seen entry when the shard is full), and marked as
// the most recently seen. The caller unlocks the shard.
func (t *Table) acquire(sl slot) (*shard, *entry) {
	h := sl.hash()
	s := &t.shards[h>>shardShift]
	s.mu.Lock()
	pos, found := s.find(sl, h)
	if found {
		i := s.index[pos] - 1
		s.touch(i)
		return s, &s.entries[i]
	}
	if len(s.entries) == cap(s.entries) && cap(s.entries) < t.perShard {
		s.resize(min(2*cap(s.entries), t.perShard))
		pos, _ = s.find(sl, h)
	}
	var i int32
	if len(s.entries) < cap(s.entries) {
		s.entries = s.entries[:len(s.entries)+1]
		i = int32(len(s.entries) - 1)
	} else {
		i = s.oldest
		s.unlink(i)
		s.remove(s.entries[i].slot)
		pos, _ = s.find(sl, h) // the removal may have moved the free position
	}
	s.entries[i] = entry{slot: sl, older: -1, newer: -1}
	s.index[pos] = i + 1
	s.pushNewest(i)
	return s, &s.entries[i]
}

// lookup locks the shard of sl and returns its entry, nil if there is none. The caller
// unlocks the shard.
func (t *Table) lookup(sl slot) (*shard, *entry) {
	h := sl.hash()
	s := &t.shards[h>>shardShift]
	s.mu.Lock()
	if pos, ok := s.find(sl, h); ok {
		return s, &s.entries[s.index[pos]-1]
	}
	return s, nil
}

// find returns the index position of sl, or the empty position where it would go.
func (s *shard) find(sl slot, h uint64) (uint64, bool) {
	for p := h & s.mask; ; p = (p + 1) & s.mask {
		v := s.index[p]
		if v == 0 {
			return p, false
		}
		if s.entries[v-1].slot == sl {
			return p, true
		}
	}
}

// remove deletes sl from the index, shifting later entries of its probe run back so that no
// tombstone is left (the index never degrades under churn).
func (s *shard) remove(sl slot) {
	i, ok := s.find(sl, sl.hash())
	if !ok {
		return
	}
	s.index[i] = 0
	for j := (i + 1) & s.mask; s.index[j] != 0; j = (j + 1) & s.mask {
		home := s.entries[s.index[j]-1].slot.hash() & s.mask
		// The entry at j may move to i if its home is not in the cyclic range (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			s.index[i], s.index[j] = s.index[j], 0
			i = j
		}
	}
}

func (s *shard) touch(i int32) {
	if s.newest == i {
		return
	}
	s.unlink(i)
	s.pushNewest(i)
}

func (s *shard) unlink(i int32) {
	e := &s.entries[i]
	if e.older >= 0 {
		s.entries[e.older].newer = e.newer
	} else {
		s.oldest = e.newer
	}
	if e.newer >= 0 {
		s.entries[e.newer].older = e.older
	} else {
		s.newest = e.older
	}
	e.older, e.newer = -1, -1
}

func (s *shard) pushNewest(i int32) {
	e := &s.entries[i]
	e.older, e.newer = s.newest, -1
	if s.newest >= 0 {
		s.entries[s.newest].newer = i
	}
	s.newest = i
	if s.oldest < 0 {
		s.oldest = i
	}
}
