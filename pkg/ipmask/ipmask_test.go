package ipmask

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
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
		{desc: "IPv4 prefix, default /16", in: "203.0.113.45", method: Prefix, want: "203.0.0.0/16"},
		{desc: "IPv6 prefix, default /48", in: "2001:db8:1:2:3:4:5:6", method: Prefix, want: "2001:db8:1::/48"},
		{desc: "IPv4-mapped prefix is IPv4", in: "[::ffff:203.0.113.45]:443", method: Prefix, want: "203.0.0.0/16"},
		{desc: "IPv4 prefix /20 cuts inside an octet", in: "203.0.127.45", method: "prefix:20:56", want: "203.0.112.0/20"},
		{desc: "IPv6 prefix /56", in: "2001:db8:1:2ff:3:4:5:6", method: "prefix:20:56", want: "2001:db8:1:200::/56"},
		{desc: "IPv4 prefix /0", in: "203.0.113.45", method: "prefix:0:0", want: "0.0.0.0/0"},
		{desc: "IPv6 prefix /0", in: "2001:db8::1", method: "prefix:0:0", want: "::/0"},
		{desc: "IPv6 zone dropped by prefix", in: "fe80::1%eth0", method: "prefix:24:64", want: "fe80::/64"},
		{desc: "prefix too long leaks nothing", in: "203.0.113.45", method: "prefix:32:128", want: ""},
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
		{desc: "prefix with defaults", method: "prefix", want: Prefix},
		{desc: "prefix with lengths", method: "prefix:8:32", want: Prefix},
		{desc: "prefix at the limits", method: "prefix:24:64", want: Prefix},
		{desc: "prefix v4 too long", method: "prefix:25:48", wantErr: "V4 in 0..24"},
		{desc: "prefix v6 too long", method: "prefix:16:65", wantErr: "V6 in 0..64"},
		{desc: "prefix negative", method: "prefix:-1:48", wantErr: "prefix:V4:V6"},
		{desc: "prefix one length", method: "prefix:16", wantErr: "prefix:V4:V6"},
		{desc: "prefix junk", method: "prefix:a:b", wantErr: "prefix:V4:V6"},
		{desc: "prefix extra", method: "prefix:16:48:1", wantErr: "prefix:V4:V6"},
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
	for _, method := range []Method{LastOctet, LastTwoOctets, Prefix, Hash, None} {
		m, err := New(string(method), testKey)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(method), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = m.Mask(addr)
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
		for _, method := range []Method{LastOctet, LastTwoOctets, Prefix, "prefix:20:56", Hash, None, "bogus"} {
			got := MaskString(s, method, testKey)
			if method == LastOctet && got != "" && !strings.HasSuffix(got, "xxx") {
				t.Fatalf("MaskString(%q, last_octet) = %q, masked part missing", s, got)
			}
			if (method == Prefix || method == "prefix:20:56") && got != "" && !strings.Contains(got, "/") {
				t.Fatalf("MaskString(%q, %s) = %q, no prefix length", s, method, got)
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

func TestParsePrefixRoundTrip(t *testing.T) {
	for _, l := range [][2]int{{16, 48}, {0, 0}, {24, 64}, {20, 56}} {
		s := FormatPrefix(l[0], l[1])
		spec, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if want := (Spec{Method: Prefix, PrefixV4: l[0], PrefixV6: l[1]}); spec != want {
			t.Errorf("Parse(%q) = %+v, want %+v", s, spec, want)
		}
	}
}

// TestHashRotatesDaily checks the day keys: the same address hashes alike all through one UTC
// day, differently the next day, and as HMAC-SHA256 under DayKey computes it.
func TestHashRotatesDaily(t *testing.T) {
	m, err := New("hash", testKey)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("203.0.113.45")
	morning := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	evening := time.Date(2026, 11, 22, 23, 59, 59, 999999999, time.UTC)
	nextDay := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	// The same instant in another zone is the same UTC day.
	berlinLate := time.Date(2026, 11, 23, 0, 30, 0, 0, time.FixedZone("CET", 3600))

	a := m.MaskAt(addr, morning)
	if b := m.MaskAt(addr, evening); b != a {
		t.Errorf("same day: %q in the morning, %q in the evening", a, b)
	}
	if b := m.MaskAt(addr, berlinLate); b != a {
		t.Errorf("00:30 CET (23:30 UTC): %q, want the UTC day's %q", b, a)
	}
	next := m.MaskAt(addr, nextDay)
	if next == a {
		t.Errorf("next day hashes alike: %q", a)
	}
	// A request that started before midnight, finishing after the new day began, still gets
	// its own day's key, and does not bring the old key back for the others.
	if b := m.MaskAt(addr, evening); b != a {
		t.Errorf("late request of the old day: %q, want %q", b, a)
	}
	if b := m.MaskAt(addr, nextDay.Add(time.Hour)); b != next {
		t.Errorf("after a late request the new day hashes %q, want %q", b, next)
	}
	// Same as crypto/hmac under the day key.
	dk := DayKey(testKey, nextDay)
	mac := hmac.New(sha256.New, dk[:])
	a16 := addr.As16()
	mac.Write(a16[:])
	if want := hex.EncodeToString(mac.Sum(nil)[:8]); next != want {
		t.Errorf("hash = %q, HMAC-SHA256 under the day key = %q", next, want)
	}
	// Another Masker with the same secret (another data plane, a new snapshot) agrees.
	m2, _ := New("hash", testKey)
	if b := m2.MaskAt(addr, nextDay); b != next {
		t.Errorf("second masker: %q, want %q", b, next)
	}
	// Before 1970 the day still starts at UTC midnight.
	if utcDay(time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)) != -1 || utcDay(time.Unix(0, 0)) != 0 {
		t.Error("utcDay is not floor(unix/86400)")
	}
}

func TestHashConcurrentDays(t *testing.T) {
	m, _ := New("hash", testKey)
	addr := netip.MustParseAddr("2001:db8::1")
	day := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	want := [3]string{m.MaskAt(addr, day), m.MaskAt(addr, day.Add(24*time.Hour)), m.MaskAt(addr, day.Add(48*time.Hour))}
	m, _ = New("hash", testKey)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				d := (g + i) % 3
				if got := m.MaskAt(addr, day.Add(time.Duration(d)*24*time.Hour)); got != want[d] {
					t.Errorf("day %d: %q, want %q", d, got, want[d])
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestMaskAtAllocs(t *testing.T) {
	addr := netip.MustParseAddr("2001:db8:1:2::6")
	now := time.Now()
	for _, method := range []string{"hash", "prefix", "last_octet"} {
		m, err := New(method, testKey)
		if err != nil {
			t.Fatal(err)
		}
		m.MaskAt(addr, now) // derives the day key
		if n := testing.AllocsPerRun(100, func() { _ = m.MaskAt(addr, now) }); n > 1 {
			t.Errorf("%s: MaskAt allocates %v times per call, want at most 1 (the result)", method, n)
		}
	}
}
