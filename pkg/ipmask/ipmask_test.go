package ipmask

import (
	"net/netip"
	"strings"
	"testing"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestMaskString(t *testing.T) {
	testCases := []struct {
		desc   string
		in     string
		method Method
		want   string
	}{
		{desc: "IPv4 last octet (the seeds' example)", in: "203.0.113.45", method: LastOctet, want: "203.0.113.xxx"},
		{desc: "IPv4 with port", in: "203.0.113.45:51234", method: LastOctet, want: "203.0.113.xxx"},
		{desc: "IPv4 last two octets", in: "203.0.113.45", method: LastTwoOctets, want: "203.0.xxx.xxx"},
		{desc: "IPv4 none", in: "203.0.113.45", method: None, want: "203.0.113.45"},
		{desc: "IPv6 last octet keeps the /64", in: "2001:db8:1:2:3:4:5:6", method: LastOctet, want: "2001:db8:1:2:xxxx:xxxx:xxxx:xxxx"},
		{desc: "IPv6 compressed form is expanded", in: "2001:db8::1", method: LastOctet, want: "2001:db8:0:0:xxxx:xxxx:xxxx:xxxx"},
		{desc: "IPv6 last two octets keeps the /48", in: "2001:db8:1:2:3:4:5:6", method: LastTwoOctets, want: "2001:db8:1:xxxx:xxxx:xxxx:xxxx:xxxx"},
		{desc: "IPv6 bracketed with port", in: "[2001:db8:abcd:12::1]:443", method: LastOctet, want: "2001:db8:abcd:12:xxxx:xxxx:xxxx:xxxx"},
		{desc: "IPv6 loopback", in: "::1", method: LastOctet, want: "0:0:0:0:xxxx:xxxx:xxxx:xxxx"},
		{desc: "IPv6 zone is dropped", in: "fe80::1%eth0", method: LastOctet, want: "fe80:0:0:0:xxxx:xxxx:xxxx:xxxx"},
		{desc: "IPv6 zone is dropped with none", in: "fe80::1%eth0", method: None, want: "fe80::1"},
		{desc: "IPv6 zone and port", in: "[fe80::1%eth0]:80", method: LastOctet, want: "fe80:0:0:0:xxxx:xxxx:xxxx:xxxx"},
		{desc: "IPv4-mapped IPv6 is masked as IPv4", in: "::ffff:203.0.113.45", method: LastOctet, want: "203.0.113.xxx"},
		{desc: "IPv4-mapped IPv6 with port", in: "[::ffff:203.0.113.45]:8080", method: LastTwoOctets, want: "203.0.xxx.xxx"},
		{desc: "IPv4-mapped IPv6 none unmaps", in: "::ffff:203.0.113.45", method: None, want: "203.0.113.45"},
		{desc: "not an address", in: "example.org", method: LastOctet, want: ""},
		{desc: "empty", in: "", method: LastOctet, want: ""},
		{desc: "unknown method leaks nothing", in: "203.0.113.45", method: "partial", want: ""},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := MaskString(tc.in, tc.method, testKey); got != tc.want {
				t.Errorf("MaskString(%q, %q) = %q, want %q", tc.in, tc.method, got, tc.want)
			}
		})
	}
}

func TestHash(t *testing.T) {
	a := MaskString("203.0.113.45", Hash, testKey)
	if len(a) != 16 || strings.Contains(a, "203") {
		t.Fatalf("hash = %q, want 16 hex characters not showing the address", a)
	}
	if b := MaskString("::ffff:203.0.113.45", Hash, testKey); b != a {
		t.Errorf("IPv4-mapped form hashes to %q, plain form to %q: want equal", b, a)
	}
	if b := MaskString("203.0.113.45:9999", Hash, testKey); b != a {
		t.Errorf("with port %q, without %q: want equal", b, a)
	}
	if b := MaskString("203.0.113.46", Hash, testKey); b == a {
		t.Errorf("neighbouring addresses hash alike: %q", a)
	}
	if b := MaskString("203.0.113.45", Hash, []byte("another key, 16+ bytes")); b == a {
		t.Errorf("hash does not depend on the key: %q", a)
	}
}

func TestNew(t *testing.T) {
	testCases := []struct {
		desc    string
		method  string
		key     []byte
		want    Method
		wantErr string
	}{
		{desc: "empty means last_octet", method: "", want: LastOctet},
		{desc: "last_two_octets", method: "last_two_octets", want: LastTwoOctets},
		{desc: "none", method: "none", want: None},
		{desc: "hash with key", method: "hash", key: testKey, want: Hash},
		{desc: "hash without key", method: "hash", wantErr: "needs a key"},
		{desc: "hash with short key", method: "hash", key: []byte("short"), wantErr: "needs a key"},
		{desc: "unknown", method: "Last_Octet", wantErr: "unknown IP mask method"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			m, err := New(tc.method, tc.key)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New(%q) error = %v, want it to contain %q", tc.method, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q): %v", tc.method, err)
			}
			if m.Method() != tc.want {
				t.Errorf("Method() = %q, want %q", m.Method(), tc.want)
			}
		})
	}
}

func TestMaskerZeroValueLeaksNothing(t *testing.T) {
	var m Masker
	if got := m.Mask(netip.MustParseAddr("203.0.113.45")); got != "" {
		t.Errorf("zero Masker gave %q, want \"\"", got)
	}
}

func TestMaskAllocs(t *testing.T) {
	m, err := New("last_octet", nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("203.0.113.45")
	if n := testing.AllocsPerRun(100, func() { _ = m.Mask(addr) }); n > 1 {
		t.Errorf("Mask allocates %v times per call, want at most 1 (the result)", n)
	}
}

func BenchmarkMask(b *testing.B) {
	addr := netip.MustParseAddr("203.0.113.45")
	for _, method := range []Method{LastOctet, LastTwoOctets, Hash, None} {
		b.Run(string(method), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Mask(addr, method, testKey)
			}
		})
	}
}

// FuzzMaskString checks that masking never panics and that a masked IPv4 result never shows
// the last octet of its input.
func FuzzMaskString(f *testing.F) {
	for _, s := range []string{"203.0.113.45", "[::1]:80", "fe80::1%eth0", "::ffff:1.2.3.4", "", "1.2.3", "[::1", "%", "::ffff:1.2.3.4%z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, method := range []Method{LastOctet, LastTwoOctets, Hash, None, "bogus"} {
			got := MaskString(s, method, testKey)
			if method == LastOctet && got != "" && !strings.HasSuffix(got, "xxx") {
				t.Fatalf("MaskString(%q, last_octet) = %q, masked part missing", s, got)
			}
			if method == "bogus" && got != "" {
				t.Fatalf("unknown method gave %q for %q", got, s)
			}
		}
	})
}

func TestMaskStringRemoteAddrAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = MaskString("203.0.113.45:51234", LastOctet, nil) }); n > 1 {
		t.Errorf("MaskString of a RemoteAddr allocates %v times, want at most 1 (the result)", n)
	}
}
