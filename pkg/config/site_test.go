package config

import (
	"reflect"
	"testing"
	"time"
)

func mustParseSite(t *testing.T, src string) *Site {
	t.Helper()
	s, err := ParseSite("/etc/proxy/sites-available/app.yaml", []byte(src))
	if err != nil {
		t.Fatalf("ParseSite:\n%v", err)
	}
	return s
}

func TestFlatForm(t *testing.T) {
	s := mustParseSite(t, `
host: [Gpanel.Chilla55.DE., "*.Example.org"]
backend: HTTP://Pterodactyl_Panel:80/base/
waf: {mode: log}
`)
	want := Route{Hosts: []string{"gpanel.chilla55.de", "*.example.org"}, Path: "/", Backend: "http://pterodactyl_panel:80/base/", Line: 2, Column: 7}
	got := s.Routes[0]
	got.Policy, got.hostAt = Policy{}, nil
	if len(s.Routes) != 1 || !reflect.DeepEqual(got, want) {
		t.Errorf("routes = %+v, want %+v", s.Routes, want)
	}
	if s.Name != "app" || !s.Enabled {
		t.Errorf("name %q enabled %v", s.Name, s.Enabled)
	}
	if w := s.Routes[0].Policy.WAF; w == nil || !w.Enabled || w.Mode != "log" || !w.Rules.XSS {
		t.Errorf("waf = %+v, want enabled (written), mode log, all rules (none written)", w)
	}
}

func TestServiceForm(t *testing.T) {
	s := mustParseSite(t, `
enabled: true
service:
  name: gpanel
routes:
  - domains: ["gpanel.chilla55.de"]
    path: /
    backend: http://gpanel:8080
  - domains: [api.chilla55.de, gpanel.chilla55.de]
    path: /api/
    backend: http://gpanel_api:9000
    options:
      timeouts: {read: 2m}
      circuit_breaker: {enabled: false}
options:
  circuit_breaker:
    enabled: true
    failure_threshold: 5
  timeouts: {connect: 1s}
`)
	if s.Name != "gpanel" || len(s.Routes) != 2 {
		t.Fatalf("site = %+v", s)
	}
	r0, r1 := s.Routes[0], s.Routes[1]
	if r1.Path != "/api" || r1.Line != 9 || r1.Column != 5 {
		t.Errorf("route 1 path %q at %d:%d", r1.Path, r1.Line, r1.Column)
	}
	// Route options win over the site's, key by key.
	tests := []struct {
		desc      string
		got, want any
	}{
		{"site connect", r0.Policy.Timeouts.Connect, time.Second},
		{"site read (built-in)", r0.Policy.Timeouts.Read, 30 * time.Second},
		{"route read", r1.Policy.Timeouts.Read, 2 * time.Minute},
		{"route keeps site connect", r1.Policy.Timeouts.Connect, time.Second},
		{"site breaker on", r0.Policy.CircuitBreaker.Enabled, true},
		{"site breaker defaults", r0.Policy.CircuitBreaker.Window, 60 * time.Second},
		{"route breaker off", r1.Policy.CircuitBreaker.Enabled, false},
		{"route breaker keeps threshold", r1.Policy.CircuitBreaker.FailureThreshold, int64(5)},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.desc, tc.got, tc.want)
		}
	}
}

func TestDisabledSite(t *testing.T) {
	s := mustParseSite(t, "enabled: false\nservice: {name: old}\nroutes:\n  - {domains: [a.example.org], backend: 'http://a'}\n")
	if s.Enabled || len(s.Routes) != 1 {
		t.Errorf("disabled site: enabled %v, %d routes (want false, 1: still validated)", s.Enabled, len(s.Routes))
	}
	if _, err := ParseSite("x.yaml", []byte("enabled: false\nroutes:\n  - {domains: [a.example.org], backend: 'ftp://a'}\n")); err == nil {
		t.Error("a disabled site is not validated")
	}
}

func TestBuiltinDefaults(t *testing.T) {
	errs := &errorSink{}
	d := &decoder{file: builtinFile, root: "defaults", errs: errs}
	var builtinPolicy Policy
	d.decode(parseDocument(d, []byte(builtinYAML)), "", &builtinPolicy)
	if err := errs.err(); err != nil {
		t.Fatalf("the built-in defaults do not validate:\n%v", err)
	}
	p := mustParseSite(t, "host: a.example.org\nbackend: http://a\n").Policy
	want := Policy{
		Timeouts:      &Timeouts{Connect: 5 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second, Idle: 120 * time.Second},
		Logging:       &Logging{MaskPII: true, MaskIPMethod: "last_octet"},
		DataRetention: &DataRetention{AccessLogs: 7 * Day, ErrorLogs: 30 * Day, SecurityLogs: 90 * Day, AuditLogs: 365 * Day, Metrics: 30 * Day},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("policy of a bare site =\n%+v\nwant\n%+v", p, want)
	}
}

func TestEnabledSectionDefaults(t *testing.T) {
	p := mustParseSite(t, `
host: a.example.org
backend: http://a
health_check: {path: /healthz}
waf: {enabled: true}
compression: {algorithms: [brotli, gzip]}
retry: {enabled: true}
slow_request: {alert_webhook: true}
websocket: {enabled: false, max_connections: 10}
logging: {mask_pii: false}
`).Policy
	tests := []struct {
		desc      string
		got, want any
	}{
		{"health_check", *p.HealthCheck, HealthCheck{Enabled: true, Interval: 10 * time.Second, Timeout: 5 * time.Second, Path: "/healthz", ExpectedStatus: 200, Method: "GET"}},
		{"waf", *p.WAF, WAF{Enabled: true, Mode: "block", Rules: WAFRules{true, true, true, true, true}}},
		{"compression level", p.Compression.Level, 6},
		{"compression min_size", p.Compression.MinSize, Size(1024)},
		{"compression algorithms", len(p.Compression.Algorithms), 2},
		{"retry", *p.Retry, Retry{Enabled: true, MaxAttempts: 3, Backoff: "exponential", InitialDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second, RetryOn: defaultRetryOn}},
		{"slow_request", *p.SlowRequest, SlowRequest{Enabled: true, Thresholds: SlowThresholds{Warning: 5 * time.Second, Critical: 10 * time.Second}, AlertWebhook: true}},
		{"websocket off", *p.WebSocket, WebSocket{Enabled: false, MaxConnections: 10}},
		{"logging keeps built-in mask method", *p.Logging, Logging{MaskPII: false, MaskIPMethod: "last_octet"}},
	}
	for _, tc := range tests {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s =\n%+v\nwant\n%+v", tc.desc, tc.got, tc.want)
		}
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	s := mustParseSite(t, `
x-strict: &strict
  waf: {mode: block}
  timeouts: {connect: 2s}
routes:
  - domains: [a.example.org]
    backend: http://a
    options:
      <<: *strict
      timeouts: {connect: 3s}
  - domains: [b.example.org]
    backend: http://b
    options: *strict
`)
	if got := s.Routes[0].Policy.Timeouts.Connect; got != 3*time.Second {
		t.Errorf("explicit key loses to merge key: connect = %v", got)
	}
	if w := s.Routes[1].Policy.WAF; w == nil || w.Mode != "block" {
		t.Errorf("alias: waf = %+v", w)
	}
}

func TestErrorPagesPaths(t *testing.T) {
	p := mustParseSite(t, "host: a.example.org\nbackend: http://a\nerror_pages:\n  502: pages/502.html\n  \"503\": /srv/503.html\n").Policy
	want := ErrorPages{502: "/etc/proxy/sites-available/pages/502.html", 503: "/srv/503.html"}
	if !reflect.DeepEqual(p.ErrorPages, want) {
		t.Errorf("error_pages = %v, want %v", p.ErrorPages, want)
	}
}

func TestSiteNameFromFile(t *testing.T) {
	s, err := ParseSite("/etc/proxy/sites-available/gpanel.chilla55.de.yaml", []byte("host: a.example.org\nbackend: http://a\n"))
	if err != nil || s.Name != "gpanel.chilla55.de" {
		t.Errorf("name = %q, %v", s.Name, err)
	}
}

func TestPolicyPlacementIsIndependentOfTheForm(t *testing.T) {
	flatWithOptions := mustParseSite(t, "host: a.example.org\nbackend: http://a\noptions:\n  waf: {mode: log}\n")
	routesWithSections := mustParseSite(t, "routes:\n  - {domains: [a.example.org], backend: 'http://a'}\nwaf: {mode: log}\n")
	for _, s := range []*Site{flatWithOptions, routesWithSections} {
		if w := s.Routes[0].Policy.WAF; w == nil || w.Mode != "log" {
			t.Errorf("waf = %+v", w)
		}
	}
}
