package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// allRules is WAFRules with every rule on, whatever rules it has.
func allRules() WAFRules {
	var r WAFRules
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		v.Field(i).SetBool(true)
	}
	return r
}

func TestTierValues(t *testing.T) {
	moderate := allRules()
	moderate.SuspiciousHeaders = false
	tests := []struct {
		tier  string
		rate  RateLimit
		waf   WAF
		log   Logging
		keep  DataRetention
		audit string
	}{
		{TierPublic, RateLimit{Global: 1000, PerIP: 100}, WAF{Enabled: true, Mode: "block", Rules: allRules()},
			Logging{MaskPII: true, MaskIPMethod: "last_octet"},
			DataRetention{AccessLogs: 7 * Day, ErrorLogs: 30 * Day, SecurityLogs: 90 * Day, AuditLogs: 365 * Day, Metrics: 30 * Day}, AuditStandard},
		{TierPrivate, RateLimit{Global: 300, PerIP: 30}, WAF{Enabled: true, Mode: "block", Rules: moderate},
			Logging{MaskPII: true, MaskIPMethod: "last_octet"},
			DataRetention{AccessLogs: 30 * Day, ErrorLogs: 90 * Day, SecurityLogs: 365 * Day, AuditLogs: 365 * Day, Metrics: 90 * Day}, AuditEnhanced},
		{TierAdmin, RateLimit{Global: 120, PerIP: 20}, WAF{Enabled: true, Mode: "block", Rules: allRules()},
			Logging{MaskPII: true, MaskIPMethod: "none"},
			DataRetention{AccessLogs: 365 * Day, ErrorLogs: 365 * Day, SecurityLogs: 365 * Day, AuditLogs: 365 * Day, Metrics: 90 * Day}, AuditFull},
	}
	forms := map[string]string{
		"flat":    "tier: %s\nhost: a.example.org\nbackend: http://a\n",
		"service": "service: {name: a}\ntier: %s\nroutes:\n  - {domains: [a.example.org], backend: 'http://a'}\n  - {domains: [a.example.org], path: /api, backend: 'http://b'}\n",
	}
	for _, tc := range tests {
		for form, src := range forms {
			t.Run(tc.tier+"/"+form, func(t *testing.T) {
				s := mustParseSite(t, strings.Replace(src, "%s", tc.tier, 1))
				if s.Tier != tc.tier || s.Audit != tc.audit {
					t.Errorf("tier %q audit %q, want %q %q", s.Tier, s.Audit, tc.tier, tc.audit)
				}
				for _, r := range s.Routes {
					p := r.Policy
					for _, c := range []struct {
						desc      string
						got, want any
					}{
						{"rate_limit", *p.RateLimit, tc.rate},
						{"waf", *p.WAF, tc.waf},
						{"logging", *p.Logging, tc.log},
						{"data_retention", *p.DataRetention, tc.keep},
						{"timeouts (built-in, untouched)", p.Timeouts.Read, 30 * time.Second},
					} {
						if !reflect.DeepEqual(c.got, c.want) {
							t.Errorf("route %s %s =\n%+v\nwant\n%+v", r.Path, c.desc, c.got, c.want)
						}
					}
				}
			})
		}
	}
}

// The tiers get stricter in the order of the seeds' matrix.
func TestTiersAreOrdered(t *testing.T) {
	rate := func(tier string) *RateLimit {
		return mustParseSite(t, "tier: "+tier+"\nhost: a.example.org\nbackend: http://a\n").Policy.RateLimit
	}
	pub, priv, adm := rate(TierPublic), rate(TierPrivate), rate(TierAdmin)
	if !(pub.PerIP > priv.PerIP && priv.PerIP > adm.PerIP && pub.Global > priv.Global && priv.Global > adm.Global) {
		t.Errorf("rate limits not moderate > aggressive > tightest: %+v %+v %+v", pub, priv, adm)
	}
}

func TestNoTier(t *testing.T) {
	s := mustParseSite(t, "host: a.example.org\nbackend: http://a\n")
	if s.Tier != "" || s.Audit != AuditStandard || s.Policy.RateLimit != nil || s.Policy.WAF != nil {
		t.Errorf("a site without tier: tier %q audit %q rate_limit %+v waf %+v", s.Tier, s.Audit, s.Policy.RateLimit, s.Policy.WAF)
	}
}

func TestTierOverrides(t *testing.T) {
	s := mustParseSite(t, `
tier: admin
audit: enhanced
service: {name: panel}
routes:
  - domains: [panel.example.org]
    backend: http://panel
  - domains: [panel.example.org]
    path: /api
    backend: http://panel-api
    options:
      rate_limit: {per_ip: 600}
      waf: {mode: log}
      data_retention: {access_logs: 14d}
options:
  rate_limit:
    per_ip: 40
    paths:
      - {path: /login, per_ip: 5, ban_after: 3, ban_duration: 1h}
  waf:
    rules: {xss: false}
  logging: {mask_ip_method: hash}
`)
	site, api := s.Routes[0].Policy, s.Routes[1].Policy
	tests := []struct {
		desc      string
		got, want any
	}{
		{"audit written wins over the tier's", s.Audit, AuditEnhanced},
		{"site per_ip wins over the tier", site.RateLimit.PerIP, int64(40)},
		{"site keeps the tier's global", site.RateLimit.Global, int64(120)},
		{"site paths", len(site.RateLimit.Paths), 1},
		{"site rule off, key by key", site.WAF.Rules.XSS, false},
		{"site keeps the tier's other rules", site.WAF.Rules.SQLInjection && site.WAF.Rules.SuspiciousHeaders, true},
		{"site keeps the tier's mode", site.WAF.Mode, "block"},
		{"site mask method", site.Logging.MaskIPMethod, "hash"},
		{"site keeps the tier's access_logs", site.DataRetention.AccessLogs, 365 * Day},
		{"route per_ip wins over the site", api.RateLimit.PerIP, int64(600)},
		{"route keeps the tier's global", api.RateLimit.Global, int64(120)},
		{"route keeps the site's paths", len(api.RateLimit.Paths), 1},
		{"route mode wins over the tier", api.WAF.Mode, "log"},
		{"route keeps the site's rules", api.WAF.Rules.XSS, false},
		{"route retention wins over the tier", api.DataRetention.AccessLogs, 14 * Day},
		{"route keeps the tier's error_logs", api.DataRetention.ErrorLogs, 365 * Day},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.desc, tc.got, tc.want)
		}
	}
}

// The tier sits between the global defaults and the site: it wins over the global file for
// the keys it sets, and the global file still fills in the rest.
func TestTierOverGlobalDefaults(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"global.yaml": `
defaults:
  timeouts: {connect: 3s}
  waf: {mode: log, max_request_size: 1MB}
  rate_limit: {per_ip: 1000, whitelist: [10.0.0.0/8]}
  data_retention: {access_logs: 3d}
`,
		"sites/a.yaml": "tier: private\nhost: a.example.org\nbackend: http://a\n",
		"sites/b.yaml": "host: b.example.org\nbackend: http://b\n",
	})
	cfg, err := Load(filepath.Join(dir, "global.yaml"), filepath.Join(dir, "sites"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Sites[0].Policy, cfg.Sites[1].Policy
	tests := []struct {
		desc      string
		got, want any
	}{
		{"tier wins over global per_ip", a.RateLimit.PerIP, int64(30)},
		{"tier wins over global waf mode", a.WAF.Mode, "block"},
		{"tier wins over global access_logs", a.DataRetention.AccessLogs, 30 * Day},
		{"global whitelist stays", len(a.RateLimit.Whitelist), 1},
		{"global waf size stays", a.WAF.MaxRequestSize, Size(1_000_000)},
		{"global timeouts stay", a.Timeouts.Connect, 3 * time.Second},
		{"site without tier: global per_ip", b.RateLimit.PerIP, int64(1000)},
		{"site without tier: global mode", b.WAF.Mode, "log"},
		{"site without tier: global access_logs", b.DataRetention.AccessLogs, 3 * Day},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.desc, tc.got, tc.want)
		}
	}
}

func TestTierErrors(t *testing.T) {
	tests := []struct {
		desc, src, want string
	}{
		{"unknown tier", "host: a.example.org\nbackend: http://a\ntier: privat\n",
			`site.yaml:3:7: tier: invalid value "privat" (want public, private or admin); did you mean "private"?`},
		{"unknown tier in the service form", "service: {name: a}\ntier: internal\nroutes:\n  - {domains: [a.example.org], backend: 'http://a'}\n",
			`site.yaml:2:7: tier: invalid value "internal" (want public, private or admin)`},
		{"unknown audit level", "host: a.example.org\nbackend: http://a\naudit: verbose\n",
			`site.yaml:3:8: audit: invalid value "verbose" (want standard, enhanced or full)`},
		{"tier under options", "host: a.example.org\nbackend: http://a\noptions: {tier: admin}\n",
			`site.yaml:3:11: unknown key "tier" in options; "tier" is a site key: write it at the top level of the site file`},
		{"tier in a route's options", "routes:\n  - domains: [a.example.org]\n    backend: http://a\n    options: {audit: full}\n",
			`site.yaml:4:15: unknown key "audit" in routes[0].options; "audit" is a site key: write it at the top level of the site file`},
		{"site values are still checked over a tier", "tier: admin\nhost: a.example.org\nbackend: http://a\nwaf: {mode: drop}\n",
			`site.yaml:4:13: waf.mode: invalid value "drop" (want block or log)`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseSite("site.yaml", []byte(tc.src))
			if err == nil || err.Error() != tc.want {
				t.Errorf("got\n%v\nwant\n%s", err, tc.want)
			}
		})
	}
}

// Every tier is valid under every seed site: its values pass the checks together with any
// keys a site writes.
func TestTiersWithSeeds(t *testing.T) {
	for _, file := range seedFiles(t) {
		name := filepath.Base(file)
		if strings.HasSuffix(name, "-global.yaml") {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if base, ok := seedFragments[name]; ok {
			data = append(append(data, '\n'), base...)
		}
		for _, tier := range Tiers() {
			if _, err := ParseSite(file, append([]byte("tier: "+tier+"\n"), data...)); err != nil {
				t.Errorf("%s with tier %s:\n%v", name, tier, err)
			}
		}
	}
}

func TestEffectiveOrigins(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"global.yaml":  "defaults:\n  timeouts: {connect: 3s}\n",
		"sites/a.yaml": "tier: public\nhost: a.example.org\nbackend: http://a\nrate_limit: {per_ip: 50}\nhealth_check: {path: /up}\n",
	})
	cfg, err := Load(filepath.Join(dir, "global.yaml"), filepath.Join(dir, "sites"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := cfg.Sites[0].EffectiveYAML()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(string(out), dir, "DIR")
	for _, want := range []string{
		"tier: public # DIR/sites/a.yaml:1\n",
		"audit: standard # tier public\n",
		"connect: 3s # global DIR/global.yaml:2\n",
		"read: 30s # built-in\n",
		"per_ip: 50 # DIR/sites/a.yaml:4\n",
		"global: 1000 # tier public\n",
		"suspicious_headers: true # tier public\n",
		"interval: 10s # built-in default\n",
		"path: /up # DIR/sites/a.yaml:5\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("effective configuration lacks %q:\n%s", want, got)
		}
	}
}
