package reloader

import (
	"context"
	"testing"
)

func TestGlobalIsTheAcceptedOne(t *testing.T) {
	e := newEnv(t)
	e.write("sites/a.yaml", "host: a.test\nbackend: http://a:80\n")
	e.write("global.yaml", "retention: {schedule: \"0 4 * * *\"}\n")
	r, _, _ := e.open()
	ctx := context.Background()
	if r.Global() != nil {
		t.Fatal("Global before any load is not nil")
	}
	if _, _, errs := r.Reload(ctx, "startup"); errs != nil {
		t.Fatal(errs)
	}
	if got := r.Global().Retention.Schedule.String(); got != "0 4 * * *" {
		t.Fatalf("schedule = %q", got)
	}
	// A rejected file leaves the accepted configuration in force.
	e.write("global.yaml", "retention: {schedule: \"0 99 * * *\"}\n")
	if _, _, errs := r.Reload(ctx, "file_watcher"); errs == nil {
		t.Fatal("bad schedule accepted")
	}
	if got := r.Global().Retention.Schedule.String(); got != "0 4 * * *" {
		t.Fatalf("schedule after a rejected reload = %q", got)
	}
}
