// Package requestid gives every request an id that the client, the backend, the error page and
// the access log all show, so that a report ("it failed, id …") leads to the log line.
package requestid

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"
)

// Header is the request and response header that carries the id, X-Request-ID, written in the
// canonical form that net/http uses as http.Header key (header names are case-insensitive), so
// that it can index a header map directly.
const Header = "X-Request-Id"

// MaxLen is the longest incoming id that is kept.
const MaxLen = 128

// Valid reports whether an incoming id is kept as it is: 1 to MaxLen characters of
// [A-Za-z0-9._:-]. That covers UUIDs, hex ids and trace ids of other proxies, and keeps
// anything that could break a log line, a header or an HTML page out.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// Generator makes new ids: 32 hex digits, a random 64-bit prefix drawn once per process
// followed by a 64-bit counter that starts at a random value. Ids are unique within a process
// by the counter and across processes and restarts by the prefix (a collision needs two of
// about four billion processes to draw the same prefix), and making one costs an atomic add
// and one allocation instead of a read from the system's random source per request.
type Generator struct {
	prefix  [16]byte // hex of the random prefix
	counter atomic.Uint64
}

// NewGenerator seeds a Generator from crypto/rand.
func NewGenerator() (*Generator, error) {
	var seed [16]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("seed request ids: %w", err)
	}
	g := &Generator{}
	hex.Encode(g.prefix[:], seed[:8])
	var start uint64
	for _, b := range seed[8:] {
		start = start<<8 | uint64(b)
	}
	g.counter.Store(start)
	return g, nil
}

// New returns a new id.
func (g *Generator) New() string {
	n := g.counter.Add(1)
	var buf [32]byte
	copy(buf[:16], g.prefix[:])
	var raw [8]byte
	for i := 7; i >= 0; i-- {
		raw[i] = byte(n)
		n >>= 8
	}
	hex.Encode(buf[16:], raw[:])
	return string(buf[:])
}

// FromHeader returns incoming when it is a Valid id, so that an id given by the client or an
// outer proxy is carried through, and a new id otherwise.
func (g *Generator) FromHeader(incoming string) string {
	if Valid(incoming) {
		return incoming
	}
	return g.New()
}
