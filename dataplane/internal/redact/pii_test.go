package redact

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMaskPath(t *testing.T) {
	const jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I6DjSkE2T6Zq4s"
	testCases := []struct {
		desc, in, want string
	}{
		{"normal path", "/api/v1/servers/551414f2", "/api/v1/servers/551414f2"},
		{"root", "/", "/"},
		{"empty", "", ""},
		{"words and numbers", "/blog/2024/11/how-to-install-minecraft-1-20-server", "/blog/2024/11/how-to-install-minecraft-1-20-server"},
		{"short mixed id", "/api/client/servers/1a7ce997/files/contents", "/api/client/servers/1a7ce997/files/contents"},
		{"long word", "/internationalization-and-localization", "/internationalization-and-localization"},
		{"15 hex digits", "/x/0123456789abcde", "/x/0123456789abcde"},
		{"e-mail segment", "/users/alice@example.org/profile", "/users/:email/profile"},
		{"e-mail at the end", "/unsubscribe/bob.smith+news@mail.example.co.uk", "/unsubscribe/:email"},
		{"encoded e-mail", "/users/alice%40example.org", "/users/:email"},
		{"encoded e-mail, capital", "/users/alice%40Example.ORG", "/users/:email"},
		{"e-mail after =", "/verify;email=alice@example.org", "/verify;email=:email"},
		{"mailto", "/contact/mailto:alice@example.org", "/contact/mailto::email"},
		{"unicode e-mail", "/u/jürgen@bücher.de/x", "/u/:email/x"},
		{"handle stays", "/@alice", "/@alice"},
		{"handle with domain", "/@alice@social.example", "/:email"},
		{"trailing at stays", "/alice@", "/alice@"},
		{"reset token, 64 hex", "/auth/password/reset/" + strings.Repeat("a1b2c3d4", 8), "/auth/password/reset/:token"},
		{"hex token then more path", "/confirm/0123456789abcdef0123/ok", "/confirm/:token/ok"},
		{"hex token after ;", "/a;jsessionid=1A2B3C4D5E6F7A8B9C0D1E2F", "/a;jsessionid=:token"},
		{"sha1", "/verify/da39a3ee5e6b4b0d3255bfef95601890afd80709", "/verify/:token"},
		{"decimal id of 18 digits", "/users/123456789012345678", "/users/:token"},
		{"JWT", "/login/magic/" + jwt, "/login/magic/:token"},
		{"JWT with empty signature", "/t/eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "/t/:token"},
		{"JWT shape under 16 bytes stays", "/t/eyJa.b.c", "/t/eyJa.b.c"},
		{"UUID", "/invite/550e8400-e29b-41d4-a716-446655440000", "/invite/:token"},
		{"digit-only UUID", "/i/12345678-1234-1234-1234-123456789012", "/i/:token"},
		{"random base64url", "/reset/Xk3d9QwZp2LmN8vB7tR4yS", "/reset/:token"},
		{"API key with prefix", "/hook/ptlc_aZ9xY8wV7uT6sR5qP4oN3mL2kJ1", "/hook/:token"},
		{"asset hash keeps the name", "/assets/app.3f2a9c7e1b5d4f60a8c2.js", "/assets/app.:token.js"},
		{"short asset hash stays", "/assets/app.3f2a9c7e.js", "/assets/app.3f2a9c7e.js"},
		{"20 letters stay", "/abcdefghijklmnopqrstuvwxyz", "/abcdefghijklmnopqrstuvwxyz"},
		{"e-mail and token", "/a/x@y.z/" + strings.Repeat("f", 32), "/a/:email/:token"},
		{"idempotent placeholder", "/a/:token/:email", "/a/:token/:email"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			got := MaskPath(tc.in)
			if got != tc.want {
				t.Errorf("MaskPath(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := MaskPath(got); again != got {
				t.Errorf("MaskPath(%q) = %q, not idempotent", got, again)
			}
		})
	}
}

func TestMaskEmails(t *testing.T) {
	testCases := []struct{ in, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0", "Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0"},
		{"Bot/1.0 (+mailto:bot@example.org)", "Bot/1.0 (+mailto::email)"},
		{"Crawler/2 (contact: ops@example.net; 0123456789abcdef0123)", "Crawler/2 (contact: :email; 0123456789abcdef0123)"},
	}
	for _, tc := range testCases {
		if got := MaskEmails(tc.in); got != tc.want {
			t.Errorf("MaskEmails(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskPathAllocs(t *testing.T) {
	for _, p := range []string{"/api/v1/servers/551414f2/files/list?x", "/", "/static/js/app.3f2a9c7e.js", "/@alice"} {
		if n := testing.AllocsPerRun(100, func() { _ = MaskPath(p) }); n != 0 {
			t.Errorf("MaskPath(%q) allocates %v times, want 0 when nothing matches", p, n)
		}
	}
	p := "/users/alice@example.org/reset/" + strings.Repeat("ab12", 8)
	if n := testing.AllocsPerRun(100, func() { _ = MaskPath(p) }); n > 1 {
		t.Errorf("MaskPath with two matches allocates %v times, want 1", n)
	}
}

func BenchmarkMaskPath(b *testing.B) {
	for _, bc := range []struct{ name, path string }{
		{"clean", "/api/client/servers/551414f2/files/contents"},
		{"long-clean", "/" + strings.Repeat("segment/", 64)},
		{"email", "/users/alice@example.org/profile"},
		{"token", "/auth/password/reset/" + strings.Repeat("a1b2c3d4", 8)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.path)))
			for b.Loop() {
				_ = MaskPath(bc.path)
			}
		})
	}
}

// hasAddress reports whether s still holds X@Y (or X%40Y) with X and Y word bytes: an e-mail
// address MaskPath should have removed. It is written apart from the masker, from the rule.
func hasAddress(s string) bool {
	isWord := func(c byte) bool {
		return c >= 0x80 || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			strings.IndexByte("._-!$%'*+^`{|}~@", c) >= 0
	}
	for i := 1; i+1 < len(s); i++ {
		if s[i] == '@' && isWord(s[i-1]) && isWord(s[i+1]) {
			return true
		}
		if i+3 < len(s) && s[i:i+3] == "%40" && isWord(s[i-1]) && isWord(s[i+3]) {
			return true
		}
	}
	return false
}

// FuzzMaskPath checks the masker's invariants: it is idempotent, no address survives, valid
// UTF-8 stays valid, and the placeholders are the only new text.
func FuzzMaskPath(f *testing.F) {
	for _, s := range []string{
		"/api/v1/servers/551414f2", "/users/a@b.c", "/u/a%40b", "/r/0123456789abcdef0123",
		"/t/eyJa.b.c", "/t/eyJhbGciOiJub25lIn0.e30.", "/x/550e8400-e29b-41d4-a716-446655440000", "/@a@b", "a.b.c", "/é@ü/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := MaskPath(in)
		if again := MaskPath(out); again != out {
			t.Fatalf("not idempotent: %q → %q → %q", in, out, again)
		}
		if hasAddress(out) {
			t.Fatalf("MaskPath(%q) = %q still has an address", in, out)
		}
		if utf8.ValidString(in) && !utf8.ValidString(out) {
			t.Fatalf("MaskPath(%q) = %q is not valid UTF-8", in, out)
		}
		if rest := strings.NewReplacer(Email, "", Token, "").Replace(out); len(rest) > len(in) {
			t.Fatalf("MaskPath(%q) = %q added text", in, out)
		}
		if e := MaskEmails(in); hasAddress(e) || MaskEmails(e) != e {
			t.Fatalf("MaskEmails(%q) = %q", in, e)
		}
	})
}
