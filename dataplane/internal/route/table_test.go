package route

import (
	"strings"
	"testing"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func rt(id, prefix string, hosts ...string) *proxyv1.Route {
	return &proxyv1.Route{Id: id, Hosts: hosts, PathPrefix: prefix, BackendUrl: "http://" + id}
}

func testTable(t testing.TB) *Table {
	t.Helper()
	tbl, err := NewTable([]*proxyv1.Route{
		rt("site", "/", "example.org", "www.example.org"),
		rt("api", "/api", "example.org"),
		rt("api-v2", "/api/v2/", "example.org"),
		rt("wild", "/", "*.example.org"),
		rt("wild-deep", "/", "*.eu.example.org"),
		rt("wild-static", "/static", "*.example.org"),
		rt("exact-sub", "/only", "shop.example.org"),
		rt("ipv6", "/", "[::1]"),
		rt("ipv4", "/", "192.0.2.1"),
		rt("empty-prefix", "", "empty.test"),
	})
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return tbl
}

func TestMatch(t *testing.T) {
	tbl := testTable(t)
	testCases := []struct {
		desc string
		host string
		path string
		want string // route id, "" for no match
	}{
		{desc: "root", host: "example.org", path: "/", want: "site"},
		{desc: "other path goes to /", host: "example.org", path: "/about", want: "site"},
		{desc: "prefix exact", host: "example.org", path: "/api", want: "api"},
		{desc: "prefix with sub-path", host: "example.org", path: "/api/users", want: "api"},
		{desc: "prefix is matched on segment boundaries", host: "example.org", path: "/apix", want: "site"},
		{desc: "longest prefix wins", host: "example.org", path: "/api/v2/users", want: "api-v2"},
		{desc: "prefix with trailing slash needs it", host: "example.org", path: "/api/v2", want: "api"},
		{desc: "prefix with trailing slash, exact", host: "example.org", path: "/api/v2/", want: "api-v2"},
		{desc: "host is case-insensitive", host: "ExAmPle.ORG", path: "/api", want: "api"},
		{desc: "port is ignored", host: "example.org:8443", path: "/", want: "site"},
		{desc: "trailing dot is ignored", host: "example.org.", path: "/", want: "site"},
		{desc: "trailing dot and port", host: "example.org.:80", path: "/api", want: "api"},
		{desc: "second host of a route", host: "www.example.org", path: "/x", want: "site"},
		{desc: "unknown host", host: "example.com", path: "/", want: ""},
		{desc: "empty host", host: "", path: "/", want: ""},
		{desc: "wildcard one label", host: "a.example.org", path: "/", want: "wild"},
		{desc: "wildcard several labels", host: "a.b.example.org", path: "/", want: "wild"},
		{desc: "wildcard with its own paths", host: "a.example.org", path: "/static/app.css", want: "wild-static"},
		{desc: "wildcard does not match the bare domain's own name", host: "example.org", path: "/static", want: "site"},
		{desc: "most specific wildcard wins", host: "fr.eu.example.org", path: "/", want: "wild-deep"},
		{desc: "most specific wildcard, deeper", host: "x.fr.eu.example.org", path: "/", want: "wild-deep"},
		{desc: "wildcard needs a label", host: "eu.example.org", path: "/", want: "wild"},
		{desc: "wildcard is case-insensitive", host: "A.EU.Example.Org", path: "/", want: "wild-deep"},
		{desc: "exact host wins over wildcard", host: "shop.example.org", path: "/only/x", want: "exact-sub"},
		{desc: "exact host does not fall back to wildcard", host: "shop.example.org", path: "/", want: ""},
		{desc: "wildcard suffix alone is not a host", host: ".example.org", path: "/", want: ""},
		{desc: "IPv6 literal with port", host: "[::1]:8080", path: "/", want: "ipv6"},
		{desc: "IPv6 literal without port", host: "[::1]", path: "/", want: "ipv6"},
		{desc: "IPv4 literal with port", host: "192.0.2.1:80", path: "/", want: "ipv4"},
		{desc: "empty path prefix means /", host: "empty.test", path: "/anything", want: "empty-prefix"},
		{desc: "empty request path", host: "example.org", path: "", want: "site"},
		{desc: "dot segments are resolved before matching", host: "example.org", path: "/x/../api/v2/", want: "api-v2"},
		{desc: "dot segments cannot escape a prefix", host: "example.org", path: "/api/../secret", want: "site"},
		{desc: "single dot segment", host: "example.org", path: "/./api", want: "api"},
		{desc: "dots inside names are not segments", host: "example.org", path: "/api..x", want: "site"},
		{desc: "too long host", host: strings.Repeat("a", 300) + ".example.org", path: "/", want: ""},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			e := tbl.Match(tc.host, tc.path)
			got := ""
			if e != nil {
				got = e.Route.GetId()
			}
			if got != tc.want {
				t.Errorf("Match(%q, %q) = %q, want %q", tc.host, tc.path, got, tc.want)
			}
		})
	}
}

func TestMatchIndex(t *testing.T) {
	routes := []*proxyv1.Route{rt("a", "/", "a.test"), rt("b", "/", "b.test")}
	tbl, err := NewTable(routes)
	if err != nil {
		t.Fatal(err)
	}
	if e := tbl.Match("b.test", "/"); e == nil || e.Index != 1 || e.Route != routes[1] {
		t.Fatalf("Match(b.test) = %+v, want index 1", e)
	}
}

func TestNewTableErrors(t *testing.T) {
	testCases := []struct {
		desc    string
		routes  []*proxyv1.Route
		wantErr string
	}{
		{desc: "duplicate host and path", routes: []*proxyv1.Route{rt("a", "/api", "x.test"), rt("b", "/api", "x.test")}, wantErr: `already served by route "a"`},
		{desc: "duplicate after normalization", routes: []*proxyv1.Route{rt("a", "/", "X.test."), rt("b", "", "x.test")}, wantErr: "already served"},
		{desc: "duplicate wildcard", routes: []*proxyv1.Route{rt("a", "/", "*.x.test"), rt("b", "/", "*.X.test")}, wantErr: "already served"},
		{desc: "no hosts", routes: []*proxyv1.Route{rt("a", "/")}, wantErr: "no hosts"},
		{desc: "nil route", routes: []*proxyv1.Route{nil}, wantErr: "empty"},
		{desc: "empty host", routes: []*proxyv1.Route{rt("a", "/", "")}, wantErr: "invalid host"},
		{desc: "bare wildcard", routes: []*proxyv1.Route{rt("a", "/", "*")}, wantErr: "invalid host"},
		{desc: "wildcard in the middle", routes: []*proxyv1.Route{rt("a", "/", "a.*.test")}, wantErr: "invalid host"},
		{desc: "wildcard without dot", routes: []*proxyv1.Route{rt("a", "/", "*example.org")}, wantErr: "invalid host"},
		{desc: "host with port", routes: []*proxyv1.Route{rt("a", "/", "x.test:80")}, wantErr: "invalid host"},
		{desc: "host with scheme", routes: []*proxyv1.Route{rt("a", "/", "http://x.test")}, wantErr: "invalid host"},
		{desc: "empty label", routes: []*proxyv1.Route{rt("a", "/", "a..test")}, wantErr: "empty label"},
		{desc: "relative path", routes: []*proxyv1.Route{rt("a", "api", "x.test")}, wantErr: "must start with /"},
		{desc: "path with query", routes: []*proxyv1.Route{rt("a", "/api?x=1", "x.test")}, wantErr: "query"},
		{desc: "path with dot segment", routes: []*proxyv1.Route{rt("a", "/a/../b", "x.test")}, wantErr: "segments"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := NewTable(tc.routes)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewTable error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestEmptyTable(t *testing.T) {
	tbl, err := NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := tbl.Match("example.org", "/"); e != nil {
		t.Fatalf("empty table matched %v", e.Route)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tbl := testTable(t)
	for _, req := range [][2]string{
		{"example.org", "/api/v2/users"},
		{"ExAmPle.ORG:8443", "/"},
		{"x.fr.eu.example.org", "/static/x"},
		{"unknown.test", "/"},
		{"[::1]:8080", "/"},
	} {
		if n := testing.AllocsPerRun(100, func() { tbl.Match(req[0], req[1]) }); n != 0 {
			t.Errorf("Match(%q, %q) allocates %v times, want 0", req[0], req[1], n)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	tbl := testTable(b)
	for _, bc := range []struct{ name, host, path string }{
		{"exact", "example.org", "/api/v2/users/42"},
		{"exact-mixed-case-port", "Example.Org:443", "/about"},
		{"wildcard-deep", "x.fr.eu.example.org", "/static/app.css"},
		{"miss", "unknown.example.com", "/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tbl.Match(bc.host, bc.path)
			}
		})
	}
}

// FuzzMatch checks that no Host header or path makes Match panic, and that a match always
// satisfies the path rule.
func FuzzMatch(f *testing.F) {
	tbl := testTable(f)
	for _, s := range [][2]string{
		{"example.org", "/api"}, {"[::1]:80", "/"}, {"[", ""}, {":", "/.."}, {"a.b.example.org.", "/static/../x"},
		{"]:[", "/./"}, {"*.example.org", "*"}, {".", "."}, {"example.org:", "//api"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, host, p string) {
		e := tbl.Match(host, p)
		if e == nil {
			return
		}
		if e.prefix != "/" && !hasDotSegment(p) && !strings.HasPrefix(p, e.prefix) {
			t.Fatalf("Match(%q, %q) = route %q with prefix %q", host, p, e.Route.GetId(), e.prefix)
		}
	})
}
