package aicontext

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/certmon"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Bounds of what the report reads.
const (
	errorSample    = 500 // newest failed requests grouped by cause
	sampleIDs      = 3   // request ids per cause
	topSlow        = 10
	topAttackers   = 10
	deliverySample = 500 // newest webhook deliveries searched for failures
)

// Build gathers the report of the 24 hours before src's clock.
func Build(ctx context.Context, src Sources) (*Report, error) {
	now := time.Now
	if src.Now != nil {
		now = src.Now
	}
	t := now().UTC().Truncate(time.Second)
	// Whole hours, as /api/routes reads the hourly roll-ups: the current hour included.
	to := t.Truncate(time.Hour).Add(time.Hour)
	from := to.Add(-24 * time.Hour)
	r := &Report{GeneratedAt: stamp(t), Window: stamp(from) + " to " + stamp(to)}
	snap, _ := src.Fleet.Current()
	dps := src.Fleet.Dataplanes()
	steps := []struct {
		what string
		fn   func() error
	}{
		{"system", func() error { return r.gatherSystem(ctx, src, snap, dps, t) }},
		{"routes", func() error { return r.gatherRoutes(ctx, src.Store, snap, from, to) }},
		{"errors", func() error { return r.gatherErrors(ctx, src.Store, t) }},
		{"slow endpoints", func() error { return r.gatherSlow(ctx, src.Store, from, to) }},
		{"security", func() error { return r.gatherSecurity(ctx, src.Store, t) }},
		{"certificates", func() error { return r.gatherCertificates(ctx, src.Store, t) }},
		{"circuit breakers", func() error { return r.gatherCircuits(ctx, src.Store) }},
		{"webhook failures", func() error { return r.gatherWebhooks(ctx, src.Store, t) }},
	}
	for _, s := range steps {
		if err := s.fn(); err != nil {
			return nil, fmt.Errorf("ai context: %s: %w", s.what, err)
		}
	}
	r.gatherConfig(src.Config, dps)
	r.Wrong = findings(r)
	return r, nil
}

func (r *Report) gatherSystem(ctx context.Context, src Sources, snap *proxyv1.Snapshot, dps []*proxyv1.Dataplane, now time.Time) error {
	loaded, _, _ := src.Config.Status()
	r.System = System{Version: src.Version, StartedAt: stamp(src.StartedAt), ConfigLoaded: loaded,
		SnapshotVersion: snap.GetVersion(), Dataplanes: []Dataplane{}}
	if !src.StartedAt.IsZero() {
		r.System.UptimeSeconds = int64(now.Sub(src.StartedAt) / time.Second)
	}
	var err error
	if r.System.EventsDropped24h, err = src.Store.DroppedEventsSince(ctx, now.Add(-24*time.Hour)); err != nil {
		return err
	}
	latest, err := src.Store.LatestSystemMetrics(ctx)
	if err != nil {
		return err
	}
	for _, dp := range dps {
		d := Dataplane{NodeID: dp.GetNodeId(), Version: dp.GetBinaryVersion(), Connected: dp.GetConnected(),
			AppliedVersion: dp.GetAppliedVersion(), Lag: dp.GetLag(), EventsDropped: dp.GetEventsDropped()}
		if dp.GetLastSeen() != nil {
			d.LastSeen = stamp(dp.GetLastSeen().AsTime())
		}
		if m, ok := latest[dp.GetNodeId()]; ok {
			d.Metrics = metricsOf(m)
		}
		r.System.Dataplanes = append(r.System.Dataplanes, d)
		delete(latest, dp.GetNodeId())
	}
	// A data plane that reported in the last 24 hours but has not connected since the control
	// plane started is gone, or cannot reach it.
	for id, m := range latest {
		if m.Time.Before(now.Add(-24 * time.Hour)) {
			continue
		}
		r.System.Dataplanes = append(r.System.Dataplanes, Dataplane{NodeID: id, LastSeen: stamp(m.Time), Metrics: metricsOf(m)})
	}
	slices.SortFunc(r.System.Dataplanes, func(a, b Dataplane) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return nil
}

func metricsOf(m store.SystemSample) *Metrics {
	return &Metrics{At: stamp(m.Time), UptimeSeconds: m.UptimeSeconds, ActiveConnections: m.ActiveConnections,
		Goroutines: m.Goroutines, HeapMB: m.HeapBytes >> 20, RSSMB: m.RSSBytes >> 20,
		EventQueue:    strconv.FormatInt(m.EventQueueLength, 10) + "/" + strconv.FormatInt(m.EventQueueCapacity, 10),
		EventsDropped: m.EventsDroppedTotal, WebSockets: m.WebSocketsActive, SnapshotVersion: m.SnapshotVersion}
}

func (r *Report) gatherRoutes(ctx context.Context, st Store, snap *proxyv1.Snapshot, from, to time.Time) error {
	states, err := st.RouteStates(ctx)
	if err != nil {
		return err
	}
	traffic, err := st.SumTraffic(ctx, store.TrafficQuery{From: from, To: to, Group: store.GroupRoute})
	if err != nil {
		return err
	}
	r.Routes = make([]Route, 0, len(snap.GetRoutes()))
	for _, rt := range snap.GetRoutes() {
		x := Route{ID: rt.GetId(), Site: rt.GetSite(), Backend: cleanURL(rt.GetBackendUrl()), Health: "unknown", Circuit: "unknown"}
		if s, ok := states[rt.GetId()]; ok {
			if s.Health != "" {
				x.Health, x.HealthNote = s.Health, cleanText(s.HealthError)
			}
			if s.Circuit != "" {
				x.Circuit = s.Circuit
			}
			x.WebSockets = s.WebSockets
			if c := traffic[s.RouteID]; c != nil {
				x.Requests, x.Errors, x.ErrorRate = c.Requests, c.Errors, round(c.ErrorRate(), 4)
				x.P50MS, x.P95MS, x.P99MS = round(c.Latency.Percentile(0.50), 1), round(c.Latency.Percentile(0.95), 1),
					round(c.Latency.Percentile(0.99), 1)
			}
		}
		r.Routes = append(r.Routes, x)
	}
	slices.SortFunc(r.Routes, func(a, b Route) int { return cmp.Compare(a.ID, b.ID) })
	return nil
}

func (r *Report) gatherErrors(ctx context.Context, st Store, now time.Time) error {
	rep, err := st.Errors(ctx, store.ErrorQuery{Since: now.Add(-24 * time.Hour), Limit: errorSample})
	if err != nil {
		return err
	}
	type key struct {
		status int
		msg    string
	}
	byCause := map[key]*Cause{}
	routes := map[key]map[string]bool{}
	for _, e := range rep.Recent { // newest first: the first ids seen are the newest
		k := key{e.Status, cleanText(e.Error)}
		c := byCause[k]
		if c == nil {
			c = &Cause{Status: k.status, Message: k.msg, Routes: []string{}, RequestIDs: []string{}}
			byCause[k], routes[k] = c, map[string]bool{}
		}
		c.Count++
		if len(c.RequestIDs) < sampleIDs && e.RequestID != "" {
			c.RequestIDs = append(c.RequestIDs, e.RequestID)
		}
		if e.Route != "" && !routes[k][e.Route] {
			routes[k][e.Route] = true
			c.Routes = append(c.Routes, e.Route)
		}
	}
	r.Errors = Errors{Total: rep.Total, Sampled: len(rep.Recent), Causes: make([]Cause, 0, len(byCause))}
	for _, c := range byCause {
		slices.Sort(c.Routes)
		r.Errors.Causes = append(r.Errors.Causes, *c)
	}
	slices.SortFunc(r.Errors.Causes, func(a, b Cause) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Status, b.Status), cmp.Compare(a.Message, b.Message))
	})
	return nil
}

func (r *Report) gatherSlow(ctx context.Context, st Store, from, to time.Time) error {
	slow, _, err := st.SlowRequests(ctx, from, to, 0)
	if err != nil {
		return err
	}
	slices.SortFunc(slow, func(a, b store.SlowEndpoint) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(b.P95MS, a.P95MS), cmp.Compare(a.RouteKey, b.RouteKey),
			cmp.Compare(a.Method, b.Method), cmp.Compare(a.Pattern, b.Pattern))
	})
	r.SlowEndpoints = make([]SlowEndpoint, 0, min(len(slow), topSlow))
	for _, s := range slow[:min(len(slow), topSlow)] {
		r.SlowEndpoints = append(r.SlowEndpoints, SlowEndpoint{Route: s.RouteKey, Method: s.Method, Pattern: maskIPs(s.Pattern),
			Count: s.Count, Critical: s.Critical, P95MS: round(s.P95MS, 1), MaxMS: round(s.MaxMS, 1)})
	}
	return nil
}

func (r *Report) gatherSecurity(ctx context.Context, st Store, now time.Time) error {
	day, err := st.Security(ctx, now, now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	hour, err := st.Security(ctx, now, now.Add(-time.Hour))
	if err != nil {
		return err
	}
	s := Security{ActiveBans: len(day.ActiveBans), RateLimited: day.Violations, TopRules: []Count{}, TopAttackers: []Attacker{}}
	for _, c := range day.WAFBlocks {
		if c.Key == "logged" {
			s.WAFLogged += c.Count
		} else {
			s.WAFBlocks += c.Count
		}
	}
	for _, c := range day.Events {
		if c.Key == "failed_login" {
			s.FailedLogins = c.Count
		}
	}
	for _, c := range hour.Events {
		if c.Key == "waf" {
			s.WAFLastHour = c.Count
		}
	}
	for _, c := range day.WAFRules {
		s.TopRules = append(s.TopRules, Count{Name: cleanText(c.Key), Count: c.Count})
	}
	slices.SortFunc(s.TopRules, func(a, b Count) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Name, b.Name)) })
	// Masked addresses merge (one /24 is one line), so the merge comes before the top.
	merged := map[string]int64{}
	for _, a := range day.TopAttackers {
		merged[maskAddr(a.ClientIP)] += a.Events
	}
	for addr, n := range merged {
		s.TopAttackers = append(s.TopAttackers, Attacker{Address: addr, Events: n})
	}
	slices.SortFunc(s.TopAttackers, func(a, b Attacker) int {
		return cmp.Or(cmp.Compare(b.Events, a.Events), cmp.Compare(a.Address, b.Address))
	})
	s.TopAttackers = s.TopAttackers[:min(len(s.TopAttackers), topAttackers)]
	r.Security = s
	return nil
}

func (r *Report) gatherCertificates(ctx context.Context, st Store, now time.Time) error {
	certs, err := st.Certificates(ctx)
	if err != nil {
		return err
	}
	r.Certificates = make([]Certificate, 0, len(certs))
	for _, c := range certs {
		r.Certificates = append(r.Certificates, Certificate{Domain: c.Domain, ExpiresAt: stamp(c.ExpiresAt),
			DaysLeft: certmon.DaysLeft(c.ExpiresAt, now), Level: string(certmon.LevelAt(c.ExpiresAt, now))})
	}
	// Soonest first: the one to renew leads.
	slices.SortFunc(r.Certificates, func(a, b Certificate) int {
		return cmp.Or(cmp.Compare(a.DaysLeft, b.DaysLeft), cmp.Compare(a.Domain, b.Domain))
	})
	return nil
}

func (r *Report) gatherConfig(cs ConfigStatus, dps []*proxyv1.Dataplane) {
	_, _, errs := cs.Status()
	r.Config = ConfigProblems{Rejected: make([]string, 0, len(errs)), NACKs: []NACK{}}
	for _, e := range errs {
		r.Config.Rejected = append(r.Config.Rejected, cleanText(e))
	}
	slices.Sort(r.Config.Rejected) // file:line:column first: sorted by place
	for _, dp := range dps {
		if dp.GetNackVersion() != 0 {
			r.Config.NACKs = append(r.Config.NACKs, NACK{NodeID: dp.GetNodeId(), Version: dp.GetNackVersion(),
				Reason: cleanText(dp.GetNackReason())})
		}
	}
	slices.SortFunc(r.Config.NACKs, func(a, b NACK) int {
		return cmp.Or(cmp.Compare(a.NodeID, b.NodeID), cmp.Compare(a.Version, b.Version))
	})
}

func (r *Report) gatherCircuits(ctx context.Context, st Store) error {
	states, err := st.CircuitStates(ctx)
	if err != nil {
		return err
	}
	r.Circuits = make([]Circuit, 0, len(states))
	for _, c := range states {
		r.Circuits = append(r.Circuits, Circuit{Service: maskIPs(c.Service + ":" + strconv.Itoa(c.Port)), State: c.State,
			Failures: c.Failures})
	}
	slices.SortFunc(r.Circuits, func(a, b Circuit) int { return cmp.Compare(a.Service, b.Service) })
	return nil
}

func (r *Report) gatherWebhooks(ctx context.Context, st Store, now time.Time) error {
	ds, err := st.WebhookDeliveries(ctx, store.WebhookDeliveryQuery{Limit: deliverySample})
	if err != nil {
		return err
	}
	since := now.Add(-24 * time.Hour)
	type key struct{ hook, event string }
	byKey := map[key]*WebhookFailure{}
	for _, d := range ds { // newest first: the first failure seen is the last one
		if d.Error == "" || d.Time.Before(since) {
			continue
		}
		k := key{d.Webhook, d.Event}
		f := byKey[k]
		if f == nil {
			f = &WebhookFailure{Webhook: d.Webhook, Event: d.Event, LastAt: stamp(d.Time), LastError: cleanText(d.Error)}
			byKey[k] = f
		}
		f.Failures++
	}
	r.WebhookFailures = make([]WebhookFailure, 0, len(byKey))
	for _, f := range byKey {
		r.WebhookFailures = append(r.WebhookFailures, *f)
	}
	slices.SortFunc(r.WebhookFailures, func(a, b WebhookFailure) int {
		return cmp.Or(cmp.Compare(a.Webhook, b.Webhook), cmp.Compare(a.Event, b.Event))
	})
	return nil
}

// round rounds v to n decimals, for readable numbers.
func round(v float64, n int) float64 {
	p := 1.0
	for range n {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
