package proxy

import (
	"fmt"
	"net/http"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Default per-route timeouts, the same as the configuration layer's: a snapshot without a
// timeouts section (or with a zero field) gets these.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultReadTimeout    = 30 * time.Second
	DefaultWriteTimeout   = 30 * time.Second
	DefaultIdleTimeout    = 120 * time.Second
)

// Settings are one route's backend settings. The transport settings (timeouts and pool sizes)
// select the shared transport: routes to the same scheme and host with equal transport
// settings share one pool, across snapshots. MaxResponseBody and Wrap are per Backend.
//
// A zero field takes the value of the Pools' Options (so NewBackend behaves as before).
type Settings struct {
	// ConnectTimeout bounds dialing the backend (and the TLS handshake stays bounded by
	// Options.TLSHandshakeTimeout). Expiry: 502, Kind "connect".
	ConnectTimeout time.Duration
	// ReadTimeout bounds the wait for the response headers after the request was written, and
	// any single wait for the next bytes of the response body. Expiry: 504, Kind "read", before
	// the header went out; afterwards the response is cut. Negative: no read timeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds any single write of the request (headers or body) to the backend:
	// a backend that accepts no byte of the body for this long fails the request with 504,
	// Kind "write". Time spent waiting for a slow client's upload does not count. Negative:
	// none.
	WriteTimeout time.Duration
	// IdleConnTimeout closes a pooled connection unused for this long.
	IdleConnTimeout time.Duration

	// Pool sizes of the transport, as in http.Transport. MaxIdleConns and MaxConnsPerHost 0
	// mean unlimited.
	MaxIdleConns        int
	MaxIdleConnsPerHost int
	MaxConnsPerHost     int

	// MaxResponseBody cuts a response body longer than this many bytes (0: no limit). A
	// Content-Length over it is answered 502 before anything is sent; a body that crosses it
	// while streaming is cut after exactly this many bytes and the client connection aborted.
	// Kind "response_too_large" either way.
	MaxResponseBody int64

	// Wrap, if set, wraps the Backend's round tripper (the shared transport plus the pool's
	// accounting), e.g. with retries and a circuit breaker: breaker(retry(rt)). It is called
	// once, in NewBackendWith. Errors it returns are classified like transport errors; an error
	// with a StatusCode() int method (errors.As) is answered with that status.
	//
	// The response the wrapped RoundTripper returns is its caller's: the middleware must not
	// use it, its header or its body after returning it (Forward recycles it for the
	// connection's next response once relayed). A response it does not return (a failed
	// attempt it retries) stays its own.
	Wrap func(http.RoundTripper) http.RoundTripper
}

// SettingsFromPolicy reads a route's timeouts, limits and connection_pool sections. Missing
// sections and zero fields take the defaults (timeouts 5s/30s/30s/120s, pool sizes of the
// Pools' Options, no response limit). The pool's idle_timeout, when set, wins over
// timeouts.idle: both mean how long an unused backend connection is kept.
func SettingsFromPolicy(p *proxyv1.Policy) Settings {
	t := p.GetTimeouts()
	// AsDuration is nil-safe: a missing field reads as 0.
	or := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	s := Settings{
		ConnectTimeout:  or(t.GetConnect().AsDuration(), DefaultConnectTimeout),
		ReadTimeout:     or(t.GetRead().AsDuration(), DefaultReadTimeout),
		WriteTimeout:    or(t.GetWrite().AsDuration(), DefaultWriteTimeout),
		IdleConnTimeout: or(t.GetIdle().AsDuration(), DefaultIdleTimeout),
		MaxResponseBody: max(p.GetLimits().GetMaxResponseBody(), 0),
	}
	if cp := p.GetConnectionPool(); cp != nil {
		s.MaxIdleConns = clampInt(cp.GetMaxIdleConns())
		s.MaxIdleConnsPerHost = clampInt(cp.GetMaxIdleConnsPerHost())
		s.MaxConnsPerHost = clampInt(cp.GetMaxConnsPerHost())
		s.IdleConnTimeout = or(cp.GetIdleTimeout().AsDuration(), s.IdleConnTimeout)
	}
	return s
}

func clampInt(v int64) int {
	const maxInt = int64(^uint(0) >> 1)
	switch {
	case v <= 0:
		return 0
	case v > maxInt:
		return int(maxInt)
	}
	return int(v)
}

// defaultSettings are what NewBackend uses: the Pools' Options, as before per-route settings.
func (o Options) defaultSettings() Settings {
	s := Settings{
		ConnectTimeout:      o.DialTimeout,
		ReadTimeout:         o.ResponseHeaderTimeout,
		WriteTimeout:        -1,
		IdleConnTimeout:     o.IdleConnTimeout,
		MaxIdleConnsPerHost: o.MaxIdleConnsPerHost,
	}
	if s.ReadTimeout <= 0 {
		s.ReadTimeout = -1
	}
	return s
}

// resolve fills zero fields from the Options and validates.
func (s Settings) resolve(o Options) (Settings, error) {
	def := o.defaultSettings()
	if s.ConnectTimeout == 0 {
		s.ConnectTimeout = def.ConnectTimeout
	}
	if s.ReadTimeout == 0 {
		s.ReadTimeout = def.ReadTimeout
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = def.WriteTimeout
	}
	if s.IdleConnTimeout == 0 {
		s.IdleConnTimeout = def.IdleConnTimeout
	}
	if s.MaxIdleConnsPerHost == 0 {
		s.MaxIdleConnsPerHost = def.MaxIdleConnsPerHost
	}
	switch {
	case s.ConnectTimeout < 0:
		return s, fmt.Errorf("connect timeout %v is negative", s.ConnectTimeout)
	case s.IdleConnTimeout < 0:
		return s, fmt.Errorf("idle timeout %v is negative", s.IdleConnTimeout)
	case s.MaxIdleConns < 0 || s.MaxIdleConnsPerHost < 0 || s.MaxConnsPerHost < 0:
		return s, fmt.Errorf("connection pool sizes must not be negative")
	case s.MaxResponseBody < 0:
		return s, fmt.Errorf("max response body %d is negative", s.MaxResponseBody)
	}
	if s.ReadTimeout < 0 {
		s.ReadTimeout = -1
	}
	if s.WriteTimeout < 0 {
		s.WriteTimeout = -1
	}
	return s, nil
}

// transportKey is what makes two Backends share a transport: the backend's scheme and host
// (hostKey) and every setting the transport itself holds.
type transportKey struct {
	host                string
	connect, read       time.Duration
	write, idle         time.Duration
	maxIdle, maxIdleHst int
	maxConns            int
}

func (s Settings) key(host string) transportKey {
	return transportKey{
		host: host, connect: s.ConnectTimeout, read: s.ReadTimeout, write: s.WriteTimeout,
		idle: s.IdleConnTimeout, maxIdle: s.MaxIdleConns, maxIdleHst: s.MaxIdleConnsPerHost,
		maxConns: s.MaxConnsPerHost,
	}
}
