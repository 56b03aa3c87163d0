package alerts

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

var seq uint64

// batchOf wraps events in a batch as a data plane sends it.
func batchOf(reqs []*proxyv1.RequestEvent, sec []*proxyv1.SecurityEvent, circuits ...*proxyv1.CircuitEvent) *proxyv1.EventBatch {
	seq++
	return &proxyv1.EventBatch{NodeId: "dp-1", BootId: "boot", Sequence: seq, Requests: reqs, Security: sec, Circuits: circuits}
}

// requests makes n requests to route, errs of them answered 502.
func requests(route string, n, errs int) []*proxyv1.RequestEvent {
	var out []*proxyv1.RequestEvent
	for i := range n {
		ev := &proxyv1.RequestEvent{RequestId: fmt.Sprintf("req-%d", i), RouteId: route, Method: "GET", Path: "/api", Status: 200}
		if i < errs {
			ev.Status, ev.Error = 502, "dial backend: connection refused"
		}
		out = append(out, ev)
	}
	return out
}

func TestHighErrorRate(t *testing.T) {
	const route = "gpanel.example.org/"
	a, rec, clk, _ := fixture(t)
	// Steps over one route; each adds a batch at the clock's time and says whether it alerts.
	for _, tc := range []struct {
		desc       string
		advance    time.Duration
		n, errs    int
		want       bool
		wantErrors string
	}{
		{desc: "two errors of three requests: too few to judge", n: 3, errs: 2},
		{desc: "5% exactly is not above", advance: 10 * time.Second, n: 37, errs: 0},                            // 2 of 40
		{desc: "crossing: 3 of 41", advance: 10 * time.Second, n: 1, errs: 1, want: true, wantErrors: "3 / 41"}, // 7.3%
		{desc: "still above: no second alert", advance: 10 * time.Second, n: 10, errs: 5},                       // 8 of 51
		{desc: "falls back under", advance: 10 * time.Second, n: 200, errs: 0},                                  // 8 of 251
		{desc: "above again: alerts again", advance: 10 * time.Second, n: 20, errs: 20, want: true, wantErrors: "28 / 271"},
		{desc: "the window slides past everything: re-armed", advance: 6 * time.Minute, n: 1, errs: 0},
		{desc: "a new burst alerts", advance: 10 * time.Second, n: 20, errs: 2, want: true, wantErrors: "2 / 21"},
	} {
		clk.add(tc.advance)
		a.ObserveBatch(batchOf(requests(route, tc.n, tc.errs), nil), true, 0, nil)
		got := rec.take()
		if len(got) != map[bool]int{false: 0, true: 1}[tc.want] {
			t.Fatalf("%s: alerts %+v", tc.desc, got)
		}
		if !tc.want {
			continue
		}
		g := got[0]
		if g.Type != alert.HighErrorRate || g.Severity != alert.Critical || g.RouteID != route || g.Host != "gpanel.example.org" ||
			!hasField(g, "Errors", tc.wantErrors) || g.RequestID == "" || !strings.Contains(g.Sample, "502") || !g.Time.Equal(clk.now()) {
			t.Fatalf("%s: alert %+v", tc.desc, g)
		}
	}

	// A re-sent batch (stored false) and a failed one count nothing.
	clk.add(10 * time.Minute)
	a.ObserveBatch(batchOf(requests(route, 100, 100), nil), false, 0, nil)
	a.ObserveBatch(batchOf(requests(route, 100, 100), nil), true, 0, fmt.Errorf("disk full"))
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("batches not stored now alerted: %+v", got)
	}
}

func TestHighErrorRateThresholdsFromConfig(t *testing.T) {
	const route = "vault.example.org/"
	a, rec, clk, _ := fixture(t)
	g := &config.Global{Alerts: config.Alerts{ErrorRate: config.AlertErrorRate{Window: time.Minute, ThresholdPercent: 50, MinRequests: 4}}}
	a.opts.Global = func() *config.Global { return g }
	a.ObserveBatch(batchOf(requests(route, 4, 2), nil), true, 0, nil) // 50%: not above
	clk.add(time.Second)
	a.ObserveBatch(batchOf(requests(route, 1, 1), nil), true, 0, nil) // 3 of 5
	if got := rec.take(); len(got) != 1 || !hasField(got[0], "Window", "1m0s") || !hasField(got[0], "Errors", "3 / 5") {
		t.Fatalf("alerts %+v", got)
	}
	// Proxy errors after a success status count; security answers and clients that left do not.
	for _, tc := range []struct {
		status int32
		err    string
		want   bool
	}{{500, "", true}, {503, "circuit open", true}, {200, "response cut short", true}, {403, "waf", false}, {429, "rate limit", false}, {499, "client left", false}, {404, "", false}} {
		if got := isError(&proxyv1.RequestEvent{Status: tc.status, Error: tc.err}); got != tc.want {
			t.Errorf("isError(%d, %q) = %v", tc.status, tc.err, got)
		}
	}
}

// security makes n security events of kind on route, from client.
func security(route string, kind proxyv1.SecurityKind, action, client string, n int) []*proxyv1.SecurityEvent {
	var out []*proxyv1.SecurityEvent
	for i := range n {
		out = append(out, &proxyv1.SecurityEvent{Time: ts(t0), Kind: kind, RouteId: route, ClientIp: client, Path: "/login",
			RequestId: fmt.Sprintf("sec-%d", i), Action: action, Rule: "sql_injection", Pattern: "s&sos"})
	}
	return out
}

func TestSpikes(t *testing.T) {
	const route = "vault.example.org/"
	a, rec, clk, _ := fixture(t)
	login, waf := proxyv1.SecurityKind_SECURITY_KIND_FAILED_LOGIN, proxyv1.SecurityKind_SECURITY_KIND_WAF
	for _, tc := range []struct {
		desc    string
		advance time.Duration
		evs     []*proxyv1.SecurityEvent
		want    alert.Type
	}{
		{desc: "10 failed logins: not above", evs: security(route, login, "logged", "203.0.113.45", 10)},
		{desc: "the 11th in the minute", advance: 20 * time.Second, evs: security(route, login, "logged", "203.0.113.45", 1), want: alert.FailedLoginSpike},
		{desc: "more in the same minute: once", advance: 5 * time.Second, evs: security(route, login, "logged", "203.0.113.45", 30)},
		{desc: "WAF in log mode does not count", evs: security(route, waf, "logged", "198.51.100.7", 80)},
		{desc: "50 WAF blocks: not above", evs: security(route, waf, "blocked", "198.51.100.7", 50)},
		{desc: "51st block", advance: time.Second, evs: security(route, waf, "blocked", "198.51.100.7", 1), want: alert.WAFBlockSpike},
		{desc: "quiet for two minutes, then one login: re-armed, below", advance: 2 * time.Minute, evs: security(route, login, "logged", "203.0.113.45", 1)},
		{desc: "a new flood alerts again", advance: time.Second, evs: security(route, login, "logged", "203.0.113.45", 11), want: alert.FailedLoginSpike},
		{desc: "another route's events are its own", evs: security("gpanel.example.org/", login, "logged", "203.0.113.45", 10)},
		{desc: "unknown routes are ignored", evs: security("gone.example.org/", login, "logged", "203.0.113.45", 100)},
	} {
		clk.add(tc.advance)
		a.ObserveBatch(batchOf(nil, tc.evs), true, 0, nil)
		got := rec.take()
		if tc.want == "" {
			if len(got) != 0 {
				t.Fatalf("%s: alerts %+v", tc.desc, got)
			}
			continue
		}
		if len(got) != 1 || got[0].Type != tc.want || got[0].RouteID != route || got[0].Host != "vault.example.org" || got[0].RequestID == "" {
			t.Fatalf("%s: alerts %+v", tc.desc, got)
		}
		// vault masks by prefix:16:48: the raw address never reaches the alert.
		if s := fmt.Sprint(got[0]); strings.Contains(s, "203.0.113.45") || strings.Contains(s, "198.51.100.7") ||
			!(strings.Contains(got[0].Sample, "203.0.0.0/16") || strings.Contains(got[0].Sample, "198.51.0.0/16")) {
			t.Fatalf("%s: address not masked as the route's logs: %+v", tc.desc, got[0])
		}
	}
	if n := len(a.batch.routes); n != 2 {
		t.Fatalf("state kept for %d routes, want 2 (events of unknown routes keep none)", n)
	}
}

func TestBanAndUnusualCountryMasked(t *testing.T) {
	a, rec, _, fl := fixture(t)
	banned := proxyv1.SecurityKind_SECURITY_KIND_BANNED
	for _, tc := range []struct {
		route, client, want string
	}{
		{"gpanel.example.org/", "203.0.113.45", "203.0.113.xxx"}, // default: last octet
		{"vault.example.org/", "203.0.113.45", "203.0.0.0/16"},
		{"hashed.example.org/", "2001:db8:1:2:3:4:5:6", "2001:db8:1::/48"}, // the control plane has no hash key
		{"open.example.org/", "203.0.113.45", "203.0.113.45"},              // mask_ip_method: none
	} {
		ev := &proxyv1.SecurityEvent{Time: ts(t0), Kind: banned, RouteId: tc.route, ClientIp: tc.client, Path: "/login", RequestId: "ban-1",
			Action: "banned", Rule: "failed_logins", Count: 5, BanUntil: ts(t0.Add(time.Hour)), Reason: "5 failed logins in 5m0s", AlertWebhook: true}
		quiet := &proxyv1.SecurityEvent{Time: ts(t0), Kind: banned, RouteId: tc.route, ClientIp: tc.client, Action: "banned", Rule: "per_ip"}
		unusual := &proxyv1.SecurityEvent{Time: ts(t0), Kind: proxyv1.SecurityKind_SECURITY_KIND_UNUSUAL_COUNTRY, RouteId: tc.route, ClientIp: tc.client,
			Path: "/login", RequestId: "login-1", Action: "logged", Rule: "alert_on_unusual_country", Country: "BR", AlertWebhook: true}
		a.ObserveBatch(batchOf(nil, []*proxyv1.SecurityEvent{ev, quiet, unusual}), true, 0, nil)
		got := rec.take()
		if len(got) != 2 || got[0].Type != alert.RateLimitBan || got[1].Type != alert.UnusualCountryLogin {
			t.Fatalf("%s: alerts %+v (the ban without alert_webhook must raise nothing)", tc.route, got)
		}
		ban, login := got[0], got[1]
		if ban.RouteID != tc.route || ban.RequestID != "ban-1" || !hasField(ban, "Client", tc.want) || !hasField(ban, "Rule", "failed_logins") ||
			!hasField(ban, "Until", t0.Add(time.Hour).Format(time.RFC3339)) || ban.Severity != alert.Warning {
			t.Fatalf("%s: ban %+v", tc.route, ban)
		}
		if login.RouteID != tc.route || login.RequestID != "login-1" || !hasField(login, "Client", tc.want) || !hasField(login, "Country", "BR") {
			t.Fatalf("%s: unusual login %+v", tc.route, login)
		}
		if tc.want != tc.client && strings.Contains(fmt.Sprint(got), tc.client) {
			t.Fatalf("%s: raw address in %+v", tc.route, got)
		}
	}
	// After a reload drops routes, their state goes.
	fl.Publish(&proxyv1.Snapshot{Version: 2, Routes: []*proxyv1.Route{testRoute("gpanel.example.org", "http://panel:80", "")}})
	a.ObserveBatch(batchOf(requests("gpanel.example.org/", 1, 0), nil), true, 0, nil)
	if _, ok := a.batch.routes["vault.example.org/"]; ok || len(a.batch.routes) != 1 {
		t.Fatalf("state of removed routes kept: %v", a.batch.routes)
	}
}

func TestSlowRequestCritical(t *testing.T) {
	const route = "gpanel.example.org/"
	a, rec, clk, fl := fixture(t)
	// The panel asks for the webhook (slow_request.alert_webhook); open.example.org does not:
	// its critically slow requests are logged by the data plane, not alerted.
	panel := testRoute("gpanel.example.org", "http://panel:80", "")
	panel.Policy.SlowRequest = &proxyv1.SlowRequest{Enabled: true, AlertWebhook: true}
	quiet := testRoute("open.example.org", "http://open:80", "none")
	quiet.Policy.SlowRequest = &proxyv1.SlowRequest{Enabled: true}
	fl.Publish(&proxyv1.Snapshot{Version: 2, Routes: []*proxyv1.Route{panel, quiet}})
	slow := func(id, level string) *proxyv1.RequestEvent {
		return &proxyv1.RequestEvent{RequestId: id, RouteId: route, Method: "POST", Path: "/export", Status: 200,
			Duration: durationpb.New(12 * time.Second), Slow: level, ClientIp: "203.0.113.xxx"}
	}
	unasked := slow("q-1", "critical")
	unasked.RouteId = "open.example.org/"
	for _, tc := range []struct {
		advance time.Duration
		evs     []*proxyv1.RequestEvent
		wantID  string
	}{
		{evs: []*proxyv1.RequestEvent{slow("w-1", "warning")}},
		{evs: []*proxyv1.RequestEvent{unasked}},
		{evs: []*proxyv1.RequestEvent{slow("c-1", "critical"), unasked, slow("c-2", "critical")}, wantID: "c-1"},
		{advance: 30 * time.Second, evs: []*proxyv1.RequestEvent{slow("c-3", "critical")}},
		{advance: 30 * time.Second, evs: []*proxyv1.RequestEvent{slow("c-4", "critical")}, wantID: "c-4"}, // the next minute
	} {
		clk.add(tc.advance)
		a.ObserveBatch(batchOf(tc.evs, nil), true, 0, nil)
		got := rec.take()
		if tc.wantID == "" {
			if len(got) != 0 {
				t.Fatalf("alerts %+v", got)
			}
			continue
		}
		if len(got) != 1 || got[0].Type != alert.SlowRequestCritical || got[0].RequestID != tc.wantID || got[0].Host != "gpanel.example.org" ||
			!hasField(got[0], "Duration", "12s") || got[0].Sample != "POST /export" {
			t.Fatalf("alerts %+v", got)
		}
	}
}

func TestCircuits(t *testing.T) {
	a, rec, _, _ := fixture(t)
	for _, tc := range []struct {
		from, to string
		backend  string
		want     alert.Type
		wantHost string
	}{
		{"closed", "open", "http://vault:80", alert.CircuitOpen, "vault.example.org"},
		{"open", "half-open", "http://vault:80", "", ""},
		{"half-open", "open", "http://vault:80", alert.CircuitOpen, "vault.example.org"},
		{"half-open", "closed", "http://vault:80", alert.CircuitClosed, "vault.example.org"},
		{"closed", "open", "http://elsewhere:80", alert.CircuitOpen, ""},
	} {
		a.ObserveBatch(batchOf(nil, nil, &proxyv1.CircuitEvent{Time: ts(t0), Backend: tc.backend, From: tc.from, To: tc.to, Failures: 5, Reason: "5 failures in 10s"}), true, 0, nil)
		got := rec.take()
		if tc.want == "" {
			if len(got) != 0 {
				t.Fatalf("%s→%s: alerts %+v", tc.from, tc.to, got)
			}
			continue
		}
		if len(got) != 1 || got[0].Type != tc.want || got[0].Host != tc.wantHost || got[0].Backend != tc.backend || !hasField(got[0], "Data plane", "dp-1") {
			t.Fatalf("%s→%s: alerts %+v", tc.from, tc.to, got)
		}
	}
}

func TestSlider(t *testing.T) {
	s := newSlider(time.Minute) // 12 buckets of 5 s
	s.add(t0, 3, 1)
	s.add(t0.Add(30*time.Second), 2, 2)
	for _, tc := range []struct {
		at           time.Duration
		total, count int
	}{{0, 3, 1}, {30 * time.Second, 5, 3}, {59 * time.Second, 5, 3}, {60 * time.Second, 2, 2}, {95 * time.Second, 0, 0}} {
		if total, count := s.sum(t0.Add(tc.at)); total != tc.total || count != tc.count {
			t.Errorf("at %s: %d/%d, want %d/%d", tc.at, count, total, tc.count, tc.total)
		}
	}
}
