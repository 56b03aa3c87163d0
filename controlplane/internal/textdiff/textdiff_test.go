package textdiff

import (
	"strconv"
	"strings"
	"testing"
)

func TestUnified(t *testing.T) {
	ten := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"
	testCases := []struct {
		desc, a, b, want string
	}{
		{desc: "equal", a: ten, b: ten, want: ""},
		{desc: "one line changed", a: ten, b: strings.Replace(ten, "5\n", "five\n", 1),
			want: "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"},
		{desc: "created", a: "", b: "host: a\nbackend: b\n",
			want: "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+host: a\n+backend: b\n"},
		{desc: "removed", a: "host: a\n", b: "",
			want: "--- a\n+++ b\n@@ -1 +0,0 @@\n-host: a\n"},
		{desc: "no newline at the end", a: "a\nb\n", b: "a\nb",
			want: "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n"},
		{desc: "changes far apart make two hunks", a: ten + ten, b: strings.Replace(ten, "2\n", "two\n", 1) + strings.Replace(ten, "9\n", "nine\n", 1),
			want: "--- a\n+++ b\n@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n@@ -16,5 +16,5 @@\n 6\n 7\n 8\n-9\n+nine\n 10\n"},
		{desc: "changes close together make one hunk", a: ten, b: strings.NewReplacer("3\n", "three\n", "6\n", "six\n").Replace(ten),
			want: "--- a\n+++ b\n@@ -1,9 +1,9 @@\n 1\n 2\n-3\n+three\n 4\n 5\n-6\n+six\n 7\n 8\n 9\n"},
		{desc: "lines inserted", a: "a\nc\n", b: "a\nb1\nb2\nc\n",
			want: "--- a\n+++ b\n@@ -1,2 +1,4 @@\n a\n+b1\n+b2\n c\n"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			got := Unified("a", "b", tc.a, tc.b)
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// apply applies a diff made by Unified to a, so that tests can check it leads to b.
func apply(t testing.TB, a, d string) string {
	if d == "" {
		return a
	}
	old := splitLines(a)
	lines := strings.SplitAfter(d, "\n")
	var out []string
	next := 0 // next line of old not yet copied
	var prev byte
	for i := 2; i < len(lines) && lines[i] != ""; i++ {
		l := lines[i]
		if strings.HasPrefix(l, "@@ -") {
			r := strings.Fields(l)[1][1:]
			startS, _, _ := strings.Cut(r, ",")
			start, err := strconv.Atoi(startS)
			if err != nil {
				t.Fatalf("hunk header %q", l)
			}
			if strings.Contains(r, ",0") && !strings.Contains(r, ",0,") && strings.HasSuffix(r, ",0") {
				start++ // "n,0" names the line before an insertion
			}
			for next < start-1 {
				out = append(out, old[next])
				next++
			}
			continue
		}
		if strings.HasPrefix(l, "\\") {
			if prev != '-' { // the marker of a removed line concerns a only
				out[len(out)-1] = strings.TrimSuffix(out[len(out)-1], "\n")
			}
			continue
		}
		prev = l[0]
		switch l[0] {
		case ' ':
			out = append(out, l[1:])
			next++
		case '-':
			next++
		case '+':
			out = append(out, l[1:])
		}
	}
	// A context or removed line shown without its newline only at the end of a.
	out = append(out, old[next:]...)
	return strings.Join(out, "")
}

func FuzzUnified(f *testing.F) {
	f.Add("a\nb\nc\n", "a\nc\nd")
	f.Add("", "x\n")
	f.Add("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\nX\n4\n5\n6\n7\n8\nY\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 4096 || len(b) > 4096 {
			return
		}
		d := Unified("a", "b", a, b)
		if (d == "") != (a == b) {
			t.Fatalf("diff %q for a == b: %v", d, a == b)
		}
		if got := apply(t, a, d); got != b {
			t.Fatalf("applying\n%s\nto %q gives %q, want %q", d, a, got, b)
		}
	})
}
