package redact

import (
	"strings"
	"testing"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// seedLogging is the seeds' logging example for the Pterodactyl panel.
func seedLogging() *proxyv1.Logging {
	return &proxyv1.Logging{
		StripHeaders: []string{"Authorization", "Cookie", "Set-Cookie", "X-API-Key", "user-agent"},
		RedactPaths: []*proxyv1.RedactPath{
			{Pattern: "/api/client/account/password", Replacement: "/api/client/account/[REDACTED]"},
			{Pattern: "/auth/password/reset/[^/]+", Replacement: "/auth/password/reset/[TOKEN]"},
			{Pattern: `^/files/([^/]+)/secret`, Replacement: "/files/$1/[X]"},
		},
		MaskPii:      true,
		MaskIpMethod: "last_octet",
	}
}

func TestPolicyPath(t *testing.T) {
	p, err := New(seedLogging())
	if err != nil {
		t.Fatal(err)
	}
	off, err := New(&proxyv1.Logging{MaskPii: false})
	if err != nil {
		t.Fatal(err)
	}
	testCases := []struct {
		desc string
		pol  *Policy
		in   string
		want string
	}{
		{"untouched", p, "/api/client/servers/551414f2", "/api/client/servers/551414f2"},
		{"redacted literal", p, "/api/client/account/password", "/api/client/account/[REDACTED]"},
		{"redacted token (before mask_pii sees it)", p, "/auth/password/reset/abc", "/auth/password/reset/[TOKEN]"},
		{"group expanded", p, "/files/report/secret", "/files/report/[X]"},
		{"mask_pii after the redactions", p, "/users/a@b.example/x", "/users/:email/x"},
		{"mask_pii off keeps the path", off, "/users/a@b.example/" + strings.Repeat("ab12", 8), "/users/a@b.example/" + strings.Repeat("ab12", 8)},
		{"nil policy", nil, "/users/a@b.example", "/users/a@b.example"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := tc.pol.Path(tc.in); got != tc.want {
				t.Errorf("Path(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestPolicyUserAgent(t *testing.T) {
	strip, _ := New(seedLogging())
	mask, _ := New(&proxyv1.Logging{MaskPii: true, StripHeaders: []string{"Cookie"}})
	keep, _ := New(&proxyv1.Logging{})
	const ua = "Bot/1.0 (+mailto:bot@example.org)"
	for _, tc := range []struct {
		desc string
		pol  *Policy
		want string
	}{
		{"stripped (any case)", strip, ""},
		{"e-mail masked", mask, "Bot/1.0 (+mailto::email)"},
		{"kept", keep, ua},
		{"nil", nil, ua},
	} {
		if got := tc.pol.UserAgent(ua); got != tc.want {
			t.Errorf("%s: UserAgent = %q, want %q", tc.desc, got, tc.want)
		}
	}
}

func TestNewRejectsBadPattern(t *testing.T) {
	_, err := New(&proxyv1.Logging{RedactPaths: []*proxyv1.RedactPath{{Pattern: "/ok"}, {Pattern: "(["}}})
	if err == nil || !strings.Contains(err.Error(), "redact_paths[1]") {
		t.Fatalf("New with a bad pattern: %v, want an error naming redact_paths[1]", err)
	}
}

func TestPolicyPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("regexp's pooled machines are dropped under the race detector")
	}
	p, _ := New(seedLogging())
	path := "/api/client/servers/551414f2/files/contents"
	if n := testing.AllocsPerRun(100, func() { _ = p.Path(path) }); n != 0 {
		t.Errorf("Path allocates %v times when nothing matches, want 0", n)
	}
}

func BenchmarkPolicyPath(b *testing.B) {
	p, _ := New(seedLogging())
	for _, bc := range []struct{ name, path string }{
		{"clean", "/api/client/servers/551414f2/files/contents"},
		{"redacted", "/auth/password/reset/" + strings.Repeat("a1b2c3d4", 8)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = p.Path(bc.path)
			}
		})
	}
}
