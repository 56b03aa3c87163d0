package reloader

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// fileEntries returns the config_file_* entries, oldest first.
func fileEntries(t *testing.T, st *store.Store) []store.AuditEntry {
	t.Helper()
	all, err := st.AuditEntries(context.Background(), 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEntry
	for i := len(all) - 1; i >= 0; i-- {
		if strings.HasPrefix(all[i].Action, "config_file_") {
			out = append(out, all[i])
		}
	}
	return out
}

func TestFileAuditThroughReloads(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.write("sites/a.yaml", "host: a.test\nbackend: http://a:80\n")
	e.write("sites/b.yaml", "host: b.test\nbackend: http://b:80\n")
	r, st, _ := e.open()
	if _, _, errs := r.Reload(ctx, "startup"); errs != nil {
		t.Fatal(errs)
	}

	// An accepted edit adding a credential for the backend.
	e.write("sites/a.yaml", "host: a.test\nbackend: http://a2:80\nheaders:\n  request:\n    add:\n      Authorization: Bearer s3cr3t\n")
	if _, _, errs := r.ReloadBy(ctx, "api", "127.0.0.1:5000"); errs != nil {
		t.Fatal(errs)
	}
	// A rejected edit: the text on disk and the error are recorded, nothing is accepted.
	e.write("sites/b.yaml", "host: b.test\nbakend: http://b:80\n")
	if _, _, errs := r.Reload(ctx, "file_watcher"); errs == nil {
		t.Fatal("broken b.yaml accepted")
	}
	// Fixed by removing it, while the control plane is stopped.
	st.Close()
	if err := os.Remove(filepath.Join(e.sites, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	r, st, _ = e.open()
	if _, _, errs := r.Reload(ctx, "startup"); errs != nil {
		t.Fatal(errs)
	}
	// Asked for with nothing to change: audited as a request.
	if changed, _, _ := r.ReloadBy(ctx, "grpc", "grpc 127.0.0.1:6000 (admin token)"); changed {
		t.Fatal("unchanged reload changed")
	}

	got := fileEntries(t, st)
	var lines []string
	for _, a := range got {
		lines = append(lines, strings.Join([]string{a.Action, a.ResourceType, a.ResourceID, a.User, a.Source}, " "))
	}
	want := []string{
		"config_file_added global global.yaml system startup",
		"config_file_added site a.yaml system startup",
		"config_file_added site b.yaml system startup",
		"config_file_changed site a.yaml 127.0.0.1:5000 api",
		"config_file_rejected site b.yaml system file_watcher",
		"config_file_removed site b.yaml system startup",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("file entries:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	changed := got[3]
	if changed.OldValue != "host: a.test\nbackend: http://a:80\n" || !strings.HasPrefix(changed.NewValue, "host: a.test\nbackend: http://a2:80\n") {
		t.Errorf("changed: old %q new %q", changed.OldValue, changed.NewValue)
	}
	wantDiff := "--- a/a.yaml\n+++ b/a.yaml\n@@ -1,2 +1,6 @@\n host: a.test\n-backend: http://a:80\n+backend: http://a2:80\n+headers:\n+  request:\n+    add:\n+      Authorization: \"" + fingerprint("Bearer s3cr3t") + "\"\n"
	if changed.Diff != wantDiff {
		t.Errorf("diff:\n%s\nwant\n%s", changed.Diff, wantDiff)
	}
	rejected := got[4]
	if rejected.OldValue != "host: b.test\nbackend: http://b:80\n" || rejected.NewValue != "host: b.test\nbakend: http://b:80\n" ||
		!strings.Contains(rejected.Notes, "b.yaml:2:1:") || !strings.Contains(rejected.Notes, "bakend") || !strings.Contains(rejected.Diff, "+bakend") {
		t.Errorf("rejected entry: %+v", rejected)
	}
	if removed := got[5]; removed.OldValue != "host: b.test\nbackend: http://b:80\n" || removed.NewValue != "" || !strings.Contains(removed.Diff, "-backend: http://b:80") {
		t.Errorf("removed entry: %+v", removed)
	}

	all, err := st.AuditEntries(ctx, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	var unchanged int
	for _, a := range all {
		if a.Action == "config_unchanged" && a.User == "grpc 127.0.0.1:6000 (admin token)" && a.Source == "grpc" {
			unchanged++
		}
		for _, v := range []string{a.OldValue, a.NewValue, a.Diff, a.Notes} {
			if strings.Contains(v, "s3cr3t") {
				t.Errorf("%s entry holds the secret: %q", a.Action, v)
			}
		}
	}
	if unchanged != 1 {
		t.Errorf("%d config_unchanged entries for the gRPC request, want 1", unchanged)
	}
	files, err := st.ConfigFiles(ctx)
	if err != nil || len(files) != 2 || strings.Contains(files["site:a.yaml"], "s3cr3t") {
		t.Errorf("config files = %v, %v", files, err)
	}
	if rep, err := st.VerifyAudit(ctx); err != nil || rep.Broken != nil {
		t.Errorf("audit chain after the reloads: %+v, %v", rep, err)
	}
}
