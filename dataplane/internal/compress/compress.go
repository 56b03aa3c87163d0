// Package compress is the route's response compression (#27): brotli, zstd and gzip, chosen
// by the client's Accept-Encoding among the algorithms the route allows, applied as the
// response streams through (nothing larger than min_size is ever buffered).
//
// A Policy is compiled once per route and snapshot by New. Per request, Wrap negotiates the
// encoding and returns a writer that decides when the response's header is written whether to
// compress it. It never compresses:
//   - a HEAD request, or a client that accepts none of the route's algorithms;
//   - a response with a Content-Encoding already, a 206 or a Content-Range, a 1xx, 204 or 304;
//   - a response with Cache-Control: no-transform;
//   - a response whose media type (without parameters) is not one of content_types, or that
//     has no Content-Type;
//   - a response smaller than min_size: known from Content-Length, else the first min_size
//     bytes are held back until it is clear the body is at least that long (the end of the
//     body or a Flush decides earlier; a flushed response is a stream and is compressed).
//
// A compressed response gets Content-Encoding, Vary: Accept-Encoding (added to what the
// backend sent), no Content-Length and no Accept-Ranges, and a strong ETag becomes weak (the
// bytes differ from the uncompressed representation's). Flush flushes the encoder and then the
// connection, so streams keep streaming; Hijack and Unwrap reach the writer below.
package compress

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// DefaultContentTypes are compressed when content_types is empty.
var DefaultContentTypes = []string{
	"text/html", "text/css", "text/plain", "text/javascript", "application/javascript",
	"application/json", "application/xml", "image/svg+xml",
}

// DefaultAlgorithms is the preference order when algorithms is empty: zstd at its default
// level is both smaller and three to four times faster than brotli at 4 (see encoders.go);
// brotli next for Safari, which lacks zstd; gzip for everyone else.
var DefaultAlgorithms = []string{Zstd, Brotli, Gzip}

// Result is what compression did to one response, for its event: Encoding is the
// Content-Encoding applied ("" for none); BytesIn and BytesOut are the body bytes before and
// after it (equal when nothing was compressed). bytes_saved_compression is BytesIn-BytesOut.
type Result struct {
	Encoding          string
	BytesIn, BytesOut int64
}

// Saved is the number of bytes compression saved (negative for a response that grew).
func (r Result) Saved() int64 { return r.BytesIn - r.BytesOut }

// Policy is a route's compiled compression policy, immutable and safe for concurrent use.
// A nil *Policy compresses nothing.
type Policy struct {
	algs    []algorithm // in preference order
	minSize int64
	types   []string // lower-case media types; "text/*" matches a whole type
}

type algorithm struct {
	name  string // Content-Encoding token
	level int    // effective level
	pool  *sync.Pool
}

// New compiles a route's compression policy. A nil or disabled cfg gives a nil Policy.
func New(cfg *proxyv1.Compression) (*Policy, error) {
	if !cfg.GetEnabled() {
		return nil, nil
	}
	if cfg.GetLevel() < 0 || cfg.GetLevel() > 11 {
		return nil, fmt.Errorf("compression: level %d out of range (0 for the default, 1-9 for gzip and zstd, up to 11 for brotli)", cfg.GetLevel())
	}
	if cfg.GetMinSize() < 0 {
		return nil, fmt.Errorf("compression: min_size %d is negative", cfg.GetMinSize())
	}
	p := &Policy{minSize: cfg.GetMinSize()}
	names := cfg.GetAlgorithms()
	if len(names) == 0 {
		names = DefaultAlgorithms
	}
	for _, n := range names {
		var name string
		switch strings.ToLower(strings.TrimSpace(n)) {
		case "br", "brotli":
			name = Brotli
		case "zstd", "zstandard":
			name = Zstd
		case "gzip":
			name = Gzip
		default:
			return nil, fmt.Errorf("compression: unknown algorithm %q (want brotli, zstd or gzip)", n)
		}
		if slices.ContainsFunc(p.algs, func(a algorithm) bool { return a.name == name }) {
			return nil, fmt.Errorf("compression: algorithm %q listed twice", n)
		}
		level := effectiveLevel(name, int(cfg.GetLevel()))
		pool, err := poolFor(name, level)
		if err != nil {
			return nil, fmt.Errorf("compression: %w", err)
		}
		p.algs = append(p.algs, algorithm{name: name, level: level, pool: pool})
	}
	types := cfg.GetContentTypes()
	if len(types) == 0 {
		types = DefaultContentTypes
	}
	for _, t := range types {
		t = strings.ToLower(strings.TrimSpace(t))
		typ, sub, ok := strings.Cut(t, "/")
		if !ok || typ == "" || sub == "" || typ == "*" || strings.ContainsAny(t, " ;,") {
			return nil, fmt.Errorf("compression: content type %q is not a media type like text/html or text/*", t)
		}
		p.types = append(p.types, t)
	}
	return p, nil
}

// Levels returns the effective level of each algorithm, in preference order, for logs and
// tests.
func (p *Policy) Levels() map[string]int {
	m := map[string]int{}
	for _, a := range p.algs {
		m[a.name] = a.level
	}
	return m
}

func noResult() Result { return Result{} }

// Wrap returns the writer the response is to be written to and a finish function to call
// once the handler has returned (not from another goroutine, not concurrently with writes):
// it ends the compressed stream, returns the encoder to its pool and reports what happened.
// When nothing can be compressed (nil Policy, HEAD, no acceptable encoding), w itself comes
// back and finish costs nothing.
func (p *Policy) Wrap(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, func() Result) {
	if p == nil || r.Method == http.MethodHead {
		return w, noResult
	}
	alg := p.negotiate(r.Header["Accept-Encoding"])
	if alg == nil {
		return w, noResult
	}
	cw := &writer{rw: w, p: p, alg: alg}
	cw.sink.w = w
	return cw, cw.finish
}

// negotiate picks the algorithm with the highest q-value among the route's, ties going to the
// route's preference order. An algorithm the client does not name takes the q-value of "*",
// or is not acceptable. identity;q=0 with nothing else acceptable still gets identity: a 406
// would help nobody.
func (p *Policy) negotiate(values []string) *algorithm {
	if len(values) == 0 {
		return nil
	}
	var q [3]int // per configured algorithm, in thousandths; -1 unnamed
	q[0], q[1], q[2] = -1, -1, -1
	star := -1
	for _, v := range values {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			name, params, _ := strings.Cut(item, ";")
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			qv := parseQ(params)
			if name == "*" {
				star = qv
				continue
			}
			if strings.EqualFold(name, "x-gzip") {
				name = Gzip
			}
			for i := range p.algs {
				if i < len(q) && strings.EqualFold(name, p.algs[i].name) {
					q[i] = max(q[i], qv)
				}
			}
		}
	}
	best, bestQ := -1, 0
	for i := range p.algs {
		qi := q[i]
		if qi < 0 {
			qi = star
		}
		if qi > bestQ {
			best, bestQ = i, qi
		}
	}
	if best < 0 {
		return nil
	}
	return &p.algs[best]
}

// parseQ reads the q parameter of an Accept-Encoding item in thousandths: 1000 when absent,
// 0 when malformed (RFC 9110 section 12.4.2: at most three decimals).
func parseQ(params string) int {
	for params != "" {
		var prm string
		prm, params, _ = strings.Cut(params, ";")
		k, val, ok := strings.Cut(prm, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		val = strings.TrimSpace(val)
		switch {
		case val == "":
			return 0
		case val[0] == '1':
			for _, c := range val[1:] {
				if c != '.' && c != '0' {
					return 0
				}
			}
			return 1000
		case val[0] == '0':
			if len(val) == 1 {
				return 0
			}
			if val[1] != '.' || len(val) > 5 {
				return 0
			}
			n, scale := 0, 100
			for _, c := range val[2:] {
				if c < '0' || c > '9' {
					return 0
				}
				n += int(c-'0') * scale
				scale /= 10
			}
			return n
		default:
			return 0
		}
	}
	return 1000
}

var errFinished = errors.New("compress: write after finish")
