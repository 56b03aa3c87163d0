package aicontext

import (
	"reflect"
	"strings"
	"testing"
)

func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rule   rule
		report Report
		want   []Finding
	}{
		{"route down and degraded", routeHealth, Report{Routes: []Route{
			{ID: "a", Health: "down", HealthNote: "refused"}, {ID: "b", Health: "degraded"}, {ID: "c", Health: "healthy"},
			{ID: "d", Health: "unknown"}}},
			[]Finding{{"route_down", "a", "health checks fail: refused"}, {"route_degraded", "b", "some health checks fail"}}},
		{"healthy routes", routeHealth, Report{Routes: []Route{{ID: "a", Health: "healthy"}}}, nil},
		{"data plane disconnected or lagging", dataplaneState, Report{System: System{SnapshotVersion: 5, Dataplanes: []Dataplane{
			{NodeID: "a", Connected: false, LastSeen: "2026-11-22T10:00:00Z"}, {NodeID: "b", Connected: true, AppliedVersion: 4, Lag: 1},
			{NodeID: "c", Connected: true, AppliedVersion: 5}}}},
			[]Finding{{"dataplane_disconnected", "a", "not connected; last seen 2026-11-22T10:00:00Z"},
				{"dataplane_lagging", "b", "applied snapshot 4, 1 behind version 5"}}},
		{"NACK", nacks, Report{Config: ConfigProblems{NACKs: []NACK{{NodeID: "a", Version: 3, Reason: "bad"}}}},
			[]Finding{{"snapshot_nack", "a", "refused snapshot 3: bad"}}},
		{"one rejected problem", rejectedConfig, Report{Config: ConfigProblems{Rejected: []string{"a.yaml:1:1: x"}}},
			[]Finding{{"config_rejected", "configuration", "the last good version stays live: a.yaml:1:1: x"}}},
		{"two rejected problems", rejectedConfig, Report{Config: ConfigProblems{Rejected: []string{"a.yaml:1:1: x", "b.yaml:2:1: y"}}},
			[]Finding{{"config_rejected", "configuration", "2 problems; the last good version stays live; first: a.yaml:1:1: x"}}},
		{"no rejection", rejectedConfig, Report{}, nil},
		{"open circuit only", openCircuits, Report{Circuits: []Circuit{{Service: "a:80", State: "open", Failures: 5},
			{Service: "b:80", State: "half-open"}, {Service: "c:80", State: "closed"}}},
			[]Finding{{"circuit_open", "a:80", "circuit breaker open after 5 failures"}}},
		{"error rate over 5% with 20 requests", highErrorRate, Report{Routes: []Route{
			{ID: "a", Requests: 20, ErrorRate: 0.1}, {ID: "few", Requests: 19, ErrorRate: 1}, {ID: "at", Requests: 100, ErrorRate: 0.05}}},
			[]Finding{{"high_error_rate", "a", "10.0% of 20 requests failed in 24h"}}},
		{"p95 over a second", slowRoutes, Report{Routes: []Route{{ID: "a", P95MS: 1000.1, P99MS: 2000}, {ID: "b", P95MS: 1000}}},
			[]Finding{{"slow_route", "a", "p95 latency 1000 ms over 24h (p99 2000 ms)"}}},
		{"certificates at 14 days or expired", certificates, Report{Certificates: []Certificate{
			{Domain: "x", DaysLeft: -1, Level: "expired", ExpiresAt: "T1"}, {Domain: "y", DaysLeft: 14, ExpiresAt: "T2"},
			{Domain: "z", DaysLeft: 15, ExpiresAt: "T3"}}},
			[]Finding{{"certificate_expired", "x", "expired T1"}, {"certificate_expiring", "y", "14 days left (expires T2)"}}},
		{"events dropped", droppedEvents, Report{System: System{EventsDropped24h: 3}},
			[]Finding{{"events_dropped", "data planes", "3 events dropped in 24h: logs and statistics are incomplete"}}},
		{"no events dropped", droppedEvents, Report{}, nil},
		{"WAF spike", wafSpike, Report{Security: Security{WAFLastHour: 20, WAFBlocks: 20, TopRules: []Count{{"sqli", 20}}}},
			[]Finding{{"waf_spike", "security", "20 WAF matches in the last hour (20 in 24h); top rules sqli"}}},
		{"WAF steady over the day", wafSpike, Report{Security: Security{WAFLastHour: 30, WAFBlocks: 24 * 30}}, nil},
		{"WAF spike too small", wafSpike, Report{Security: Security{WAFLastHour: 19, WAFBlocks: 19}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rule(&tc.report); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestNothingLooksWrong(t *testing.T) {
	r := &Report{Routes: []Route{{ID: "a", Health: "healthy", Requests: 100}}, Certificates: []Certificate{{Domain: "a", DaysLeft: 60}}}
	if got := findings(r); len(got) != 0 {
		t.Fatalf("findings of a healthy report: %+v", got)
	}
	out, err := Render(r, Markdown, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(out, "## What looks wrong\n\nNothing looks wrong.\n") {
		t.Errorf("no 'Nothing looks wrong':\n%s", out)
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
