package aicontext

import (
	"fmt"
	"strings"
)

// Thresholds of the rules.
const (
	errorRateLimit   = 0.05 // a route's 24h error rate above it is wrong...
	errorRateMinimum = 20   // ...with at least this many requests
	certDaysLimit    = 14   // a certificate with this many days left or fewer
	slowP95MS        = 1000 // a route's 24h p95 above it, in milliseconds
	wafSpikeMinimum  = 20   // WAF matches in the last hour, at least...
	wafSpikeFactor   = 3    // ...and this many times the hourly average of the 24h
)

// rule is one check of "What looks wrong": it reads the gathered report and says what it finds.
type rule func(r *Report) []Finding

// rules in the order the findings are listed.
var rules = []rule{routeHealth, dataplaneState, nacks, rejectedConfig, openCircuits, highErrorRate, slowRoutes,
	certificates, droppedEvents, wafSpike}

// findings applies every rule.
func findings(r *Report) []Finding {
	out := []Finding{}
	for _, check := range rules {
		out = append(out, check(r)...)
	}
	return out
}

func routeHealth(r *Report) []Finding {
	var out []Finding
	for _, rt := range r.Routes {
		if rt.Health != "down" && rt.Health != "degraded" {
			continue
		}
		d := "health checks fail"
		if rt.Health == "degraded" {
			d = "some health checks fail"
		}
		if rt.HealthNote != "" {
			d += ": " + rt.HealthNote
		}
		out = append(out, Finding{Rule: "route_" + rt.Health, Subject: rt.ID, Detail: d})
	}
	return out
}

func dataplaneState(r *Report) []Finding {
	var out []Finding
	for _, dp := range r.System.Dataplanes {
		switch {
		case !dp.Connected:
			d := "not connected"
			if dp.LastSeen != "" {
				d += "; last seen " + dp.LastSeen
			}
			out = append(out, Finding{Rule: "dataplane_disconnected", Subject: dp.NodeID, Detail: d})
		case dp.Lag > 0:
			out = append(out, Finding{Rule: "dataplane_lagging", Subject: dp.NodeID,
				Detail: fmt.Sprintf("applied snapshot %d, %d behind version %d", dp.AppliedVersion, dp.Lag, r.System.SnapshotVersion)})
		}
	}
	return out
}

func nacks(r *Report) []Finding {
	var out []Finding
	for _, n := range r.Config.NACKs {
		out = append(out, Finding{Rule: "snapshot_nack", Subject: n.NodeID,
			Detail: fmt.Sprintf("refused snapshot %d: %s", n.Version, n.Reason)})
	}
	return out
}

func rejectedConfig(r *Report) []Finding {
	if len(r.Config.Rejected) == 0 {
		return nil
	}
	d := fmt.Sprintf("%d problems; the last good version stays live; first: %s", len(r.Config.Rejected), r.Config.Rejected[0])
	if len(r.Config.Rejected) == 1 {
		d = "the last good version stays live: " + r.Config.Rejected[0]
	}
	return []Finding{{Rule: "config_rejected", Subject: "configuration", Detail: d}}
}

func openCircuits(r *Report) []Finding {
	var out []Finding
	for _, c := range r.Circuits {
		if c.State == "open" {
			out = append(out, Finding{Rule: "circuit_open", Subject: c.Service,
				Detail: fmt.Sprintf("circuit breaker open after %d failures", c.Failures)})
		}
	}
	return out
}

func highErrorRate(r *Report) []Finding {
	var out []Finding
	for _, rt := range r.Routes {
		if rt.Requests >= errorRateMinimum && rt.ErrorRate > errorRateLimit {
			out = append(out, Finding{Rule: "high_error_rate", Subject: rt.ID,
				Detail: fmt.Sprintf("%.1f%% of %d requests failed in 24h", rt.ErrorRate*100, rt.Requests)})
		}
	}
	return out
}

func slowRoutes(r *Report) []Finding {
	var out []Finding
	for _, rt := range r.Routes {
		if rt.P95MS > slowP95MS {
			out = append(out, Finding{Rule: "slow_route", Subject: rt.ID,
				Detail: fmt.Sprintf("p95 latency %.0f ms over 24h (p99 %.0f ms)", rt.P95MS, rt.P99MS)})
		}
	}
	return out
}

func certificates(r *Report) []Finding {
	var out []Finding
	for _, c := range r.Certificates {
		switch {
		case c.DaysLeft < 0 || c.Level == "expired":
			out = append(out, Finding{Rule: "certificate_expired", Subject: c.Domain, Detail: "expired " + c.ExpiresAt})
		case c.DaysLeft <= certDaysLimit:
			out = append(out, Finding{Rule: "certificate_expiring", Subject: c.Domain,
				Detail: fmt.Sprintf("%d days left (expires %s)", c.DaysLeft, c.ExpiresAt)})
		}
	}
	return out
}

func droppedEvents(r *Report) []Finding {
	if r.System.EventsDropped24h == 0 {
		return nil
	}
	return []Finding{{Rule: "events_dropped", Subject: "data planes",
		Detail: fmt.Sprintf("%d events dropped in 24h: logs and statistics are incomplete", r.System.EventsDropped24h)}}
}

func wafSpike(r *Report) []Finding {
	s := r.Security
	day := s.WAFBlocks + s.WAFLogged
	if s.WAFLastHour < wafSpikeMinimum || s.WAFLastHour*24 <= wafSpikeFactor*day {
		return nil
	}
	rules := make([]string, 0, 3)
	for _, c := range s.TopRules[:min(len(s.TopRules), 3)] {
		rules = append(rules, c.Name)
	}
	d := fmt.Sprintf("%d WAF matches in the last hour (%d in 24h)", s.WAFLastHour, day)
	if len(rules) > 0 {
		d += "; top rules " + strings.Join(rules, ", ")
	}
	return []Finding{{Rule: "waf_spike", Subject: "security", Detail: d}}
}
