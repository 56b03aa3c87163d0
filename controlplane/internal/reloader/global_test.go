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

func TestConfigMatchesThePublishedSnapshot(t *testing.T) {
	e := newEnv(t)
	e.write("sites/a.yaml", "host: a.test\nbackend: http://a:80\nhealth_check: {method: HEAD}\n")
	r, _, fl := e.open()
	ctx := context.Background()
	if r.Config() != nil {
		t.Fatal("Config before any load is not nil")
	}
	if _, _, errs := r.Reload(ctx, "startup"); errs != nil {
		t.Fatal(errs)
	}
	snap, _ := fl.Current()
	cfg := r.Config()
	if cfg.Hash != snap.GetConfigHash() {
		t.Fatalf("config hash %s, snapshot's %s", cfg.Hash, snap.GetConfigHash())
	}
	if m := cfg.Sites[0].Routes[0].Policy.HealthCheck.Method; m != "HEAD" {
		t.Fatalf("health_check.method = %q", m)
	}
	// A rejected file leaves the accepted configuration in force.
	e.write("sites/a.yaml", "host: a.test\nbackend: http://a:80\nhealth_check: {method: PUT}\n")
	if _, _, errs := r.Reload(ctx, "file_watcher"); errs == nil {
		t.Fatal("bad method accepted")
	}
	if r.Config() != cfg {
		t.Fatal("a rejected reload replaced the configuration in force")
	}
}
