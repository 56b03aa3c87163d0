package ratelimit

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Failed logins: the backend's failure answers (401, 403) on a route's login paths, counted per
// client over a sliding window (window.go) of failed_logins.window; ban_after of them ban.

type logins struct {
	id          uint64
	paths       []pattern
	statuses    []int32
	banAfter    int64
	window      int64 // ms
	banDuration time.Duration
	alert       bool
}

func newLogins(routeID string, fl *proxyv1.FailedLogins) (*logins, error) {
	lg := &logins{
		banAfter:    fl.GetBanAfter(),
		banDuration: fl.GetBanDuration().AsDuration(),
		alert:       fl.GetAlertWebhook(),
		statuses:    fl.GetStatuses(),
		window:      fl.GetWindow().AsDuration().Milliseconds(),
	}
	for _, p := range fl.GetPaths() {
		pat, err := parsePattern(p)
		if err != nil {
			return nil, fmt.Errorf("paths: %w", err)
		}
		lg.paths = append(lg.paths, pat)
	}
	if len(lg.statuses) == 0 {
		lg.statuses = defaultLoginStatuses
	}
	for _, s := range lg.statuses {
		if s < 100 || s > 599 {
			return nil, fmt.Errorf("statuses: %d is not an HTTP status", s)
		}
	}
	if fl.GetWindow() == nil {
		lg.window = DefaultLoginWindow.Milliseconds()
	}
	switch {
	case lg.window < 1000:
		return nil, fmt.Errorf("window: %v is shorter than a second", fl.GetWindow().AsDuration())
	case lg.banAfter < 1 || lg.banAfter > globalMax:
		return nil, fmt.Errorf("ban_after: %d is not between 1 and %d", lg.banAfter, globalMax)
	case lg.banDuration <= 0:
		return nil, errors.New("ban_duration must be positive")
	}
	lg.id = limitID(routeID, "failed_logins", lg.banAfter, lg.window)
	return lg, nil
}

// Failure is the verdict on a response to a login path.
type Failure struct {
	// Counted: the response was a failed login of a client that is not whitelisted.
	Counted bool
	// Count is the failures of the client in the sliding window, this one included.
	Count int64
	// Ban is set when this failure decided a ban.
	Ban Ban
}

// Failure counts a failed login when urlPath is one of the route's login paths and status one of
// the statuses that mean failure; ban_after failures in the window decide a ban.
func (l *Limiter) Failure(ip netip.Addr, urlPath string, status int) Failure {
	if l == nil {
		return Failure{}
	}
	lg := l.logins
	if lg == nil || !slices.Contains(lg.statuses, int32(status)) {
		return Failure{}
	}
	urlPath = cleanPath(urlPath)
	if !slices.ContainsFunc(lg.paths, func(p pattern) bool { return p.match(urlPath) }) || l.whitelist.Contains(ip) {
		return Failure{}
	}
	t := l.now()
	sh, en := l.table.acquire(slot{client: KeyOf(ip), limit: lg.id})
	defer sh.mu.Unlock()
	n, ban := strike(&en.hits, t.UnixMilli(), lg.window, lg.banAfter)
	f := Failure{Counted: true, Count: n}
	if ban {
		win := time.Duration(lg.window) * time.Millisecond
		f.Ban = Ban{Until: t.Add(lg.banDuration), Duration: lg.banDuration, Count: n, Rule: "failed_logins",
			Reason: fmt.Sprintf("%d failed logins in %v", n, win), AlertWebhook: lg.alert}
	}
	return f
}

// TracksLogins reports whether the route counts failed logins (so the edge need not call
// Failure for every response otherwise).
func (l *Limiter) TracksLogins() bool { return l != nil && l.logins != nil }
