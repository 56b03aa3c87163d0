package requestid

import (
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestValid(t *testing.T) {
	testCases := []struct {
		desc string
		id   string
		want bool
	}{
		{desc: "uuid", id: "0f8fad5b-d9cb-469f-a165-70867728950e", want: true},
		{desc: "hex", id: "4bf92f3577b34da6a3ce929d0e0e4736", want: true},
		{desc: "all allowed punctuation", id: "a.b_c:d-e", want: true},
		{desc: "one character", id: "x", want: true},
		{desc: "max length", id: strings.Repeat("a", MaxLen), want: true},
		{desc: "empty", id: "", want: false},
		{desc: "too long", id: strings.Repeat("a", MaxLen+1), want: false},
		{desc: "space", id: "abc def", want: false},
		{desc: "html", id: "<script>", want: false},
		{desc: "newline (log injection)", id: "abc\nfake log line", want: false},
		{desc: "quote", id: `abc"`, want: false},
		{desc: "slash", id: "a/b", want: false},
		{desc: "non-ASCII", id: "ïd", want: false},
		{desc: "NUL", id: "a\x00", want: false},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := Valid(tc.id); got != tc.want {
				t.Errorf("Valid(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

func TestFromHeader(t *testing.T) {
	g, err := NewGenerator()
	if err != nil {
		t.Fatal(err)
	}
	if got := g.FromHeader("client-id-1"); got != "client-id-1" {
		t.Errorf("well-formed id replaced by %q", got)
	}
	for _, bad := range []string{"", "bad id", strings.Repeat("x", 129)} {
		got := g.FromHeader(bad)
		if got == bad || !Valid(got) || len(got) != 32 {
			t.Errorf("FromHeader(%q) = %q, want a new 32-character id", bad, got)
		}
	}
}

func TestNewIsUnique(t *testing.T) {
	// Two generators stand for two processes (or one process before and after a restart).
	g1, err := NewGenerator()
	if err != nil {
		t.Fatal(err)
	}
	g2, err := NewGenerator()
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 2000
	ids := make(chan string, 2*workers*each)
	var wg sync.WaitGroup
	for _, g := range []*Generator{g1, g2} {
		for range workers {
			wg.Go(func() {
				for range each {
					ids <- g.New()
				}
			})
		}
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		if !Valid(id) {
			t.Fatalf("generated id %q is not Valid", id)
		}
		seen[id] = true
	}
}

func BenchmarkNew(b *testing.B) {
	g, err := NewGenerator()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = g.New()
		}
	})
}

var validRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// FuzzValid compares Valid with the definition written as a regular expression.
func FuzzValid(f *testing.F) {
	for _, s := range []string{"abc", "", "a b", "0f8fad5b-d9cb-469f-a165-70867728950e", "\xff", strings.Repeat("z", 128)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Valid(s), validRE.MatchString(s); got != want {
			t.Fatalf("Valid(%q) = %v, regexp says %v", s, got, want)
		}
	})
}

func TestHeaderIsCanonical(t *testing.T) {
	// Header indexes http.Header maps directly, which only works in canonical form.
	if c := http.CanonicalHeaderKey(Header); c != Header {
		t.Fatalf("Header = %q, canonical form %q", Header, c)
	}
}
