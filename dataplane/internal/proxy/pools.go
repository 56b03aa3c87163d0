// Package proxy forwards requests to backends over pooled keep-alive connections, streaming
// bodies both ways, and reports a failed backend as an error for the caller's error page.
//
// Connection pools (one transport per backend scheme and host and transport settings: timeouts
// and pool sizes) live in Pools, which outlives snapshots: a configuration change
// builds new Backends on the same warm transports when those settings did not change.
// A transport that no Backend uses any more keeps its idle connections for a grace period, in
// case the next snapshot brings the backend back, and then closes them.
package proxy

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options are the transport settings shared by all backends, and the defaults of the per-route
// Settings that NewBackend uses.
type Options struct {
	DialTimeout         time.Duration
	TLSHandshakeTimeout time.Duration
	// IdleConnTimeout closes a pooled connection unused for this long.
	IdleConnTimeout     time.Duration
	MaxIdleConnsPerHost int
	// ResponseHeaderTimeout bounds the wait for a backend's response headers; 0 waits as long as
	// the client does (long polls and slow reports must work).
	ResponseHeaderTimeout time.Duration
	// RetireAfter is how long an unused transport keeps its idle connections.
	RetireAfter time.Duration
}

// DefaultOptions returns the defaults: dial 5s, TLS handshake 10s, idle connections kept 90s,
// up to 64 idle connections per backend, no response header timeout, retire after 1 minute.
func DefaultOptions() Options {
	return Options{
		DialTimeout:         5 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 64,
		RetireAfter:         time.Minute,
	}
}

// Pools holds one transport per backend scheme and host, shared by every Backend that points
// there, across snapshots. It is safe for concurrent use.
type Pools struct {
	opts Options
	bufs *bufferPool

	counters counters

	mu     sync.Mutex
	pools  map[transportKey]*pool
	closed bool
}

// pool is one shared transport and the number of Backends using it.
type pool struct {
	key       transportKey
	settings  Settings // resolved; Wrap and MaxResponseBody unused
	transport *transport
	stats     *poolStats
	refs      int
	retire    *time.Timer // set while refs == 0
}

// NewPools returns an empty registry. Zero fields of opts take their DefaultOptions value.
func NewPools(opts Options) *Pools {
	def := DefaultOptions()
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = def.DialTimeout
	}
	if opts.TLSHandshakeTimeout <= 0 {
		opts.TLSHandshakeTimeout = def.TLSHandshakeTimeout
	}
	if opts.IdleConnTimeout <= 0 {
		opts.IdleConnTimeout = def.IdleConnTimeout
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = def.MaxIdleConnsPerHost
	}
	if opts.RetireAfter <= 0 {
		opts.RetireAfter = def.RetireAfter
	}
	return &Pools{opts: opts, bufs: newBufferPool(), pools: map[transportKey]*pool{}}
}

// NewBackend validates rawURL (an absolute http:// or https:// URL, optionally with a path to
// prepend) and returns a Backend for it on the shared transport of its scheme and host, with
// the Pools' Options as settings (no read or write timeout unless Options set them). Call
// Release when the Backend is no longer served (the runtime that holds it was replaced).
func (p *Pools) NewBackend(rawURL string) (*Backend, error) {
	return p.NewBackendWith(rawURL, Settings{})
}

// NewBackendWith is NewBackend with a route's settings (SettingsFromPolicy). Backends with the
// same scheme, host and transport settings share one transport, across snapshots.
func (p *Pools) NewBackendWith(rawURL string, s Settings) (*Backend, error) {
	target, host, addr, err := parseBackendURL(rawURL)
	if err != nil {
		return nil, err
	}
	s, err = s.resolve(p.opts)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", host, err)
	}
	pl, err := p.acquire(s.key(host), s, target.Scheme, addr, target.Hostname())
	if err != nil {
		return nil, err
	}
	return newBackend(p, pl, target, s), nil
}

// Len returns the number of transports held, in use or retiring.
func (p *Pools) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pools)
}

// Close closes the idle connections of every transport and refuses new Backends. Backends
// still serving keep working until their requests end.
func (p *Pools) Close() {
	p.mu.Lock()
	p.closed = true
	pools := p.pools
	p.pools = map[transportKey]*pool{}
	for _, pl := range pools {
		if pl.retire != nil {
			pl.retire.Stop()
		}
	}
	p.mu.Unlock()
	for _, pl := range pools {
		pl.transport.retire()
	}
}

func (p *Pools) acquire(key transportKey, s Settings, scheme, addr, serverName string) (*pool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("backend %s: connection pools are closed", key.host)
	}
	pl := p.pools[key]
	if pl == nil {
		st := &poolStats{}
		pl = &pool{key: key, settings: s, stats: st, transport: newTransport(p.opts, s, st, scheme, addr, serverName)}
		p.pools[key] = pl
	}
	pl.refs++
	if pl.retire != nil {
		pl.retire.Stop()
		pl.retire = nil
	}
	return pl, nil
}

func (p *Pools) release(pl *pool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl.refs--
	if pl.refs > 0 || p.pools[pl.key] != pl {
		return
	}
	pl.retire = time.AfterFunc(p.opts.RetireAfter, func() { p.retire(pl) })
}

// retire drops a transport that stayed unused for the grace period. Connections still busy
// with requests of an old runtime are not cut; they close on their idle timeout once done.
func (p *Pools) retire(pl *pool) {
	p.mu.Lock()
	if pl.refs > 0 || p.pools[pl.key] != pl {
		p.mu.Unlock()
		return // used again, or Close got there first
	}
	delete(p.pools, pl.key)
	p.mu.Unlock()
	pl.transport.retire()
}

// parseBackendURL checks a backend URL and returns it with the key of its transport (scheme,
// lower-case host and explicit port, so that http://app and http://APP:80 share a pool) and the
// address to dial.
func parseBackendURL(rawURL string) (_ *url.URL, key, addr string, _ error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", "", fmt.Errorf("backend URL %q: %w", rawURL, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, "", "", fmt.Errorf("backend URL %q: scheme must be http or https", rawURL)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return nil, "", "", fmt.Errorf("backend URL %q: no host", rawURL)
	case u.User != nil:
		return nil, "", "", fmt.Errorf("backend URL %q: credentials in the URL are not supported", rawURL)
	case u.Fragment != "":
		return nil, "", "", fmt.Errorf("backend URL %q: must not have a fragment", rawURL)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	addr = net.JoinHostPort(strings.ToLower(u.Hostname()), port)
	return u, u.Scheme + "://" + addr, addr, nil
}
