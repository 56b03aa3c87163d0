package ratelimit

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// maxBytesPerEntry is the bound the Table's doc states.
const maxBytesPerEntry = 80

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestTableFloodBound pushes two million distinct addresses through a limiter: the table stays
// at its capacity, its memory within the stated bound, and it does not grow while the flood
// goes on (evictions do not leak map space).
func TestTableFloodBound(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a table with two million addresses")
	}
	before := heap()
	table := NewTable(DefaultCapacity)
	allocated := heap() - before
	c := &clock{t: t0}
	l, err := New(&proxyv1.RateLimit{PerIp: 100}, Options{RouteID: "r", Table: table, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	flood := func(from, n uint32) {
		for i := from; i < from+n; i++ {
			ip := netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
			if !l.Allow(ip, "/").Allowed {
				t.Fatalf("%v refused on its first request", ip)
			}
		}
	}
	flood(1<<24, 1_000_000)
	if n := table.Len(); n != table.Capacity() {
		t.Fatalf("%d entries after a million addresses, want the capacity %d", n, table.Capacity())
	}
	first := heap() - before
	flood(1<<25, 1_000_000)
	second := heap() - before
	runtime.KeepAlive(table)
	if n := table.Len(); n != table.Capacity() {
		t.Fatalf("%d entries after two million addresses, want %d", n, table.Capacity())
	}
	t.Logf("capacity %d: %d bytes after 1M addresses, %d after 2M (%.0f bytes per entry)",
		table.Capacity(), first, second, float64(second)/float64(table.Capacity()))
	if bound := uint64(maxBytesPerEntry*table.Capacity() + 64<<10); second > bound {
		t.Errorf("table uses %d bytes, over the stated bound of %d", second, bound)
	}
	// It starts small, grows to its bound with the first million, and not at all with the second.
	if allocated > 256<<10 {
		t.Errorf("a new table takes %d bytes, want it to grow with use", allocated)
	}
	if second > first+first/50 {
		t.Errorf("table grew from %d to %d bytes under the second million addresses", first, second)
	}
}

// TestTableEvictsLeastRecentlySeen checks that a client seen recently survives a flood of new
// ones that fills its shard, and the oldest do not.
func TestTableEvictsLeastRecentlySeen(t *testing.T) {
	table := NewTable(numShards * 4) // 4 entries per shard
	sl := func(i uint64) slot { return slot{client: Key{hi: i}, limit: 1} }
	// Find five slots of one shard.
	var same []slot
	want := sl(0).shard()
	for i := uint64(0); len(same) < 5; i++ {
		if sl(i).shard() == want {
			same = append(same, sl(i))
		}
	}
	for _, s := range same[:4] {
		sh, en := table.acquire(s)
		en.hits.cur = 7
		sh.mu.Unlock()
	}
	sh, _ := table.acquire(same[0]) // seen again: now the most recent
	sh.mu.Unlock()
	sh, _ = table.acquire(same[4]) // evicts the least recently seen: same[1]
	sh.mu.Unlock()
	for i, s := range same {
		sh, en := table.lookup(s)
		sh.mu.Unlock()
		if got, wantKept := en != nil, i != 1; got != wantKept {
			t.Errorf("slot %d kept %v, want %v", i, got, wantKept)
		}
	}
	if sh, en := table.lookup(same[0]); en == nil || en.hits.cur != 7 {
		t.Error("a kept entry lost its count")
		sh.mu.Unlock()
	} else {
		sh.mu.Unlock()
	}
}

// TestTableIndexInvariants churns a small table with random clients and checks after every
// step that each entry is found where the index says, and the index holds nothing else.
func TestTableIndexInvariants(t *testing.T) {
	table := NewTable(numShards * 8)
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 20_000 {
		sl := slot{client: Key{hi: rng.Uint64N(300)}, limit: rng.Uint64N(3)}
		sh, en := table.acquire(sl)
		en.hits.cur++
		sh.mu.Unlock()
		if step%97 != 0 {
			continue
		}
		for si := range table.shards {
			s := &table.shards[si]
			used := 0
			for _, v := range s.index {
				if v != 0 {
					used++
				}
			}
			if used != len(s.entries) {
				t.Fatalf("step %d shard %d: %d index slots for %d entries", step, si, used, len(s.entries))
			}
			for i := range s.entries {
				pos, ok := s.find(s.entries[i].slot, s.entries[i].slot.hash())
				if !ok || s.index[pos]-1 != int32(i) {
					t.Fatalf("step %d shard %d: entry %d not found by its slot", step, si, i)
				}
			}
		}
	}
}
