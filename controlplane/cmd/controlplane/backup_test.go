package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/backup"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// TestBackupCommands runs keygen, run, list, verify and restore as the CLI does, and checks
// that restore --at picks the chain of that time.
func TestBackupCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "proxy.db")
	bdir := filepath.Join(dir, "backups")
	key := filepath.Join(dir, "backup.key")
	global := filepath.Join(dir, "global.yaml")
	os.WriteFile(global, []byte(fmt.Sprintf("backup:\n  dir: %s\n  encryption: {identity_file: %s}\n", bdir, key)), 0o600)
	st, err := store.Open(ctx, db, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	addRows := func(n int) {
		t.Helper()
		for i := range n {
			if err := st.Audit(ctx, store.AuditEntry{User: "admin", Action: "test", ResourceType: "setting", ResourceID: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := backupCommand(ctx, &out, append(args, "-global", global, "-db", db))
		return out.String(), err
	}
	out, err := cmd("keygen", "--out", key)
	if err != nil || !strings.Contains(out, "public recipient: age1") {
		t.Fatalf("keygen: %q, %v", out, err)
	}

	addRows(10)
	if out, err = cmd("run", "incr"); err != nil || !strings.Contains(out, "took a full backup instead") {
		t.Fatalf("first incr: %q, %v", out, err)
	}
	afterFirst := time.Now()
	for _, tier := range []string{"incr", "diff", "incr"} {
		time.Sleep(1100 * time.Millisecond) // file names are to the second
		addRows(5)
		if out, err = cmd("run", tier); err != nil || !strings.Contains(out, "backup 20") {
			t.Fatalf("run %s: %q, %v", tier, out, err)
		}
	}
	st.Close()

	out, err = cmd("list")
	if err != nil || strings.Count(out, "\n") != 5 || !strings.Contains(out, "-diff.pmbk  differential") {
		t.Fatalf("list: %q, %v", out, err)
	}
	if out, err = cmd("verify"); err != nil || !strings.Contains(out, "4 backups checked, 0 failed") {
		t.Fatalf("verify: %q, %v", out, err)
	}

	countAudit := func(path, action string) int {
		t.Helper()
		d, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		var n int
		if err := d.QueryRow("SELECT count(*) FROM audit_log WHERE action = ?", action).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// --at between the first and the second backup: the full alone, 10 rows.
	early := filepath.Join(dir, "early.db")
	if out, err = cmd("restore", "--at", afterFirst.Format(time.RFC3339), "--to", early); err != nil || strings.Count(out, ".pmbk") != 1 {
		t.Fatalf("restore early: %q, %v", out, err)
	}
	if n := countAudit(early, "test"); n != 10 {
		t.Errorf("early restore has %d rows, want 10", n)
	}
	if n := countAudit(early, "backup_restored"); n != 1 {
		t.Errorf("early restore has %d backup_restored entries", n)
	}
	// Now: full + diff + incr, 25 rows, over the live path with the control plane stopped.
	if out, err = cmd("restore", "--at", time.Now().Format(time.RFC3339)); err != nil || strings.Count(out, ".pmbk") != 3 || !strings.Contains(out, "previous database is kept") {
		t.Fatalf("restore now: %q, %v", out, err)
	}
	if n := countAudit(db, "test"); n != 25 {
		t.Errorf("restore has %d rows, want 25", n)
	}

	// The live path while a control plane holds its lock: refused.
	lk, err := backup.TryLock(db + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = cmd("restore", "--at", time.Now().Format(time.RFC3339)); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Errorf("restore while running: %v", err)
	}
	lk.Unlock()

	// A damaged file: verify names it and fails.
	list, _ := backup.List(bdir)
	victim := filepath.Join(bdir, list[1].Name)
	b, _ := os.ReadFile(victim)
	os.WriteFile(victim, b[:len(b)/2], 0o600)
	out, err = cmd("verify")
	if !errors.Is(err, errVerifyFailed) || !strings.Contains(out, "FAILED "+list[1].Name) || !strings.Contains(out, "4 backups checked, 1 failed") {
		t.Errorf("verify damaged: %q, %v", out, err)
	}

	for _, bad := range [][]string{{"run"}, {"run", "weekly"}, {"restore"}, {"restore", "--at", "yesterday"}, {"keygen"}, {"frobnicate"}} {
		if _, err := cmd(bad...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
