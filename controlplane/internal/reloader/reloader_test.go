package reloader

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type env struct {
	t      *testing.T
	dir    string
	sites  string
	global string
	certs  string
	db     string
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	e := &env{t: t, dir: dir, sites: filepath.Join(dir, "sites"), global: filepath.Join(dir, "global.yaml"), certs: filepath.Join(dir, "certs"), db: filepath.Join(dir, "proxy.db")}
	for _, d := range []string{e.sites, e.certs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.write("global.yaml", "{}\n")
	return e
}

func (e *env) write(rel, content string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, rel), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// open starts a reloader over a real store and fleet, as the control plane does.
func (e *env) open() (*Reloader, *store.Store, *fleet.Fleet) {
	e.t.Helper()
	log := zaptest.NewLogger(e.t)
	st, err := store.Open(context.Background(), e.db, log)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	fl := fleet.New(log)
	r, err := New(context.Background(), log, e.global, e.sites, e.certs, st, fl)
	if err != nil {
		e.t.Fatal(err)
	}
	return r, st, fl
}

func TestReloadLifecycle(t *testing.T) {
	e := newEnv(t)
	e.write("sites/a.yaml", "host: a.test\nbackend: http://a:80\n")
	r, st, fl := e.open()
	ctx := context.Background()

	changed, v, errs := r.Reload(ctx, "startup")
	if !changed || v != 1 || errs != nil {
		t.Fatalf("first load: changed %v version %d errs %v", changed, v, errs)
	}
	if snap, _ := fl.Current(); snap.GetVersion() != 1 || len(snap.GetRoutes()) != 1 || snap.GetRoutes()[0].GetBackendUrl() != "http://a:80" {
		t.Fatalf("published: %v", snap)
	}

	// Nothing changed on disk: no new version.
	if changed, v, _ := r.Reload(ctx, "file_watcher"); changed || v != 1 {
		t.Fatalf("unchanged reload: changed %v version %d", changed, v)
	}

	// A broken edit is rejected with file:line:column, and version 1 stays live.
	e.write("sites/a.yaml", "host: a.test\nbackend: http://b:80\ntimeouts:\n  conect: 5s\n")
	changed, v, errs = r.Reload(ctx, "file_watcher")
	if changed || v != 1 || len(errs) != 1 || !strings.Contains(errs[0], "a.yaml:4:3:") || !strings.Contains(errs[0], `"conect"`) {
		t.Fatalf("broken edit: changed %v version %d errs %v", changed, v, errs)
	}
	if snap, _ := fl.Current(); snap.GetVersion() != 1 || snap.GetRoutes()[0].GetBackendUrl() != "http://a:80" {
		t.Fatalf("after the rejection the live snapshot is %v", snap)
	}
	if loaded, _, last := r.Status(); !loaded || len(last) != 1 {
		t.Fatalf("Status after rejection: loaded %v errors %v", loaded, last)
	}

	// The fix becomes version 2; the rejection is cleared.
	e.write("sites/a.yaml", "host: a.test\nbackend: http://b:80\n")
	if changed, v, errs := r.Reload(ctx, "file_watcher"); !changed || v != 2 || errs != nil {
		t.Fatalf("fixed edit: changed %v version %d errs %v", changed, v, errs)
	}
	if _, _, last := r.Status(); last != nil {
		t.Fatalf("Status still reports %v", last)
	}

	audit, err := st.AuditEntries(ctx, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	want := "config_file_changed,config_reload,config_file_rejected,config_rejected,config_file_added,config_file_added,config_reload"
	if got := strings.Join(actions, ","); got != want {
		t.Fatalf("audit trail (newest first) = %s", got)
	}
}

// Versions keep growing across restarts, and an unchanged configuration keeps its number.
func TestVersionsAcrossRestarts(t *testing.T) {
	e := newEnv(t)
	e.write("sites/a.yaml", "host: a.test\nbackend: http://a:80\n")
	r, st, _ := e.open()
	ctx := context.Background()
	r.Reload(ctx, "startup")
	e.write("sites/a.yaml", "host: a.test\nbackend: http://b:80\n")
	if _, v, _ := r.Reload(ctx, "file_watcher"); v != 2 {
		t.Fatalf("version %d, want 2", v)
	}
	st.Close()

	r2, st2, fl2 := e.open()
	if _, v, _ := r2.Reload(ctx, "startup"); v != 2 {
		t.Fatalf("restart on the same files: version %d, want 2 (a data plane holding 2 needs nothing)", v)
	}
	if snap, _ := fl2.Current(); snap.GetVersion() != 2 {
		t.Fatalf("published %d, want 2", snap.GetVersion())
	}
	st2.Close()

	e.write("sites/a.yaml", "host: a.test\nbackend: http://c:80\n")
	r3, _, _ := e.open()
	if _, v, _ := r3.Reload(ctx, "startup"); v != 3 {
		t.Fatalf("restart on changed files: version %d, want 3", v)
	}
}

func TestInvalidAtStartup(t *testing.T) {
	e := newEnv(t)
	e.write("sites/a.yaml", "host: a.test\nbakend: http://a:80\n")
	r, _, fl := e.open()
	changed, v, errs := r.Reload(context.Background(), "startup")
	if changed || v != 0 || len(errs) == 0 || !strings.Contains(strings.Join(errs, "\n"), `did you mean "backend"`) {
		t.Fatalf("invalid at startup: changed %v version %d errs %v", changed, v, errs)
	}
	if snap, _ := fl.Current(); snap != nil {
		t.Fatalf("published %v from an invalid configuration", snap)
	}
	if loaded, _, _ := r.Status(); loaded {
		t.Fatal("Status says loaded")
	}
}
