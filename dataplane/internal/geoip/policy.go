package geoip

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Verdict is what a route's policy says of a request's country.
type Verdict uint8

const (
	// Pass lets the request on.
	Pass Verdict = iota
	// NotAllowed refuses a country (or an unknown public address) outside allowed_countries.
	NotAllowed
	// Blocked refuses a country in blocked_countries.
	Blocked
)

// Rule names the list that refused a request, for its security event.
func (v Verdict) Rule() string {
	switch v {
	case NotAllowed:
		return "allowed_countries"
	case Blocked:
		return "blocked_countries"
	}
	return ""
}

// Policy is one route's GeoIP policy, compiled once per snapshot. The nil *Policy lets every
// request pass and watches no login.
type Policy struct {
	allowed, blocked countrySet
	hasAllowed       bool
	// loginPaths are where the unusual-country alert watches (nil: the alert is off).
	loginPaths []string
	logins     *RouteLogins
}

// DefaultLoginPaths are the login paths of the unusual-country alert on a route that names none,
// neither in geoip.login_paths nor in rate_limit.failed_logins: the login endpoints of common
// applications (Vaultwarden and Bitwarden clients, Pterodactyl, WordPress, GitLab, Mastodon,
// Nextcloud, generic ones). Exact paths only, so that no ordinary page is taken for a login.
var DefaultLoginPaths = []string{
	"/identity/connect/token", "/auth/login", "/login", "/signin", "/sign-in", "/api/login",
	"/api/auth/login", "/wp-login.php", "/users/sign_in", "/user/login", "/account/login",
	"/index.php/login",
}

// NewPolicy compiles a route's GeoIP policy. failedLoginPaths are the route's
// rate_limit.failed_logins paths, the login paths when the policy names none (and when there
// are none either, DefaultLoginPaths). logins is the
// route's memory of login countries (from Logins.For), used when the alert is on. A disabled
// policy gives nil.
func NewPolicy(pb *proxyv1.GeoIP, failedLoginPaths []string, logins *RouteLogins) (*Policy, error) {
	if !pb.GetEnabled() {
		return nil, nil
	}
	p := &Policy{}
	for _, c := range pb.GetAllowedCountries() {
		if !p.allowed.add(c) {
			return nil, fmt.Errorf("allowed_countries: %q is not an upper-case ISO 3166-1 alpha-2 code", c)
		}
		p.hasAllowed = true
	}
	for _, c := range pb.GetBlockedCountries() {
		if !p.blocked.add(c) {
			return nil, fmt.Errorf("blocked_countries: %q is not an upper-case ISO 3166-1 alpha-2 code", c)
		}
		if p.allowed.has(c) {
			return nil, fmt.Errorf("%s is both allowed and blocked", c)
		}
	}
	if pb.GetAlertOnUnusualCountry() {
		paths := pb.GetLoginPaths()
		if len(paths) == 0 {
			paths = failedLoginPaths
		}
		if len(paths) == 0 {
			paths = DefaultLoginPaths
		}
		for _, lp := range paths {
			if !strings.HasPrefix(lp, "/") || strings.Contains(strings.TrimSuffix(lp, "*"), "*") {
				return nil, fmt.Errorf("login_paths: %q is not a path or a prefix ending in *", lp)
			}
		}
		if logins == nil {
			return nil, fmt.Errorf("alert_on_unusual_country needs a login memory")
		}
		p.loginPaths, p.logins = paths, logins
	}
	return p, nil
}

// Check judges a request from addr located in country ("" when the database does not know it).
// Private, loopback, link-local and shared (CGNAT, Tailscale) addresses are the site's own
// networks and always pass. A public address of unknown country passes blocked_countries but
// not allowed_countries: an allow list lets in only what it names.
func (p *Policy) Check(addr netip.Addr, country string) Verdict {
	if p == nil || isLocal(addr) {
		return Pass
	}
	if p.hasAllowed && !p.allowed.has(country) {
		return NotAllowed
	}
	if p.blocked.has(country) {
		return Blocked
	}
	return Pass
}

// Unusual reports whether a request is a login from a country unusual for the route (see
// RouteLogins.Observe). A login is a request to a login path with a method other than GET,
// HEAD and OPTIONS (a form post, a token request): looking at a login page is not logging in.
// It is false when the alert is off or the country is unknown.
func (p *Policy) Unusual(method, path, country string, now time.Time) bool {
	if p == nil || p.loginPaths == nil || country == "" || method == http.MethodGet || method == http.MethodHead ||
		method == http.MethodOptions || !matchAny(p.loginPaths, path) {
		return false
	}
	return p.logins.Observe(country, now)
}

// matchAny reports whether path is one of paths, or under one of them that ends in "*"; the
// same matching as rate_limit paths.
func matchAny(paths []string, path string) bool {
	for _, p := range paths {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(path, prefix) {
				return true
			}
		} else if path == p {
			return true
		}
	}
	return false
}

// cgnat is the shared address space (RFC 6598), used by carrier NAT and by Tailscale.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func isLocal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || cgnat.Contains(a)
}

// countrySet is a set of two-letter codes as a bitmap over AA..ZZ: 676 bits, no allocation and
// no hashing per lookup.
type countrySet [(26*26 + 63) / 64]uint64

func countryIndex(c string) (int, bool) {
	if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
		return 0, false
	}
	return int(c[0]-'A')*26 + int(c[1]-'A'), true
}

func (s *countrySet) add(c string) bool {
	i, ok := countryIndex(c)
	if ok {
		s[i/64] |= 1 << (i % 64)
	}
	return ok
}

func (s *countrySet) has(c string) bool {
	i, ok := countryIndex(c)
	return ok && s[i/64]&(1<<(i%64)) != 0
}
