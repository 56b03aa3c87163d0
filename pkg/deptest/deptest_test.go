package deptest

import "testing"

// recorder catches the failures Forbid reports, to check it reports them.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Helper()               {}

func TestForbid(t *testing.T) {
	// This package's test binary links "testing": forbidding it must fail, forbidding an unrelated
	// path must not.
	r := &recorder{TB: t}
	Forbid(r, "testing")
	if !r.failed {
		t.Fatal("Forbid did not report a package this package depends on")
	}
	Forbid(t, "modernc.org/sqlite")
}
