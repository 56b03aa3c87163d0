package geoip_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	geoip2 "github.com/oschwald/geoip2-golang/v2"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/geoip"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/geoip/geoiptest"
)

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	city, country := filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "country.mmdb")
	geoiptest.Write(t, city, geoiptest.City, geoiptest.Networks)
	geoiptest.Write(t, country, geoiptest.Country, geoiptest.Networks)
	tests := []struct {
		desc, addr    string
		city, country geoip.Location
	}{
		{"IPv4 in a city", "81.2.69.142", geoip.Location{"GB", "London"}, geoip.Location{"GB", ""}},
		{"a city name beyond ASCII", "89.160.20.112", geoip.Location{"SE", "Linköping"}, geoip.Location{"SE", ""}},
		{"IPv6", "2a02:ec0::1", geoip.Location{"DE", "Berlin"}, geoip.Location{"DE", ""}},
		{"a network without city", "2001:480::5", geoip.Location{"US", ""}, geoip.Location{"US", ""}},
		{"IPv4-mapped IPv6", "::ffff:81.2.69.1", geoip.Location{"GB", "London"}, geoip.Location{"GB", ""}},
		{"not in the database", "8.8.8.8", geoip.Location{}, geoip.Location{}},
		{"private", "192.168.1.1", geoip.Location{}, geoip.Location{}},
		{"loopback IPv6", "::1", geoip.Location{}, geoip.Location{}},
	}
	cityDB := geoip.NewSource(nil, 0).Use(city)
	countryDB := geoip.NewSource(nil, 0).Use(country)
	if cityDB.Type() != geoiptest.City || countryDB.Type() != geoiptest.Country {
		t.Fatalf("types %q %q", cityDB.Type(), countryDB.Type())
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			addr := netip.MustParseAddr(tc.addr)
			if got, err := cityDB.Lookup(addr); err != nil || got != tc.city {
				t.Errorf("city database: %+v, %v; want %+v", got, err, tc.city)
			}
			if got, err := countryDB.Lookup(addr); err != nil || got != tc.country {
				t.Errorf("country database: %+v, %v; want %+v", got, err, tc.country)
			}
		})
	}
}

func TestOff(t *testing.T) {
	var db *geoip.DB
	if _, err := db.Lookup(netip.MustParseAddr("81.2.69.1")); err != geoip.ErrNotLoaded {
		t.Fatalf("nil DB: %v", err)
	}
	if db := geoip.NewSource(nil, 0).Use(""); db != nil {
		t.Fatalf("empty path gave %v", db)
	}
}

// observed returns a Source logging into an observer, and the observer.
func observed(interval time.Duration) (*geoip.Source, *observer.ObservedLogs) {
	core, logs := observer.New(zap.InfoLevel)
	return geoip.NewSource(zap.New(core), interval), logs
}

func warnings(logs *observer.ObservedLogs) int {
	return logs.FilterLevelExact(zap.WarnLevel).Len()
}

func TestMissingFileThenAppears(t *testing.T) {
	path := filepath.Join(t.TempDir(), "GeoLite2-City.mmdb")
	src, logs := observed(0)
	db := src.Use(path)
	if db == nil {
		t.Fatal("a configured path gives a DB even when the file is missing")
	}
	addr := netip.MustParseAddr("81.2.69.1")
	if _, err := db.Lookup(addr); err != geoip.ErrNotLoaded {
		t.Fatalf("missing file: %v", err)
	}
	src.Check()
	src.Check()
	if n := warnings(logs); n != 1 {
		t.Fatalf("%d warnings for a missing file, want one", n)
	}
	geoiptest.Write(t, path, geoiptest.City, geoiptest.Networks)
	src.Check()
	if loc, err := db.Lookup(addr); err != nil || loc.Country != "GB" {
		t.Fatalf("after the file appeared: %+v, %v", loc, err)
	}
	if src.Use(path) != db {
		t.Fatal("the same path must give the same DB, not a reopened one")
	}
}

func TestInvalidFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		desc    string
		content []byte
	}{
		{"empty", nil},
		{"not a database", []byte("<html>rate limited</html>")},
		{"truncated", geoiptest.Bytes(t, geoiptest.City, geoiptest.Networks)[:100]},
		{"another database type", geoiptest.Bytes(t, "GeoLite2-ASN", geoiptest.Networks)},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(dir, tc.desc+".mmdb")
			if err := os.WriteFile(path, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			src, logs := observed(0)
			db := src.Use(path)
			if _, err := db.Lookup(netip.MustParseAddr("81.2.69.1")); err != geoip.ErrNotLoaded {
				t.Fatalf("invalid file: %v", err)
			}
			if n := warnings(logs); n != 1 {
				t.Fatalf("%d warnings, want one", n)
			}
		})
	}
}

func TestReload(t *testing.T) {
	moved := []geoiptest.Network{{CIDR: "81.2.69.0/24", Country: "FR", City: "Paris"}}
	tests := []struct {
		desc    string
		replace func(t *testing.T, path string)
	}{
		{"renamed over", func(t *testing.T, path string) { geoiptest.Write(t, path, geoiptest.City, moved) }},
		{"rewritten in place", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(geoiptest.Bytes(t, geoiptest.City, moved)); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{"symlink swapped", func(t *testing.T, path string) {
			target := filepath.Join(filepath.Dir(path), "v2.mmdb")
			geoiptest.Write(t, target, geoiptest.City, moved)
			tmp := path + ".new"
			if err := os.Symlink(target, tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "GeoLite2-City.mmdb")
			geoiptest.Write(t, path, geoiptest.City, geoiptest.Networks)
			src, _ := observed(10 * time.Millisecond)
			db := src.Use(path)
			addr := netip.MustParseAddr("81.2.69.1")
			if loc, _ := db.Lookup(addr); loc.Country != "GB" {
				t.Fatalf("before: %+v", loc)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { src.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			tc.replace(t, path)
			deadline := time.Now().Add(5 * time.Second)
			for {
				loc, err := db.Lookup(addr)
				if err != nil {
					t.Fatal(err)
				}
				if loc == (geoip.Location{Country: "FR", City: "Paris"}) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not reloaded: %+v", loc)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// A database that turns bad keeps the good one in use; lookups go on during reloads.
func TestBadReplacementKeepsLoaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "GeoLite2-City.mmdb")
	geoiptest.Write(t, path, geoiptest.City, geoiptest.Networks)
	src, logs := observed(0)
	db := src.Use(path)
	addr := netip.MustParseAddr("81.2.69.1")

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // concurrent lookups while the file changes under them
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := db.Lookup(addr); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for i := range 20 {
		nets := geoiptest.Networks
		if i%2 == 1 {
			nets = []geoiptest.Network{{CIDR: "81.2.69.0/24", Country: "FR"}}
		}
		geoiptest.Write(t, path, geoiptest.Country, nets)
		src.Check()
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	src.Check()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	src.Check()
	close(stop)
	<-done
	if loc, err := db.Lookup(addr); err != nil || loc.Country != "FR" {
		t.Fatalf("after a bad file and a removal, the last good database stays: %+v, %v", loc, err)
	}
	if n := warnings(logs); n != 2 {
		t.Fatalf("%d warnings, want 2 (invalid, then missing)", n)
	}
}

func BenchmarkLookup(b *testing.B) {
	path := filepath.Join(b.TempDir(), "GeoLite2-City.mmdb")
	geoiptest.Write(b, path, geoiptest.City, geoiptest.Networks)
	db := geoip.NewSource(nil, 0).Use(path)
	for _, addr := range []string{"81.2.69.142", "2a02:ec0::1", "8.8.8.8"} {
		b.Run(addr, func(b *testing.B) {
			a := netip.MustParseAddr(addr)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.Lookup(a); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGeoIP2City is the same lookup through geoip2-golang's City model, which decodes
// the whole record: the reason Lookup decodes only country and city itself.
func BenchmarkGeoIP2City(b *testing.B) {
	r, err := geoip2.OpenBytes(geoiptest.Bytes(b, geoiptest.City, geoiptest.Networks))
	if err != nil {
		b.Fatal(err)
	}
	a := netip.MustParseAddr("81.2.69.142")
	b.ReportAllocs()
	for b.Loop() {
		c, err := r.City(a)
		if err != nil || c.Country.ISOCode != "GB" {
			b.Fatal(c, err)
		}
	}
}

// The snapshot names the path: the same path keeps its DB (opened once), another path gets its
// own, and an empty one turns GeoIP off.
func TestUseSwitchesPath(t *testing.T) {
	dir := t.TempDir()
	city, country := filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "country.mmdb")
	geoiptest.Write(t, city, geoiptest.City, geoiptest.Networks)
	geoiptest.Write(t, country, geoiptest.Country, geoiptest.Networks)
	src, logs := observed(0)
	a := src.Use(city)
	if src.Use(city) != a {
		t.Fatal("same path reopened")
	}
	b := src.Use(country)
	if b == a || b.Type() != geoiptest.Country || b.Path() != country {
		t.Fatalf("switched to %s (%s)", b.Path(), b.Type())
	}
	// The DB of the previous snapshot still answers for the requests that hold it.
	if loc, err := a.Lookup(netip.MustParseAddr("81.2.69.1")); err != nil || loc.City != "London" {
		t.Fatalf("previous DB: %+v %v", loc, err)
	}
	if src.Use("") != nil {
		t.Fatal("empty path must be off")
	}
	if n := logs.FilterMessage("geoip database loaded").Len(); n != 2 {
		t.Fatalf("loaded %d times, want 2", n)
	}
}
