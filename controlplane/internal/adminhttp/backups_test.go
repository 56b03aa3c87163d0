package adminhttp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/backup"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	"github.com/proxy-manager/proxy-manager/ui"
)

type globalOf struct{ g *config.Global }

func (c globalOf) Global() *config.Global { return c.g }

type failures struct{ tiers []string }

func (f *failures) BackupFailed(err error, tier string) { f.tiers = append(f.tiers, tier) }

// TestBackupsAPI: the status after a successful full, and after a failure that raised
// backup_failed.
func TestBackupsAPI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "proxy.db")
	st, err := store.Open(ctx, db, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	key := filepath.Join(dir, "key")
	if _, err := backup.GenerateKey(key); err != nil {
		t.Fatal(err)
	}
	g, err := config.ParseGlobal("global.yaml", []byte(fmt.Sprintf("backup:\n  encryption: {identity_file: %s}\n", key)))
	if err != nil {
		t.Fatal(err)
	}
	al := &failures{}
	job, err := backup.NewJob(zaptest.NewLogger(t), globalOf{g}, al, backup.JobOptions{DB: db, DefaultDir: filepath.Join(dir, "b")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := job.RunNow(ctx, backup.Differential); err != nil {
		t.Fatal(err)
	}
	os.Remove(key)
	if _, err := job.RunNow(ctx, backup.Incremental); err == nil {
		t.Fatal("backup without its key file succeeded")
	}
	h := Handler(Config{Health: fakeHealth{started: true}, Fleet: fleet.New(zap.NewNop()), Config: fakeStatus{loaded: true},
		Backups: job, Dashboard: ui.Dashboard()})
	r := httptest.NewRequest(http.MethodGet, "/api/backups", nil)
	r.Host = "localhost:8080"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var got backup.Status
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	full, incr := got.Tiers[backup.Full], got.Tiers[backup.Incremental]
	switch {
	case !got.Enabled || got.Dir != filepath.Join(dir, "b"):
		t.Errorf("status %+v", got)
	case full.LastSuccess == nil || full.Kept != 1 || full.KeptBytes == 0 || !strings.Contains(full.LastNote, "took a full backup instead") || full.NextRun == nil:
		t.Errorf("full %+v", full)
	case incr.ConsecutiveFailures != 1 || !strings.Contains(incr.LastError, "key") || incr.LastFailure == nil:
		t.Errorf("incremental %+v", incr)
	case len(al.tiers) != 1 || al.tiers[0] != "incremental":
		t.Errorf("alerts %v", al.tiers)
	}
}
