package maintenance

import (
	"net/netip"
	"testing"
)

// FuzzCanonicalPrefix: an allow entry is refused or turned into a CIDR the data plane parses,
// which canonicalises to itself.
func FuzzCanonicalPrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.1/8", "192.0.2.1", "::ffff:192.0.2.1", "2001:db8::/32", "fe80::1%eth0", "", "1.2.3.4/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := canonicalPrefix(s)
		if err != nil {
			return
		}
		parsed, err := netip.ParsePrefix(p)
		if err != nil || parsed.Masked() != parsed {
			t.Fatalf("%q → %q, which is not a masked CIDR: %v", s, p, err)
		}
		if again, err := canonicalPrefix(p); err != nil || again != p {
			t.Fatalf("%q → %q → %q (%v)", s, p, again, err)
		}
	})
}
