// Package deptest lets a binary's tests fail when it links a package it must not (the idea of
// Tailscale's tstest/deptest): the data plane links no database, the control plane no QUIC stack.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

// Forbid fails t if the package in the current directory depends, directly or not, on a package
// whose import path is one of forbidden or below it.
func Forbid(t testing.TB, forbidden ...string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list -deps returned %d packages; the check would prove nothing", len(deps))
	}
	for _, d := range deps {
		for _, bad := range forbidden {
			if d == bad || strings.HasPrefix(d, bad+"/") {
				t.Errorf("this binary links %s (forbidden: %s)", d, bad)
			}
		}
	}
}
