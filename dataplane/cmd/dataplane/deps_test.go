package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The data plane is stateless: it must not link a database. Everything it knows arrives in snapshots.
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
		for _, bad := range []string{"modernc.org/sqlite", "modernc.org/libc", "github.com/mattn/go-sqlite3", "database/sql"} {
			if d == bad || strings.HasPrefix(d, bad+"/") {
				t.Errorf("the dataplane binary links %s", d)
			}
		}
	}
}
