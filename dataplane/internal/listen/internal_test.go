package listen

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestHostname(t *testing.T) {
	testCases := []struct {
		in   string
		want string
		ok   bool
	}{
		{"www.example.org", "www.example.org", true},
		{"WWW.Example.ORG", "www.example.org", true},
		{"www.example.org.", "www.example.org", true},
		{"www.example.org:8080", "www.example.org", true},
		{"localhost", "localhost", true},
		{"_dmarc.example.org", "_dmarc.example.org", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"", "", false},
		{":80", "", false},
		{"www.example.org:", "www.example.org", true}, // empty port, as net/http accepts
		{"www.example.org:80a", "", false},
		{"www.example.org@evil.test", "", false},
		{"evil.test/www.example.org", "", false},
		{"evil.test\\.example.org", "", false},
		{"a..b", "", false},
		{".example.org", "", false},
		{"-a.example.org", "", false},
		{"a-.example.org", "", false},
		{"127.0.0.1", "", false},
		{"127.0.0.1:80", "", false},
		{"[::1]:80", "", false},
		{"[::1]", "", false},
		{strings.Repeat("a", 64) + ".test", "", false},
		{strings.Repeat("a.", 127) + "test", "", false}, // 258 characters
		{"bücher.example", "", false},                   // U-labels are not sent on the wire
	}
	for _, tc := range testCases {
		got, ok := hostname(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("hostname(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzHostname: whatever the Host header, an accepted name is a plain lower-case DNS name that
// cannot change the authority of the redirect URL it is put in.
func FuzzHostname(f *testing.F) {
	for _, s := range []string{"www.example.org", "a.b:443", "[::1]:80", "x@y", "A.B.", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := hostname(in)
		if !ok {
			return
		}
		if got == "" || len(got) > 253 || strings.ToLower(got) != got || strings.HasSuffix(got, ".") {
			t.Fatalf("hostname(%q) = %q", in, got)
		}
		if strings.ContainsAny(got, ":/@?#[]\\ %") {
			t.Fatalf("hostname(%q) = %q contains a URL delimiter", in, got)
		}
	})
}

func TestTicketKeyRotation(t *testing.T) {
	tl, err := NewTLS(EdgeCertificates(&EdgeHolder{}), TLSOptions{TicketKeyRotation: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	keys := func() [][32]byte {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		return append([][32]byte(nil), tl.keys...)
	}
	first := keys()
	if len(first) != 1 {
		t.Fatalf("%d keys at start, want 1", len(first))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tl.RunTicketKeyRotation(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(keys()) < 3 || keys()[2] == first[0] {
		if time.Now().After(deadline) {
			t.Fatal("keys did not rotate")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	k := keys()
	if len(k) != 3 {
		t.Fatalf("%d keys, want current + 2 previous", len(k))
	}
	if k[0] == k[1] || k[1] == k[2] || k[0] == [32]byte{} {
		t.Fatal("keys not distinct")
	}
	for _, old := range k[1:] {
		if old == first[0] {
			t.Fatal("the oldest key was kept")
		}
	}
}
