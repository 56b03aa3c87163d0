package geoip

import (
	"net/netip"
	"testing"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/geoip/geoiptest"
)

// FuzzOpen feeds damaged database files: loading fails or lookups answer, never a panic (the
// file on disk may be anything a download left there). Minimizing its large inputs is slow:
// go test -fuzz FuzzOpen -fuzztime 30s -fuzzminimizetime 5x
func FuzzOpen(f *testing.F) {
	good := geoiptest.Bytes(f, geoiptest.City, geoiptest.Networks)
	f.Add(good, uint16(0), byte(0))
	f.Add(good, uint16(200), byte(0xff))
	f.Add(good[:len(good)/2], uint16(7), byte(1))
	addrs := []netip.Addr{netip.MustParseAddr("81.2.69.1"), netip.MustParseAddr("2a02:ec0::1"), netip.MustParseAddr("8.8.8.8")}
	f.Fuzz(func(t *testing.T, data []byte, at uint16, b byte) {
		data = append([]byte(nil), data...)
		if len(data) > 0 {
			data[int(at)%len(data)] ^= b
		}
		db := &DB{}
		if db.open(data) != nil {
			return
		}
		for _, a := range addrs {
			_, _ = db.Lookup(a) // an error is fine; a panic is not
		}
	})
}
