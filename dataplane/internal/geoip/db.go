// Package geoip resolves client addresses to a country and city with a MaxMind .mmdb database
// (GeoLite2/GeoIP2 City or Country), and enforces the routes' GeoIP policies: allowed and
// blocked countries, and the alert on logins from an unusual country.
//
// The database is read into memory, not memory-mapped: a file rewritten or truncated in place
// (cp over it, a half-finished download) would make a mapped reader fault and kill the process.
// A reader in memory is never closed; once no request holds it, the garbage collector frees it,
// so a reload never waits for lookups nor races with them.
package geoip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"go.uber.org/zap"
)

// DefaultPollInterval is how often Run looks at the database file for a new version.
const DefaultPollInterval = 10 * time.Second

// maxFileSize bounds what is read into memory: GeoLite2-City is about 60 MB.
const maxFileSize = 1 << 30

// databaseTypes are the metadata types whose records carry country (and for a City database,
// city) the way the GeoIP2 City and Country schemas do; geoip2-golang accepts the same.
var databaseTypes = map[string]bool{
	"GeoLite2-City": true, "GeoLite2-Country": true, "GeoIP2-City": true, "GeoIP2-Country": true,
	"GeoIP2-Precision-City": true, "GeoIP2-Enterprise": true, "GeoIP2-City-Europe": true,
	"GeoIP2-City-Africa": true, "GeoIP2-City-Asia-Pacific": true, "GeoIP2-City-North-America": true,
	"GeoIP2-City-South-America": true, "GeoIP-City-Redacted-US": true, "GeoIP-Enterprise-Redacted-US": true,
	"DBIP-City-Lite": true, "DBIP-Country-Lite": true, "DBIP-Country": true, "DBIP-Location (compat=City)": true,
}

// Location is where an address is, as far as the database knows: an ISO 3166-1 alpha-2 country
// code and the city's English name. Either may be empty (a Country database has no cities).
type Location struct {
	Country string
	City    string
}

// Source keeps the database the current snapshot names, loaded and up to date. It is created
// once by the data plane and shared by every snapshot: a path is opened once, not per snapshot.
type Source struct {
	log      *zap.Logger
	interval time.Duration
	mu       sync.Mutex // serialises Use and the checks of the file
	current  *DB        // under mu
}

// NewSource returns a Source that logs through log (nil: no logging) and, in Run, looks at
// the file every interval (0: DefaultPollInterval).
func NewSource(log *zap.Logger, interval time.Duration) *Source {
	if log == nil {
		log = zap.NewNop()
	}
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	return &Source{log: log, interval: interval}
}

// Use returns the database at path, loading it now if it is not the one in use (each snapshot
// calls it; the same path is not reopened). An empty path, or a nil Source, means GeoIP off:
// Use returns nil, whose lookups find nothing. A file that is missing or not a usable database
// is logged once, and its DB finds nothing until Run sees a good file there.
func (s *Source) Use(path string) *DB {
	if s == nil {
		return nil
	}
	if path == "" {
		s.mu.Lock()
		s.current = nil
		s.mu.Unlock()
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && s.current.path == path {
		return s.current
	}
	// The previous DB keeps its reader for the Runtime that still holds it, but is no longer
	// watched.
	s.current = &DB{path: path}
	s.check(s.current)
	return s.current
}

// Run looks at the file in use every interval and reloads it when it changed, until ctx ends.
// It polls (a stat per interval) rather than watch with inotify: a bind-mounted file replaced
// on the host, a network file system or a Swarm volume give no events inside the container,
// while a stat sees every kind of replacement (rename over, rewrite, symlink swap).
func (s *Source) Run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Check()
		}
	}
}

// Check reloads the file in use if it changed since it was last looked at.
func (s *Source) Check() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil {
		s.check(s.current)
	}
}

// check loads db's file if it is not the version last seen. Called with s.mu held.
func (s *Source) check(db *DB) {
	fi, err := os.Stat(db.path)
	if err == nil && db.seen != nil && sameVersion(db.seen, fi) {
		return
	}
	if err == nil {
		db.seen = fi
		err = db.load()
	}
	if err == nil {
		db.problem = ""
		s.log.Info("geoip database loaded", zap.String("path", db.path), zap.String("type", db.Type()))
		return
	}
	if msg := err.Error(); msg != db.problem { // one warning per problem, not one per poll
		db.problem = msg
		state := "GeoIP is off until a valid file appears there"
		if db.reader.Load() != nil {
			state = "the database loaded before stays in use"
		}
		s.log.Warn("geoip database unusable: "+state, zap.String("path", db.path), zap.Error(err))
	}
}

// sameVersion reports whether fi describes the file version already loaded: same file (inode)
// and same size and modification time. A rename over the file changes the inode; a rewrite in
// place changes the time.
func sameVersion(old, fi os.FileInfo) bool {
	return os.SameFile(old, fi) && old.Size() == fi.Size() && old.ModTime().Equal(fi.ModTime())
}

// DB is one database file. Lookups are safe for concurrent use and never block: a reload swaps
// the reader with one atomic store. The nil *DB is GeoIP off.
type DB struct {
	path   string
	reader atomic.Pointer[reader]
	// Under Source.mu: the file version last looked at and the problem last logged.
	seen    os.FileInfo
	problem string
	// records are reused by Lookup: Decode takes an interface, so a record on the stack would
	// escape to the heap on every lookup.
	records sync.Pool
}

type reader struct {
	mmdb *maxminddb.Reader
	typ  string
}

// load reads the file into memory and makes it the reader lookups use. On error the current
// reader, if any, stays.
func (db *DB) load() error {
	f, err := os.Open(db.path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > maxFileSize {
		return fmt.Errorf("file of %d bytes is larger than %d", fi.Size(), maxFileSize)
	}
	buf := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return db.open(buf)
}

// open makes the database in buf the reader lookups use.
func (db *DB) open(buf []byte) error {
	m, err := maxminddb.OpenBytes(buf)
	if err != nil {
		return fmt.Errorf("not a MaxMind database: %w", err)
	}
	if typ := m.Metadata.DatabaseType; !databaseTypes[typ] {
		return fmt.Errorf("database type %q is not a GeoIP2/GeoLite2 City or Country database", typ)
	}
	// No m.Verify(): it walks the whole file (seconds for a City database) and is needed only
	// for custom decoders; the reflection decoder Lookup uses checks every offset and returns
	// an error for corrupt data.
	db.reader.Store(&reader{mmdb: m, typ: m.Metadata.DatabaseType})
	return nil
}

// Path returns the file the DB reads ("" for nil).
func (db *DB) Path() string {
	if db == nil {
		return ""
	}
	return db.path
}

// Type returns the database type of the loaded file, "" when none is loaded.
func (db *DB) Type() string {
	if db == nil {
		return ""
	}
	if r := db.reader.Load(); r != nil {
		return r.typ
	}
	return ""
}

// record is the part of a City or Country record a lookup decodes; the rest is skipped.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	City struct {
		Names struct {
			English string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
}

// ErrNotLoaded is returned by Lookup when no database is loaded (GeoIP off).
var ErrNotLoaded = errors.New("no geoip database loaded")

// Lookup returns the location of addr. An address the database does not know (a private one,
// or a network it lacks) gives an empty Location and no error; ErrNotLoaded means GeoIP is off.
func (db *DB) Lookup(addr netip.Addr) (Location, error) {
	if db == nil {
		return Location{}, ErrNotLoaded
	}
	r := db.reader.Load()
	if r == nil {
		return Location{}, ErrNotLoaded
	}
	// The record's strings come from the reader's string cache: a lookup allocates nothing.
	rec, _ := db.records.Get().(*record)
	if rec == nil {
		rec = new(record)
	}
	*rec = record{}
	err := r.mmdb.Lookup(addr.Unmap()).Decode(rec)
	loc := Location{Country: rec.Country.ISOCode, City: rec.City.Names.English}
	db.records.Put(rec)
	if err != nil {
		return Location{}, fmt.Errorf("geoip lookup %s: %w", addr, err)
	}
	return loc, nil
}
