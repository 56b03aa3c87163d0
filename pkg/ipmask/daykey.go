package ipmask

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"sync/atomic"
	"time"
)

// dayKeyLabel separates the day keys from any other use of the secret.
const dayKeyLabel = "proxy-manager ip-mask day key "

// DayKey derives the key that Hash uses on the UTC day of t: HMAC-SHA256(secret, label + the
// date as 2006-01-02). Every data plane given the same secret derives the same key, so an
// address hashes alike on all of them; nothing else is needed to rotate it.
func DayKey(secret []byte, t time.Time) [sha256.Size]byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(dayKeyLabel + t.UTC().Format(time.DateOnly)))
	var k [sha256.Size]byte
	mac.Sum(k[:0])
	return k
}

// dayKeys holds the key of the current day, prepared for HMAC, behind an atomic pointer: a
// request reads it without a lock, and the first request of a new day replaces it.
type dayKeys struct {
	secret []byte
	cur    atomic.Pointer[dayKey]
}

// dayKey is one day's key as HMAC's two padded blocks, so that hashing an address needs no
// allocation: HMAC(k, m) = SHA256(k⊕opad ‖ SHA256(k⊕ipad ‖ m)).
type dayKey struct {
	day        int64 // days since 1970-01-01 UTC
	ipad, opad [sha256.BlockSize]byte
}

func newDayKeys(secret []byte) *dayKeys {
	return &dayKeys{secret: secret}
}

// utcDay returns the number of the UTC day of t.
func utcDay(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// key returns the key of t's day, derived once per day (and after each snapshot, as every
// Masker has its own dayKeys).
func (d *dayKeys) key(t time.Time) *dayKey {
	day := utcDay(t)
	if k := d.cur.Load(); k != nil && k.day == day {
		return k
	}
	k := &dayKey{day: day}
	raw := DayKey(d.secret, t)
	for i := range k.ipad {
		k.ipad[i], k.opad[i] = 0x36, 0x5c
	}
	for i, b := range raw {
		k.ipad[i] ^= b
		k.opad[i] ^= b
	}
	// Keep the newest day: a request that started just before midnight, finishing after the
	// first of the new day, must not bring the old key back for everyone.
	for {
		old := d.cur.Load()
		if old != nil && old.day >= day {
			return k
		}
		if d.cur.CompareAndSwap(old, k) {
			return k
		}
	}
}

// hash returns the first 64 bits of HMAC-SHA256(day key, address) in hex. IPv4 addresses are
// hashed in their 16-byte mapped form, so an address hashes the same however it arrived.
func (d *dayKeys) hash(addr netip.Addr, t time.Time) string {
	k := d.key(t)
	var inner [sha256.BlockSize + 16]byte
	copy(inner[:], k.ipad[:])
	a := addr.As16()
	copy(inner[sha256.BlockSize:], a[:])
	in := sha256.Sum256(inner[:])
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], k.opad[:])
	copy(outer[sha256.BlockSize:], in[:])
	sum := sha256.Sum256(outer[:])
	var out [16]byte
	hex.Encode(out[:], sum[:8])
	return string(out[:])
}
