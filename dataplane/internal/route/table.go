// Package route finds the route for a request's host and path.
//
// Matching is host first, then path, like nginx's server_name then location:
//   - Hosts compare case-insensitively, without port and without a trailing dot. An exact host
//     wins over wildcards; "*.example.org" matches "a.example.org" and "a.b.example.org" but not
//     "example.org"; of several wildcards the longest (most specific) wins.
//   - Once a host is chosen, the longest path prefix of that host that matches on a segment
//     boundary wins ("/api" matches "/api" and "/api/x", not "/apix"). There is no fallback to a
//     less specific host when none of the chosen host's paths match: that is a 404.
//
// A Table is built once per snapshot and never changes, so Match needs no locks. Match does not
// allocate for ordinary requests.
package route

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// maxHostLen bounds the host names Match lowercases on the stack. DNS names are at most 253
// bytes; a longer Host header cannot match a route.
const maxHostLen = 255

// Entry is a matched route.
type Entry struct {
	Route *proxyv1.Route
	// Index is the route's position in the slice given to NewTable, so that callers can keep
	// their own per-route state in a parallel slice.
	Index int
	// prefix is the normalized path prefix.
	prefix string
}

// Table maps hosts and paths to routes.
type Table struct {
	exact map[string][]*Entry // host → entries, longest prefix first
	// wildcard is keyed by the suffix with its dot: "*.example.org" → ".example.org".
	wildcard map[string][]*Entry
}

// NewTable compiles routes into a Table. It rejects routes that could never be served the way
// the administrator wrote them: no hosts, a malformed host or path prefix, or two routes with the
// same host and path prefix.
func NewTable(routes []*proxyv1.Route) (*Table, error) {
	t := &Table{exact: map[string][]*Entry{}, wildcard: map[string][]*Entry{}}
	owner := map[string]string{} // host + " " + prefix → route id, to report duplicates
	for i, r := range routes {
		if r == nil {
			return nil, fmt.Errorf("route %d is empty", i)
		}
		prefix, err := normalizePrefix(r.GetPathPrefix())
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", r.GetId(), err)
		}
		if len(r.GetHosts()) == 0 {
			return nil, fmt.Errorf("route %q: no hosts", r.GetId())
		}
		e := &Entry{Route: r, Index: i, prefix: prefix}
		for _, h := range r.GetHosts() {
			host, wild, err := normalizePattern(h)
			if err != nil {
				return nil, fmt.Errorf("route %q: %w", r.GetId(), err)
			}
			key := host + " " + prefix
			if prev, dup := owner[key]; dup {
				return nil, fmt.Errorf("route %q: host %q with path %q is already served by route %q",
					r.GetId(), h, prefix, prev)
			}
			owner[key] = r.GetId()
			if wild {
				t.wildcard[host] = append(t.wildcard[host], e)
			} else {
				t.exact[host] = append(t.exact[host], e)
			}
		}
	}
	for _, m := range []map[string][]*Entry{t.exact, t.wildcard} {
		for _, entries := range m {
			slices.SortFunc(entries, func(a, b *Entry) int { return cmp.Compare(len(b.prefix), len(a.prefix)) })
		}
	}
	return t, nil
}

// Match returns the route for a request's Host header (with or without port) and URL path, or
// nil when there is none.
func (t *Table) Match(host, urlPath string) *Entry {
	entries := t.lookupHost(host)
	if entries == nil {
		return nil
	}
	if hasDotSegment(urlPath) {
		// "/public/../admin" must be routed as "/admin", the path the backend will serve;
		// otherwise a request could reach one route's backend under another route's policy.
		// Cleaning allocates, but only for such unusual paths.
		trailing := strings.HasSuffix(urlPath, "/")
		urlPath = path.Clean(urlPath)
		if trailing && urlPath != "/" {
			urlPath += "/"
		}
	}
	for _, e := range entries {
		if prefixMatch(e.prefix, urlPath) {
			return e
		}
	}
	return nil
}

// lookupHost finds the entries of the host that serves host: an exact name first, then the
// most specific wildcard.
func (t *Table) lookupHost(host string) []*Entry {
	host = stripPort(host)
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > maxHostLen {
		return nil
	}
	// Lowercase into a stack buffer. The map lookups below index with string(buf[...]), which
	// the compiler does without allocating.
	var arr [maxHostLen]byte
	buf := arr[:len(host)]
	for i := 0; i < len(host); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	if entries, ok := t.exact[string(buf)]; ok {
		return entries
	}
	if len(t.wildcard) == 0 {
		return nil
	}
	// Try the suffixes from the longest: for a.b.example.org, ".b.example.org" then
	// ".example.org" then ".org". The first label is never part of a suffix, so the wildcard
	// always stands for at least one label.
	for i := 1; i < len(buf); i++ {
		if buf[i] != '.' {
			continue
		}
		if entries, ok := t.wildcard[string(buf[i:])]; ok {
			return entries
		}
	}
	return nil
}

// stripPort removes a port from a Host header value and the brackets of an IPv6 literal:
// "example.org:8080" → "example.org", "[::1]:8080" → "::1".
func stripPort(host string) string {
	if strings.HasPrefix(host, "[") {
		if end := strings.IndexByte(host, ']'); end > 0 {
			return host[1:end]
		}
		return host
	}
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.IndexByte(host[:i], ':') >= 0 {
		return host // no port, or a bare IPv6 address
	}
	return host[:i]
}

// prefixMatch reports whether p matches prefix on a segment boundary.
func prefixMatch(prefix, p string) bool {
	if prefix == "/" {
		return true
	}
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || prefix[len(prefix)-1] == '/' || p[len(prefix)] == '/'
}

// hasDotSegment reports whether p contains a "." or ".." segment.
func hasDotSegment(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '.' || (i > 0 && p[i-1] != '/') {
			continue
		}
		end := i + 1
		if end < len(p) && p[end] == '.' {
			end++
		}
		if end == len(p) || p[end] == '/' {
			return true
		}
	}
	return false
}
