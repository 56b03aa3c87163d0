package config

import (
	"net/netip"
	"slices"
	"testing"
)

func TestGlobalMaintenanceAllow(t *testing.T) {
	g, err := ParseGlobal("global.yaml", []byte("maintenance:\n  allow: [10.0.0.0/8, 2001:db8::1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::1/128")}; !slices.Equal(g.Maintenance.Allow, want) {
		t.Errorf("allow %v, want %v", g.Maintenance.Allow, want)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"maintenance:\n  allow: [10.0.0.0/8, nope]\n", `global.yaml:2:23: maintenance.allow[1]: "nope" is not an IP address or CIDR network`},
		{"maintenance:\n  alow: [10.0.0.0/8]\n", `global.yaml:2:3: unknown key "alow" in maintenance; did you mean "allow"?`},
	} {
		if _, err := ParseGlobal("global.yaml", []byte(tc.yaml)); err == nil || err.Error() != tc.want {
			t.Errorf("%q: error %v, want %s", tc.yaml, err, tc.want)
		}
	}
	if g, err := ParseGlobal("global.yaml", nil); err != nil || len(g.Maintenance.Allow) != 0 {
		t.Errorf("no file: %v %v", g.Maintenance.Allow, err)
	}
}
