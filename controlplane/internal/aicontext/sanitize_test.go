package aicontext

import (
	"strings"
	"testing"
)

func TestMaskIPs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"dial tcp 10.0.0.5:8080: connect: connection refused", "dial tcp 10.0.0.xxx:8080: connect: connection refused"},
		{"from 203.0.113.7.", "from 203.0.113.xxx."},
		{"[2001:db8::42]:443 refused", "[2001:db8:0:0:xxxx:xxxx:xxxx:xxxx]:443 refused"},
		{"mapped ::ffff:198.51.100.4 here", "mapped 198.51.100.xxx here"},
		{"host10.0.0.1,abc1.2.3.4", "host10.0.0.xxx,abc1.2.3.xxx"},
		{"two 1.1.1.1 and 8.8.8.8", "two 1.1.1.xxx and 8.8.8.xxx"},
		{"already 203.0.113.xxx masked", "already 203.0.113.xxx masked"},
		{"2001:db8:0:0:xxxx:xxxx:xxxx:xxxx", "2001:db8:0:0:xxxx:xxxx:xxxx:xxxx"},
		{"no address: 2026-11-22T10:30:00Z, 1.5 s, cafe, ab:cd", "no address: 2026-11-22T10:30:00Z, 1.5 s, cafe, ab:cd"},
		{"999.1.2.3", "9" + "99.1.2.xxx"}, // errs on the side of masking
		{"", ""},
	} {
		if got := maskIPs(tc.in); got != tc.want {
			t.Errorf("maskIPs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCleanText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`Post "https://discord.com/api/webhooks/1/TOKEN": i/o timeout`, `Post "https://discord.com/…": i/o timeout`},
		{`backend: "http://user:pw@api:8080" must not`, `backend: "http://api:8080/…" must not`},
		{"see https://example.org, then", "see https://example.org, then"},
		{"https://hooks.slack.com/services/T/B/X?x=1", "https://hooks.slack.com/…"},
		{"line one\n\tline two", "line one line two"},
		{"dial http://10.0.0.5:80/x", "dial http://10.0.0.xxx:80/…"},
		{strings.Repeat("a", 400), strings.Repeat("a", maxText) + "…"},
	} {
		if got := cleanText(tc.in); got != tc.want {
			t.Errorf("cleanText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCleanURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://user:secret@api:8080/base?token=abc#x", "http://api:8080/base"},
		{"https://10.0.0.5:8443", "https://10.0.0.xxx:8443"},
		{"unix:///run/app.sock", "unix:///run/app.sock"},
		{"not a url 10.0.0.5", "not a url 10.0.0.xxx"},
	} {
		if got := cleanURL(tc.in); got != tc.want {
			t.Errorf("cleanURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzMaskIPs checks the safety pass's promise: nothing in its output parses as an address, and
// a second pass changes nothing.
func FuzzMaskIPs(f *testing.F) {
	for _, s := range []string{"10.0.0.5:80", "[::1]:443", "a1.2.3.4b", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := maskIPs(s)
		for i := 0; i < len(out); {
			if !addrByte(out[i]) {
				i++
				continue
			}
			j := i
			for j < len(out) && addrByte(out[j]) {
				j++
			}
			if _, _, addr, ok := findAddr(out[i:j]); ok {
				t.Fatalf("maskIPs(%q) = %q still holds %s", s, out, addr)
			}
			i = j
		}
		if again := maskIPs(out); again != out {
			t.Fatalf("maskIPs is not stable: %q then %q", out, again)
		}
	})
}
