package alerts

import (
	"fmt"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Spike thresholds of the issue: more than this many events of a route in a minute.
const (
	FailedLoginsPerMinute = 10
	WAFBlocksPerMinute    = 50
)

// routeState is what the batch detectors remember of one route. Only routes of the snapshot in
// force have one, so the memory is bounded by the configuration, not by what data planes send.
type routeState struct {
	errors       *slider // requests and errors over the error_rate window
	errorTrigger trigger
	logins       *slider // failed logins over a minute
	loginTrigger trigger
	waf          *slider // WAF blocks over a minute
	wafTrigger   trigger
	slowMinute   int64 // the minute of the last slow_request_critical alert (Unix minutes)
}

type batchState struct {
	routes map[string]*routeState
	snap   *proxyv1.Snapshot // routes was pruned for this snapshot
}

func newBatchState() batchState { return batchState{routes: map[string]*routeState{}} }

// ObserveBatch runs the batch detectors on a batch stored now (a re-sent batch was seen before;
// a failed one will come again). It is called on the stream's goroutine: it only counts, and
// the Sender does not block.
func (a *Alerts) ObserveBatch(b *proxyv1.EventBatch, stored bool, _ time.Duration, err error) {
	if !stored || err != nil {
		return
	}
	for _, al := range a.detect(b) {
		a.raise(al, true)
	}
}

// detect returns the alerts of one batch.
func (a *Alerts) detect(b *proxyv1.EventBatch) []alert.Alert {
	now := a.opts.Now()
	th := a.thresholds()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pruneLocked()
	var out []alert.Alert
	out = append(out, a.requestsLocked(b.GetRequests(), now, th.ErrorRate.Window, th.ErrorRate.ThresholdPercent, th.ErrorRate.MinRequests)...)
	out = append(out, a.securityLocked(b.GetSecurity(), now)...)
	for _, c := range b.GetCircuits() {
		if al, ok := a.circuit(c, b.GetNodeId(), now); ok {
			out = append(out, al)
		}
	}
	return out
}

// pruneLocked forgets the routes no longer in force.
func (a *Alerts) pruneLocked() {
	snap, _ := a.routes.snaps.Current()
	if snap == a.batch.snap {
		return
	}
	a.batch.snap = snap
	for id := range a.batch.routes {
		if !a.routes.known(id) {
			delete(a.batch.routes, id)
		}
	}
}

// stateLocked returns the state of a route in force, nil for any other id.
func (a *Alerts) stateLocked(r *route, window time.Duration) *routeState {
	if r == nil {
		return nil
	}
	s := a.batch.routes[r.id]
	if s == nil {
		s = &routeState{errors: newSlider(window), logins: newSlider(time.Minute), waf: newSlider(time.Minute)}
		a.batch.routes[r.id] = s
	}
	if s.errors.window != window { // alerts.error_rate.window was changed by a reload
		s.errors, s.errorTrigger = newSlider(window), trigger{}
	}
	return s
}

// isError says whether a request counts toward high_error_rate: a 5xx (the proxy's 502, 503
// and 504 included), or a proxy error after a success status (a response cut short). Answers
// of the security policies (403, 429) and clients that left (499) are not errors of the service.
func isError(ev *proxyv1.RequestEvent) bool {
	return ev.GetStatus() >= 500 || (ev.GetError() != "" && ev.GetStatus() < 400)
}

// requestsLocked runs high_error_rate and slow_request_critical.
func (a *Alerts) requestsLocked(reqs []*proxyv1.RequestEvent, now time.Time, window time.Duration, percent, minRequests int) []alert.Alert {
	type count struct {
		r           *route
		total, errs int
		sample      *proxyv1.RequestEvent // the last error
	}
	counts := map[string]*count{}
	var out []alert.Alert
	for _, ev := range reqs {
		c := counts[ev.GetRouteId()]
		if c == nil {
			r := a.routes.byRoute(ev.GetRouteId())
			if r == nil {
				continue // no route matched, or a route of another snapshot: nothing to name
			}
			c = &count{r: r}
			counts[ev.GetRouteId()] = c
		}
		c.total++
		if isError(ev) {
			c.errs++
			c.sample = ev
		}
		if ev.GetSlow() == "critical" && c.r.slowAlert { // the route asked for it (slow_request.alert_webhook)
			if al, ok := a.slowLocked(c.r, ev, now, window); ok {
				out = append(out, al)
			}
		}
	}
	for _, c := range counts {
		s := a.stateLocked(c.r, window)
		s.errors.add(now, c.total, c.errs)
		total, errs := s.errors.sum(now)
		rate := 0.0
		if total > 0 {
			rate = float64(errs) / float64(total)
		}
		over := total >= minRequests && rate*100 > float64(percent)
		if !s.errorTrigger.update(over, rate*100 <= float64(percent)) {
			continue
		}
		al := alert.Alert{Type: alert.HighErrorRate, Severity: alert.Critical, RouteID: c.r.id, Host: c.r.host, Backend: c.r.backend,
			Title:       fmt.Sprintf("High error rate: %s (%.1f%%)", c.r.host, rate*100),
			Description: fmt.Sprintf("%d of the last %d requests failed over %s (more than %d%%).", errs, total, window, percent),
			Fields: []alert.Field{{Name: "Errors", Value: fmt.Sprintf("%d / %d", errs, total), Inline: true},
				{Name: "Window", Value: window.String(), Inline: true}}, Time: now}
		if ev := c.sample; ev != nil {
			al.RequestID = ev.GetRequestId()
			al.Sample = fmt.Sprintf("%s %s → %d %s", ev.GetMethod(), ev.GetPath(), ev.GetStatus(), ev.GetError())
			al.Fields = append(al.Fields, alert.Field{Name: "Sample", Value: al.Sample}, alert.Field{Name: "Request id", Value: al.RequestID})
		}
		out = append(out, al)
	}
	return out
}

// slowLocked raises the first critically slow request of a route in each minute (of a route
// whose slow_request asks for the webhook).
func (a *Alerts) slowLocked(r *route, ev *proxyv1.RequestEvent, now time.Time, window time.Duration) (alert.Alert, bool) {
	s := a.stateLocked(r, window)
	minute := now.Unix() / 60
	if s.slowMinute == minute {
		return alert.Alert{}, false
	}
	s.slowMinute = minute
	took := ev.GetDuration().AsDuration().Round(time.Millisecond)
	return alert.Alert{Type: alert.SlowRequestCritical, Severity: alert.Warning, RouteID: r.id, Host: r.host, Backend: r.backend,
		Title:       "Critically slow request: " + r.host,
		Description: fmt.Sprintf("%s %s took %s, over the route's slow_request critical threshold.", ev.GetMethod(), ev.GetPath(), took),
		RequestID:   ev.GetRequestId(), Sample: ev.GetMethod() + " " + ev.GetPath(),
		Fields: []alert.Field{{Name: "Duration", Value: took.String(), Inline: true}, {Name: "Status", Value: fmt.Sprint(ev.GetStatus()), Inline: true},
			{Name: "Client", Value: ev.GetClientIp(), Inline: true}, {Name: "Request id", Value: ev.GetRequestId()}},
		Time: now}, true
}

// circuit raises circuit_open when a breaker opens and circuit_closed when it closes again.
func (a *Alerts) circuit(c *proxyv1.CircuitEvent, node string, now time.Time) (alert.Alert, bool) {
	r := a.routes.forBackend(c.GetBackend())
	id, host := r.describe()
	name := host
	if name == "" {
		name = c.GetBackend()
	}
	fields := []alert.Field{{Name: "Backend", Value: c.GetBackend(), Inline: true}, {Name: "Data plane", Value: node, Inline: true}}
	switch c.GetTo() {
	case "open":
		fields = append(fields, alert.Field{Name: "Failures", Value: fmt.Sprint(c.GetFailures()), Inline: true})
		return alert.Alert{Type: alert.CircuitOpen, Severity: alert.Critical, RouteID: id, Host: host, Backend: c.GetBackend(),
			Title:       "Circuit open: " + name,
			Description: fmt.Sprintf("The circuit breaker of %s opened on %s: requests get 503 without trying it. %s", c.GetBackend(), node, c.GetReason()),
			Sample:      c.GetReason(), Fields: fields, Time: now}, true
	case "closed":
		if c.GetFrom() == "closed" || c.GetFrom() == "" {
			return alert.Alert{}, false
		}
		return alert.Alert{Type: alert.CircuitClosed, Severity: alert.Info, RouteID: id, Host: host, Backend: c.GetBackend(),
			Title:       "Circuit closed: " + name,
			Description: fmt.Sprintf("The circuit breaker of %s closed on %s: requests reach it again.", c.GetBackend(), node),
			Fields:      fields, Time: now}, true
	}
	return alert.Alert{}, false
}
