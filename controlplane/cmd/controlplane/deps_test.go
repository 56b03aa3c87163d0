package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The control plane must not link the QUIC stack: HTTP/3 is the data plane's business, and the
// control plane's attack surface and binary stay smaller without it.
func TestNoForbiddenDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps returned %d packages; the check would prove nothing", len(deps))
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/quic-go/") {
			t.Errorf("the controlplane binary links %s", d)
		}
	}
}
