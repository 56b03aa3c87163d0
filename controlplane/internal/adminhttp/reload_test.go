package adminhttp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/reloader"
)

// POST /api/admin/reload re-reads the files with a real reloader: unchanged, changed (a new
// version), rejected (422 with file and line; the version in force stays), each in the audit log
// with the caller.
func TestAdminReload(t *testing.T) {
	ctx := context.Background()
	log := zaptest.NewLogger(t)
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("global.yaml", "{}\n")
	write("sites/a.yaml", "host: a.example.org\nbackend: http://a:80\n")
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	fl := fleet.New(log)
	rl, err := reloader.New(ctx, log, filepath.Join(dir, "global.yaml"), filepath.Join(dir, "sites"), filepath.Join(dir, "certs"), st, fl)
	if err != nil {
		t.Fatal(err)
	}
	if _, v, errs := rl.Reload(ctx, "startup"); len(errs) > 0 || v != 1 {
		t.Fatalf("first load: version %d, %v", v, errs)
	}
	h := Handler(Config{Health: fakeHealth{started: true}, Fleet: fl, Config: rl, Reloader: rl})

	reload := func() (int, map[string]any) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/api/admin/reload", nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%d: %s", rec.Code, rec.Body)
		}
		return rec.Code, body
	}
	if code, body := reload(); code != 200 || body["changed"] != false || body["version"] != 1.0 {
		t.Errorf("unchanged: %d %v", code, body)
	}
	write("sites/b.yaml", "host: b.example.org\nbackend: http://b:80\n")
	if code, body := reload(); code != 200 || body["changed"] != true || body["version"] != 2.0 {
		t.Errorf("changed: %d %v", code, body)
	}
	write("sites/b.yaml", "host: b.example.org\nbackend: ftp://b\n")
	code, body := reload()
	errs, _ := body["errors"].([]any)
	if code != http.StatusUnprocessableEntity || body["version"] != 2.0 || len(errs) != 1 || !strings.Contains(errs[0].(string), "b.yaml:2") {
		t.Errorf("rejected: %d %v, want 422 naming b.yaml:2 with version 2 in force", code, body)
	}
	entries, err := st.AuditEntries(ctx, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	var api []string
	for _, e := range entries {
		if e.Source == "api" && strings.HasPrefix(e.User, "from ") {
			api = append(api, e.Action)
		}
	}
	if got := strings.Join(api, " "); !strings.Contains(got, "config_unchanged") || !strings.Contains(got, "config_rejected") {
		t.Errorf("audit entries from the API: %q, want config_unchanged, the change and config_rejected", got)
	}
}
