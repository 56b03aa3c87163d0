package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/proxy-manager/proxy-manager/pkg/ipmask"
)

// The checks below run right after a section is decoded. They turn a section on when it is
// written without enabled:, fill in the defaults of an enabled section, and report what is
// wrong at the value it concerns. They run on the effective policy (built-in defaults, then
// the global defaults, then the site, then the route), so that a site is judged with the
// values it will really run with.

// Values accepted by enum fields.
var (
	headerPresets     = []string{"security-strict", "security-basic", "cors-permissive", "api"}
	wafModes          = []string{"block", "log"}
	wafRules          = []string{"sql_injection", "xss", "path_traversal", "suspicious_headers", "command_injection"}
	maskIPMethods     = []string{string(ipmask.LastOctet), string(ipmask.LastTwoOctets), string(ipmask.Prefix), string(ipmask.Hash), string(ipmask.None)}
	compressionAlgos  = []string{"brotli", "zstd", "gzip"}
	backoffs          = []string{"exponential", "linear", "constant"}
	retryConditions   = []string{"connection_refused", "timeout"}
	compressionLevels = map[string][2]int{"gzip": {1, 9}, "brotli": {0, 11}, "zstd": {1, 22}}
)

// Built-in defaults of an enabled section.
var (
	defaultContentTypes = []string{
		"text/html", "text/css", "text/plain", "text/javascript", "application/javascript",
		"application/json", "application/xml", "image/svg+xml",
	}
	defaultRetryOn = RetryOn{"connection_refused", "timeout", "502", "503"}
)

// minRetention is the shortest retention accepted: a bare number is seconds, so
// "access_logs: 7" (7 seconds) is almost certainly a mistake for "7d".
const minRetention = time.Hour

// switchOn applies the rule "a section that is written is enabled unless it says
// enabled: false".
func switchOn(s *section, enabled *bool) {
	if !s.has("enabled") && !s.empty() {
		*enabled = true
	}
}

func (h *Headers) check(s *section) {
	if s.has("preset") {
		s.enum("preset", h.Preset, headerPresets...)
	}
}

// maxRate is the largest requests-per-minute limit the data plane counts (22-bit counters).
const maxRate = 1<<22 - 1

// defaultLoginStatuses and defaultLoginWindow are failed_logins' defaults.
var (
	defaultLoginStatuses = []int{401, 403}
	defaultLoginWindow   = 15 * time.Minute
)

func (r *RateLimit) check(s *section) {
	seen := map[string]bool{}
	for i, p := range r.Paths {
		if seen[p.Path] && p.Path != "" {
			s.d.failf(s.vals["paths"].Content[i], s.path+".paths", "path %q is listed twice", p.Path)
		}
		seen[p.Path] = true
	}
	if r.Global > maxRate {
		s.errorf("global", "%d is over the largest limit, %d requests per minute", r.Global, maxRate)
	}
	if r.PerIP > maxRate {
		s.errorf("per_ip", "%d is over the largest limit, %d requests per minute", r.PerIP, maxRate)
	}
	r.Whitelist = append(r.Whitelist, r.Exempt...)
	r.Exempt = nil
}

func (f *FailedLogins) check(s *section) {
	var missing []string
	for _, req := range [][2]string{{"paths", "the login paths"}, {"ban_after", "failures that ban a client"}, {"ban_duration", "how long a ban lasts"}} {
		if !s.has(req[0]) {
			missing = append(missing, req[0]+" ("+req[1]+")")
		}
	}
	if len(missing) > 0 {
		s.errorf("", "missing %s", strings.Join(missing, ", "))
	}
	if s.has("paths") && len(f.Paths) == 0 {
		s.errorf("paths", "needs at least one login path")
	}
	for i, p := range f.Paths {
		if err := checkRateLimitPath(p); err != nil {
			s.d.failf(s.vals["paths"].Content[i], s.path+".paths", "%v", err)
		}
	}
	setDefault(s, "statuses", &f.Statuses, slices.Clone(defaultLoginStatuses))
	for i, st := range f.Statuses {
		if st < 100 || st > 599 {
			s.d.failf(s.vals["statuses"].Content[i], s.path+".statuses", "%d is not an HTTP status (100-599)", st)
		}
	}
	if s.has("ban_after") && (f.BanAfter < 1 || f.BanAfter > maxRate) {
		s.errorf("ban_after", "must be between 1 and %d", maxRate)
	}
	positive(s, "ban_duration", f.BanDuration)
	setDefault(s, "window", &f.Window, defaultLoginWindow)
	if s.has("window") && f.Window < time.Second {
		s.errorf("window", "must be at least 1s")
	}
}

func (p *RateLimitPath) check(s *section) {
	switch {
	case !s.has("path"):
		s.errorf("", "missing path")
	default:
		if err := checkRateLimitPath(p.Path); err != nil {
			s.errorf("path", "%v", err)
		}
	}
	if !s.has("per_ip") {
		s.errorf("", "missing per_ip (requests per minute per client IP on this path)")
	} else if p.PerIP == 0 {
		s.errorf("per_ip", "must be at least 1")
	} else if p.PerIP > maxRate {
		s.errorf("per_ip", "%d is over the largest limit, %d requests per minute", p.PerIP, maxRate)
	}
	if p.BanAfter > 0 && p.BanDuration == 0 {
		s.errorf("ban_after", "needs ban_duration (how long the ban lasts)")
	}
	if p.BanAfter == 0 && s.has("ban_duration") {
		s.errorf("ban_duration", "has no effect without ban_after")
	}
}

func (w *WAF) check(s *section) {
	switchOn(s, &w.Enabled)
	if s.has("mode") {
		s.enum("mode", w.Mode, wafModes...)
	} else {
		w.Mode = "block"
	}
	if !s.has("rules") {
		w.Rules = WAFRules{SQLInjection: true, XSS: true, PathTraversal: true, SuspiciousHeaders: true, CommandInjection: true}
	}
}

func (e *WAFExclusion) check(s *section) {
	if s.empty() {
		s.errorf("", "empty exclusion (write a path, params or rules)")
	}
	if s.has("path") {
		if err := checkRateLimitPath(e.Path); err != nil {
			s.errorf("path", "%v", err)
		}
	}
	for i, r := range e.Rules {
		if !slices.Contains(wafRules, r) {
			s.d.failf(s.vals["rules"].Content[i], fmt.Sprintf("%s.rules[%d]", s.path, i), "unknown rule %q (want %s)%s", r, joinOr(wafRules), didYouMean(r, wafRules))
		}
	}
	for i, p := range e.Params {
		if p == "" {
			s.d.failf(s.vals["params"].Content[i], fmt.Sprintf("%s.params[%d]", s.path, i), "empty field name")
		}
	}
}

func (l *Logging) check(s *section) {
	if s.has("mask_ip_method") {
		s.enum("mask_ip_method", l.MaskIPMethod, maskIPMethods...)
	}
	// The prefix lengths are checked wherever they are written (a global default may serve
	// routes of several methods); only prefix uses them, with CNIL's lengths by default.
	for _, f := range []struct {
		key      string
		v        **int
		def, max int
	}{
		{"mask_ip_prefix_v4", &l.MaskIPPrefixV4, ipmask.DefaultPrefixV4, ipmask.MaxPrefixV4},
		{"mask_ip_prefix_v6", &l.MaskIPPrefixV6, ipmask.DefaultPrefixV6, ipmask.MaxPrefixV6},
	} {
		switch {
		case *f.v == nil:
			if l.MaskIPMethod == string(ipmask.Prefix) {
				def := f.def
				*f.v = &def
			}
		case **f.v < 0 || **f.v > f.max:
			s.errorf(f.key, "%d is not a prefix length between 0 and %d (a longer prefix keeps what last_octet keeps, or more)", **f.v, f.max)
		}
	}
}

func (r *RedactPath) check(s *section) {
	if !s.has("pattern") || r.Pattern == "" {
		s.errorf("pattern", "missing pattern (a regular expression)")
	} else if _, err := regexp.Compile(r.Pattern); err != nil {
		s.errorf("pattern", "invalid regular expression: %v", err)
	}
	if !s.has("replacement") {
		r.Replacement = "[REDACTED]"
	}
}

func (r *DataRetention) check(s *section) {
	for _, f := range []struct {
		key string
		v   time.Duration
	}{{"access_logs", r.AccessLogs}, {"error_logs", r.ErrorLogs}, {"security_logs", r.SecurityLogs}, {"audit_logs", r.AuditLogs}, {"metrics", r.Metrics}} {
		if s.has(f.key) && f.v < minRetention {
			s.errorf(f.key, "%s is shorter than the minimum retention of 1h (write days as 7d)", FormatDuration(f.v))
		}
	}
}

func (h *HealthCheck) check(s *section) {
	switchOn(s, &h.Enabled)
	positive(s, "interval", h.Interval)
	positive(s, "timeout", h.Timeout)
	if s.has("path") {
		if err := checkProbePath(h.Path); err != nil {
			s.errorf("path", "%v", err)
		}
	}
	if s.has("expected_status") && (h.ExpectedStatus < 100 || h.ExpectedStatus > 599) {
		s.errorf("expected_status", "%d is not an HTTP status code (100-599)", h.ExpectedStatus)
	}
	if s.has("method") {
		h.Method = strings.ToUpper(h.Method)
		s.enum("method", h.Method, "GET", "HEAD")
	}
	if !h.Enabled {
		return
	}
	setDefault(s, "interval", &h.Interval, 10*time.Second)
	setDefault(s, "timeout", &h.Timeout, 5*time.Second)
	setDefault(s, "path", &h.Path, "/")
	setDefault(s, "expected_status", &h.ExpectedStatus, 200)
	setDefault(s, "method", &h.Method, "GET")
	if h.Timeout > h.Interval && h.Interval > 0 {
		s.errorf(firstOf(s, "timeout", "interval"), "timeout (%s) must not be longer than interval (%s)", FormatDuration(h.Timeout), FormatDuration(h.Interval))
	}
}

func (w *WebSocket) check(s *section) {
	switchOn(s, &w.Enabled)
	if w.PingInterval > 0 && w.IdleTimeout > 0 && w.PingInterval >= w.IdleTimeout {
		s.errorf(firstOf(s, "ping_interval", "idle_timeout"), "ping_interval (%s) must be shorter than idle_timeout (%s), or idle connections close before a ping keeps them open", FormatDuration(w.PingInterval), FormatDuration(w.IdleTimeout))
	}
}

func (c *Compression) check(s *section) {
	switchOn(s, &c.Enabled)
	seen := map[string]bool{}
	for i, a := range c.Algorithms {
		n := s.vals["algorithms"].Content[i]
		switch {
		case seen[a]:
			s.d.failf(n, s.path+".algorithms", "%q is listed twice", a)
		case a == "br":
			s.d.failf(n, s.path+".algorithms", `unknown algorithm "br"; did you mean "brotli"?`)
		default:
			if !contains(compressionAlgos, a) {
				s.d.failf(n, s.path+".algorithms", "invalid value %q (want %s)%s", a, joinOr(compressionAlgos), didYouMean(a, compressionAlgos))
			}
		}
		seen[a] = true
	}
	if s.has("algorithms") && len(c.Algorithms) == 0 {
		s.errorf("algorithms", "must name at least one algorithm")
	}
	for i, ct := range c.ContentTypes {
		if err := checkMediaType(ct); err != nil {
			s.d.failf(s.vals["content_types"].Content[i], s.path+".content_types", "%v", err)
		}
	}
	if !c.Enabled {
		return
	}
	setDefault(s, "algorithms", &c.Algorithms, []string{"gzip"})
	setDefault(s, "level", &c.Level, 6)
	setDefault(s, "min_size", &c.MinSize, 1024)
	setDefault(s, "content_types", &c.ContentTypes, defaultContentTypes)
	for _, a := range c.Algorithms {
		r, ok := compressionLevels[a]
		if ok && (c.Level < r[0] || c.Level > r[1]) {
			s.errorf("level", "level %d is out of range for %s (%d-%d)", c.Level, a, r[0], r[1])
			break
		}
	}
}

func (p *ConnectionPool) check(s *section) {
	if p.MaxIdleConnsPerHost > 0 && p.MaxConnsPerHost > 0 && p.MaxIdleConnsPerHost > p.MaxConnsPerHost {
		s.errorf("max_idle_conns_per_host", "%d is more than max_conns_per_host (%d)", p.MaxIdleConnsPerHost, p.MaxConnsPerHost)
	}
	if p.MaxIdleConnsPerHost > 0 && p.MaxIdleConns > 0 && p.MaxIdleConnsPerHost > p.MaxIdleConns {
		s.errorf("max_idle_conns_per_host", "%d is more than max_idle_conns (%d)", p.MaxIdleConnsPerHost, p.MaxIdleConns)
	}
}

func (c *CircuitBreaker) check(s *section) {
	switchOn(s, &c.Enabled)
	if s.has("failure_threshold") && c.FailureThreshold == 0 {
		s.errorf("failure_threshold", "must be at least 1")
	}
	if s.has("success_threshold") && c.SuccessThreshold == 0 {
		s.errorf("success_threshold", "must be at least 1")
	}
	positive(s, "timeout", c.Timeout)
	positive(s, "window", c.Window)
	if !c.Enabled {
		return
	}
	setDefault(s, "failure_threshold", &c.FailureThreshold, 5)
	setDefault(s, "success_threshold", &c.SuccessThreshold, 2)
	setDefault(s, "timeout", &c.Timeout, 30*time.Second)
	setDefault(s, "window", &c.Window, 60*time.Second)
}

func (g *GeoIP) check(s *section) {
	switchOn(s, &g.Enabled)
	g.at, g.file = s.node, s.d.fileOf(s.node)
	countryList(s, "allowed_countries", g.AllowedCountries)
	countryList(s, "blocked_countries", g.BlockedCountries)
	if len(g.AllowedCountries) > 0 && len(g.BlockedCountries) > 0 {
		s.errorf("blocked_countries", "use allowed_countries or blocked_countries, not both: allowed_countries already refuses every other country")
	}
	for i, p := range g.LoginPaths {
		if err := checkRateLimitPath(p); err != nil {
			s.d.failf(s.vals["login_paths"].Content[i], s.path+".login_paths", "%v", err)
		}
	}
}

// countryList upper-cases the codes of key's list in place and reports the ones that are not
// ISO 3166-1 alpha-2 codes or are listed twice.
func countryList(s *section, key string, codes []string) {
	seen := map[string]bool{}
	for i, c := range codes {
		n := s.vals[key].Content[i]
		u, ok := countryCode(c)
		if !ok {
			s.d.failf(n, s.path+"."+key, "%q is not an ISO 3166-1 alpha-2 country code such as DE%s", c, countryHint(strings.ToUpper(c)))
			continue
		}
		if seen[u] {
			s.d.failf(n, s.path+"."+key, "%q is listed twice", u)
		}
		seen[u] = true
		codes[i] = u
	}
}

func (r *SlowRequest) check(s *section) {
	switchOn(s, &r.Enabled)
	if r.Enabled && !s.has("thresholds") {
		r.Thresholds = SlowThresholds{Warning: 5 * time.Second, Critical: 10 * time.Second}
	}
}

func (t *SlowThresholds) check(s *section) {
	positive(s, "warning", t.Warning)
	positive(s, "critical", t.Critical)
	setDefault(s, "warning", &t.Warning, 5*time.Second)
	setDefault(s, "critical", &t.Critical, 10*time.Second)
	if t.Critical <= t.Warning {
		s.errorf(firstOf(s, "critical", "warning"), "critical (%s) must be longer than warning (%s)", FormatDuration(t.Critical), FormatDuration(t.Warning))
	} else if t.Timeout > 0 && t.Timeout <= t.Critical {
		s.errorf("timeout", "timeout (%s) must be longer than critical (%s)", FormatDuration(t.Timeout), FormatDuration(t.Critical))
	}
}

func (r *Retry) check(s *section) {
	switchOn(s, &r.Enabled)
	if s.has("backoff") {
		s.enum("backoff", r.Backoff, backoffs...)
	}
	if s.has("max_attempts") && (r.MaxAttempts < 1 || r.MaxAttempts > 10) {
		s.errorf("max_attempts", "%d is out of range (1-10, the first attempt included)", r.MaxAttempts)
	}
	if !r.Enabled {
		return
	}
	setDefault(s, "max_attempts", &r.MaxAttempts, 3)
	setDefault(s, "backoff", &r.Backoff, "exponential")
	setDefault(s, "initial_delay", &r.InitialDelay, 100*time.Millisecond)
	setDefault(s, "max_delay", &r.MaxDelay, 2*time.Second)
	setDefault(s, "retry_on", &r.RetryOn, defaultRetryOn)
	if r.InitialDelay > r.MaxDelay {
		s.errorf(firstOf(s, "initial_delay", "max_delay"), "initial_delay (%s) is longer than max_delay (%s)", FormatDuration(r.InitialDelay), FormatDuration(r.MaxDelay))
	}
}

// setDefault sets *v to def when key was not written.
func setDefault[T any](s *section, key string, v *T, def T) {
	if !s.has(key) {
		*v = def
	}
}

// positive reports a duration key written as 0.
func positive(s *section, key string, v time.Duration) {
	if s.has(key) && v == 0 {
		s.errorf(key, "must be longer than 0")
	}
}

// firstOf returns the first of keys that was written, so that a problem between two values
// is reported at one the writer can see.
func firstOf(s *section, keys ...string) string {
	for _, k := range keys {
		if s.has(k) {
			return k
		}
	}
	return ""
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func countryCode(c string) (string, bool) {
	if len(c) != 2 {
		return "", false
	}
	b := []byte(c)
	for i, ch := range b {
		if ch >= 'a' && ch <= 'z' {
			b[i] = ch - 'a' + 'A'
		} else if ch < 'A' || ch > 'Z' {
			return "", false
		}
	}
	u := string(b)
	return u, strings.Contains(isoCountries, " "+u+" ")
}
