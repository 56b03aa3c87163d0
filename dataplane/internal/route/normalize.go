package route

import (
	"fmt"
	"strings"
)

// normalizePattern checks a configured host and returns it lower-case without a trailing dot.
// For a wildcard "*.example.org" it returns the suffix ".example.org" and wild = true.
// IPv6 literals are accepted with or without brackets and stored without.
func normalizePattern(h string) (host string, wild bool, err error) {
	host = strings.ToLower(strings.TrimSuffix(h, "."))
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.HasPrefix(host, "*.") {
		host, wild = host[1:], true
	}
	switch {
	case host == "" || host == ".":
		return "", false, fmt.Errorf("invalid host %q: empty", h)
	case len(host) > maxHostLen:
		return "", false, fmt.Errorf("invalid host %q: longer than %d bytes", h, maxHostLen)
	case strings.Contains(host, "*"):
		return "", false, fmt.Errorf("invalid host %q: a wildcard must be the whole first label, as in *.example.org", h)
	case wild && strings.Contains(host, ".."), !wild && (strings.HasPrefix(host, ".") || strings.Contains(host, "..")):
		return "", false, fmt.Errorf("invalid host %q: empty label", h)
	case strings.ContainsAny(host, "/ \t?#@") || (!wild && strings.Count(host, ":") == 1):
		return "", false, fmt.Errorf("invalid host %q: want a host name without scheme, port or path", h)
	}
	return host, wild, nil
}

// normalizePrefix checks a configured path prefix; the empty prefix means "/".
func normalizePrefix(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("invalid path prefix %q: must start with /", p)
	}
	if strings.ContainsAny(p, "?#") {
		return "", fmt.Errorf("invalid path prefix %q: must not contain a query or fragment", p)
	}
	if hasDotSegment(p) {
		return "", fmt.Errorf("invalid path prefix %q: must not contain . or .. segments", p)
	}
	return p, nil
}
