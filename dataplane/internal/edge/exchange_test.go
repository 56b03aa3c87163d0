package edge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

func TestClean(t *testing.T) {
	testCases := []struct {
		desc string
		in   string
		max  int
		want string
	}{
		{desc: "short and valid", in: "/a/b", max: 10, want: "/a/b"},
		{desc: "cut", in: "abcdef", max: 3, want: "abc"},
		{desc: "invalid byte replaced", in: "caf\xff", max: 10, want: "caf\uFFFD"},
		{desc: "cut before a multi-byte character", in: "ab€", max: 4, want: "ab"},
		{desc: "replacement counts towards the limit", in: "a\xff\xffb", max: 4, want: "a\uFFFD"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := clean(tc.in, tc.max); got != tc.want {
				t.Errorf("clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
}

func FuzzClean(f *testing.F) {
	f.Add("caf\xff", 3)
	f.Add(strings.Repeat("€", 10), 7)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		got := clean(s, max)
		if len(got) > max || !utf8.ValidString(got) {
			t.Fatalf("clean(%q, %d) = %q", s, max, got)
		}
	})
}

func TestFinishRecordsPanicAndPanicsOn(t *testing.T) {
	log := &eventLog{}
	h, err := New(Config{Runtimes: &Holder{}, Events: log})
	if err != nil {
		t.Fatal(err)
	}
	x := h.begin(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want the original panic", p)
			}
		}()
		defer h.finish(x)
		panic("boom")
	}()
	evs := log.snapshot()
	if len(evs) != 1 || evs[0].GetStatus() != 500 || !strings.Contains(evs[0].GetError(), "panic: boom") {
		t.Fatalf("events %v", evs)
	}
}

// TestDetach: the strings an event keeps share nothing with the request head they came from.
func TestDetach(t *testing.T) {
	head := "PROPFIND /path HTTP/1.1\r\nHost: example.org\r\nUser-Agent: curl/8\r\nX-Request-Id: abc-123\r\n\r\n"
	at := func(s string) string { i := strings.Index(head, s); return head[i : i+len(s)] }
	in := [5]string{at("abc-123"), at("PROPFIND"), at("example.org"), at("/path"), at("curl/8")}
	got := detach(in)
	if got != in {
		t.Fatalf("detach = %q, want %q", got, in)
	}
	lo := uintptr(unsafe.Pointer(unsafe.StringData(head)))
	hi := lo + uintptr(len(head))
	for _, s := range got {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(s))); p >= lo && p < hi {
			t.Errorf("%q still points into the head", s)
		}
	}
	if empty := detach([5]string{}); empty != [5]string{} {
		t.Errorf("detach of empty strings = %q", empty)
	}
}
