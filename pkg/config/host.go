package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// normalizeHost checks a host name a route answers for and returns it lower-cased, without a
// trailing dot. Accepted: DNS names ("gpanel.chilla55.de", "localhost"), a wildcard as the
// whole leftmost label ("*.example.org"), and IP addresses.
func normalizeHost(h string) (string, error) {
	switch {
	case h == "":
		return "", errors.New("empty host name")
	case strings.Contains(h, "://"):
		return "", fmt.Errorf("host %q must not contain a scheme; write only the name, as in %q", h, hostOf(h))
	case strings.Contains(h, "/"):
		return "", fmt.Errorf("host %q must not contain a path; routes take a path: in the service form", h)
	}
	if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
		return a.String(), nil
	}
	if strings.Contains(h, ":") {
		return "", fmt.Errorf("host %q must not contain a port", h)
	}
	name := strings.ToLower(strings.TrimSuffix(h, "."))
	rest := name
	if strings.HasPrefix(name, "*.") {
		rest = name[2:]
	}
	if strings.Contains(rest, "*") {
		return "", fmt.Errorf("host %q: a wildcard is only allowed as the whole leftmost label, as in *.example.org", h)
	}
	if err := checkDNSName(rest, false); err != nil {
		return "", fmt.Errorf("host %q: %v", h, err)
	}
	return name, nil
}

// hostOf extracts the host part of something written as a URL, for a hint.
func hostOf(s string) string {
	if u, err := url.Parse(s); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return s
}

// checkDNSName checks the labels of a name; underscore allows '_' (Docker service names).
func checkDNSName(name string, underscore bool) error {
	if name == "" {
		return errors.New("empty name")
	}
	if len(name) > 253 {
		return errors.New("longer than 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return errors.New("empty label (two dots in a row, or a leading dot)")
		}
		if len(label) > 63 {
			return fmt.Errorf("label %q is longer than 63 characters", label)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("label %q must not start or end with '-'", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			case c == '_' && underscore:
			case c == '_':
				return errors.New("'_' is not allowed in a host name")
			case c >= 0x80:
				return errors.New("non-ASCII characters: write the name in its punycode (xn--) form")
			default:
				return fmt.Errorf("character %q is not allowed", c)
			}
		}
	}
	return nil
}

// redactUserinfo replaces the user and password of a URL's authority (what comes before an @
// in it) with "xxxxx", also in a string that does not parse as a URL.
func redactUserinfo(s string) string {
	rest := s
	prefix := ""
	if i := strings.Index(s, "://"); i >= 0 {
		prefix, rest = s[:i+3], s[i+3:]
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		return prefix + "xxxxx" + rest[at:]
	}
	return s
}

// normalizeBackend checks a backend URL: absolute http:// or https:// with a host (a Docker
// service name such as pterodactyl_panel, a DNS name or an IP), an optional port and path,
// no credentials, query or fragment. The scheme and host are lower-cased.
func normalizeBackend(raw string) (string, error) {
	// Errors quote s, never raw: a password in the URL would reach the log and the audit trail.
	s := redactUserinfo(raw)
	if !strings.Contains(raw, "://") {
		return "", fmt.Errorf("%q is not an absolute URL; write it as http://%s", s, s)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a valid URL: %v", s, unwrapURLError(err))
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("%q: the scheme must be http or https, not %q", s, u.Scheme)
	case u.Opaque != "" || u.Host == "":
		return "", fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return "", fmt.Errorf("%q must not contain credentials; send them with headers.request.add (Authorization)", s)
	case u.RawQuery != "" || u.ForceQuery:
		return "", fmt.Errorf("%q must not contain a query", s)
	case u.Fragment != "":
		return "", fmt.Errorf("%q must not contain a fragment", s)
	}
	host := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return "", fmt.Errorf("%q: invalid IPv6 address %q", s, host)
		}
	} else if _, err := netip.ParseAddr(host); err != nil {
		if err := checkDNSName(host, true); err != nil {
			return "", fmt.Errorf("%q: invalid host %q: %v", s, host, err)
		}
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: invalid port %q (want 1-65535)", s, p)
		}
	}
	return scheme + "://" + strings.ToLower(u.Host) + u.EscapedPath(), nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// normalizeRoutePath checks a route's path prefix and removes a trailing slash: prefixes
// match on segment boundaries, so "/api/" and "/api" are the same route.
func normalizeRoutePath(p string) (string, error) {
	if strings.HasSuffix(p, "*") {
		return "", fmt.Errorf("path %q: route paths are prefixes and take no wildcard; %q matches it and everything below", p, strings.TrimRight(strings.TrimSuffix(p, "*"), "/"))
	}
	if err := checkURLPath(p); err != nil {
		return "", err
	}
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	return p, nil
}

// checkRateLimitPath checks a rate-limit path: a URL path, with an optional final "*" that
// makes it a prefix ("/auth/*").
func checkRateLimitPath(p string) error {
	base := strings.TrimSuffix(p, "*")
	if strings.Contains(base, "*") {
		return fmt.Errorf("path %q: '*' is only allowed at the end", p)
	}
	if base == "" {
		base = "/"
	}
	return checkURLPath(base)
}

// checkProbePath checks a health-check path; it may carry a query.
func checkProbePath(p string) error {
	path, _, _ := strings.Cut(p, "?")
	return checkURLPath(path)
}

func checkURLPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q must start with /", p)
	}
	for _, c := range p {
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("path %q must not contain spaces or control characters", p)
		}
		if c == '?' || c == '#' {
			return fmt.Errorf("path %q must not contain %q", p, c)
		}
	}
	if strings.Contains(p, "//") {
		return fmt.Errorf("path %q must not contain an empty segment (//)", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("path %q must not contain %q segments", p, seg)
		}
	}
	return nil
}

// checkMediaType checks a content type of compression: "type/subtype" or "type/*".
func checkMediaType(ct string) error {
	t, sub, ok := strings.Cut(ct, "/")
	if !ok || !isToken(t) || !(sub == "*" || isToken(sub)) {
		return fmt.Errorf("%q is not a media type such as text/html", ct)
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110), the syntax of header names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// matchesHost reports whether pattern (a route host, possibly "*.example.org") serves host.
func matchesHost(pattern, host string) bool {
	if pattern == host {
		return true
	}
	if rest, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(host, rest) && len(host) > len(rest)
	}
	return false
}
