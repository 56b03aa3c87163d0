package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/snapshot"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// minInterval bounds how often one route is checked, and so the size of its window.
const minInterval = time.Second

// maxErrorLen bounds a stored error message.
const maxErrorLen = 300

// drainLimit is how much of a response body is read, so the connection can be reused.
const drainLimit = 4 << 10

// spec is what a route's checks do. Two specs are equal when the checks are the same.
type spec struct {
	backend  string // the route's backend_url
	url      string // backend + path
	method   string // GET or HEAD
	interval time.Duration
	timeout  time.Duration
	expected int
}

// specOf returns the checks of r, or false when its health check is off.
func specOf(r *proxyv1.Route, method string) (spec, bool) {
	h := r.GetPolicy().GetHealthCheck()
	if !h.GetEnabled() {
		return spec{}, false
	}
	s := spec{
		backend:  r.GetBackendUrl(),
		url:      strings.TrimSuffix(r.GetBackendUrl(), "/") + h.GetPath(),
		method:   method,
		interval: max(h.GetInterval().AsDuration(), minInterval),
		timeout:  h.GetTimeout().AsDuration(),
		expected: int(h.GetExpectedStatus()),
	}
	// The configuration fills these in; a snapshot built by hand may not.
	if h.GetPath() == "" {
		s.url = strings.TrimSuffix(r.GetBackendUrl(), "/") + "/"
	}
	if s.method != http.MethodHead {
		s.method = http.MethodGet
	}
	if s.timeout <= 0 || s.timeout > s.interval {
		s.timeout = s.interval
	}
	if s.expected == 0 {
		s.expected = http.StatusOK
	}
	return s, true
}

// Methods maps the id of every route of cfg with an enabled health check to its method. The
// snapshot's HealthCheck has no method field, so the checker reads it from the configuration
// the snapshot was built from. A nil cfg gives none (every check is a GET).
func Methods(cfg *config.Config) map[string]string {
	m := map[string]string{}
	if cfg == nil {
		return m
	}
	for _, s := range cfg.Sites {
		if !s.Enabled {
			continue
		}
		for _, r := range s.Routes {
			if h := r.Policy.HealthCheck; h != nil && h.Enabled && len(r.Hosts) > 0 {
				m[snapshot.RouteID(r.Hosts[0], r.Path)] = h.Method
			}
		}
	}
	return m
}

// newClient is the checks' HTTP client: no proxy from the environment, no redirects followed
// (a 301 is what the backend answered), one idle connection per backend.
func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// probeResult is what one request to the backend gave.
type probeResult struct {
	status  int // 0 when no response came
	elapsed time.Duration
	err     string // empty on success
}

// probe sends one check. The caller holds a concurrency slot.
func (c *Checker) probe(ctx context.Context, s spec) probeResult {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, s.method, s.url, nil)
	if err != nil {
		return probeResult{err: clip(fmt.Sprintf("bad check URL: %v", err))}
	}
	req.Header.Set("User-Agent", "proxy-manager-health-check")
	resp, err := c.client.Do(req)
	elapsed := time.Since(start)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return probeResult{elapsed: elapsed, err: fmt.Sprintf("no response within the timeout of %s", config.FormatDuration(s.timeout))}
		}
		return probeResult{elapsed: elapsed, err: clip(err.Error())}
	}
	_, _ = io.CopyN(io.Discard, resp.Body, drainLimit) // only to reuse the connection
	_ = resp.Body.Close()                              // a read-only body: nothing to report
	r := probeResult{status: resp.StatusCode, elapsed: elapsed}
	if resp.StatusCode != s.expected {
		r.err = fmt.Sprintf("status %d, want %d", resp.StatusCode, s.expected)
	}
	return r
}

func clip(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	return s[:maxErrorLen] + "…"
}
