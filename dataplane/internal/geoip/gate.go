package geoip

import (
	"hash/maphash"
	"sync/atomic"
	"time"
)

// gateSlots is the size of a Gate's table: 64 KiB, whatever the number of clients.
const gateSlots = 8192

// Gate lets at most one event per client and minute through, so that a flood of refused
// requests does not become a flood of security events. It is a fixed table of slots indexed by
// a hash of the client: two clients sharing a slot only cost each other suppressions, so a
// client may occasionally get a second event in a minute, never fewer than one when it is
// alone in its slot. It takes no lock.
type Gate struct {
	seed  maphash.Seed
	slots [gateSlots]atomic.Uint64 // the client's hash in the high 40 bits, the minute in the low 24
}

// NewGate returns an empty Gate.
func NewGate() *Gate { return &Gate{seed: maphash.MakeSeed()} }

// Allow reports whether an event for client at now may go out, and if so records it.
func (g *Gate) Allow(client string, now time.Time) bool {
	h := maphash.String(g.seed, client)
	slot := &g.slots[h%gateSlots]
	v := h&^(1<<24-1) | uint64(now.Unix()/60)&(1<<24-1)
	old := slot.Load()
	if old == v {
		return false
	}
	return slot.CompareAndSwap(old, v)
}
