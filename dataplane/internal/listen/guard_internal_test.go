package listen

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestValidHost(t *testing.T) {
	testCases := []struct {
		in   string
		want bool
	}{
		{"example.org", true}, {"EXAMPLE.org", true}, {"example.org:8443", true}, {"a_b.example", true},
		{"example.org.", true}, {"192.0.2.1", true}, {"192.0.2.1:80", true}, {"[2001:db8::1]", true},
		{"[2001:db8::1]:443", true}, {"localhost:65535", true},
		{"", false}, {":80", false}, {"example.org:", false}, {"example.org:65536", false},
		{"example.org:123456", false}, {"example.org:8a", false}, {"example.org:80:80", false},
		{"a/b", false}, {"user@example.org", false}, {"exa mple.org", false}, {"example.org%00", false},
		{"'or'1'='1", false}, {"(x)", false}, {"[2001:db8::1", false}, {"[192.0.2.1]", false},
		{"[fe80::1%eth0]", false}, {"[::1]x", false}, {"[::1]:", false}, {"ex\x7fample", false},
		{string(make([]byte, 254)), false},
	}
	for _, tc := range testCases {
		if got := validHost(tc.in); got != tc.want {
			t.Errorf("validHost(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"example.org:443", "[::1]:80", "a/b", "", "[", "x:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validHost(s) {
			// What passes is printable ASCII without spaces, slashes or '@'.
			for i := 0; i < len(s); i++ {
				if c := s[i]; c <= ' ' || c >= 0x7f || c == '/' || c == '@' || c == '%' {
					t.Fatalf("validHost(%q) accepted byte %q", s, c)
				}
			}
		}
	})
}

func TestGuardAllocations(t *testing.T) {
	g := NewGuard(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), nil)
	r := httptest.NewRequest(http.MethodGet, "http://vault.example.org:8443/api", nil)
	w := httptest.NewRecorder()
	if n := testing.AllocsPerRun(100, func() { g.ServeHTTP(w, r) }); n != 0 {
		t.Errorf("Guard allocates %v times per plain request, want 0", n)
	}
}
