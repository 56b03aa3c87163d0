package webhook

import (
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzCut: whatever the input, the result is valid UTF-8 within the limit, and a prefix of the
// input (made valid) when it was cut.
func FuzzCut(f *testing.F) {
	for _, s := range []string{"", "hello world", "🔥🔥", "a\xffb", "é<b>&"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max % 5000
		got := cut(s, max)
		if !utf8.ValidString(got) || units(got) > max && max >= 0 || (max <= 0 && got != "" && units(s) > max) {
			t.Fatalf("cut(%q, %d) = %q (%d units)", s, max, got, units(got))
		}
	})
}

// FuzzRetryAfter: a receiver's Retry-After header or body never yields a negative wait nor
// panics.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "0.5", "Wed, 21 Oct 2015 07:28:00 GMT", "-3", "NaN", "1e300"} {
		f.Add(s, []byte(`{"retry_after": 0.3}`))
	}
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		if d := retryAfter(header, body, time.Unix(1766068320, 0)); d < 0 {
			t.Fatalf("retryAfter(%q, %q) = %s", header, body, d)
		}
	})
}
