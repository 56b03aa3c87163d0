package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// Checked by 3 of issue 6: a raw SQLite write to an audit row is detected by audit verify.
func TestAuditVerify(t *testing.T) {
	testCases := []struct {
		desc   string
		tamper []string // run on the file with the triggers dropped, as someone holding it could
		want   string
	}{
		{desc: "intact", want: "audit log intact: 4 entries, rows 1 to 4 (the first entry ever written)"},
		{desc: "a row changed", tamper: []string{"UPDATE audit_log SET user = 'admin', notes = 'routine' WHERE audit_id = 2"},
			want: "audit log BROKEN at row 2: the content does not match its hash"},
		{desc: "a row deleted in the middle", tamper: []string{"DELETE FROM audit_log WHERE audit_id = 3"},
			want: "audit log BROKEN at row 4: rows 3 to 3 are missing"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "proxy.db")
			st, err := store.Open(ctx, path, zaptest.NewLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 4 {
				if err := st.Audit(ctx, store.AuditEntry{User: "system", Action: "config_reload", ResourceType: "config", ResourceID: fmt.Sprint(i + 1)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if len(tc.tamper) > 0 {
				db, err := sql.Open("sqlite", path)
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range append([]string{"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"}, tc.tamper...) {
					if _, err := db.Exec(q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			}

			var out bytes.Buffer
			err = audit(ctx, &out, []string{"verify", "-db", path})
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output:\n%s\nwant it to contain %q", out.String(), tc.want)
			}
			if intact := len(tc.tamper) == 0; intact != (err == nil) || (!intact && !errors.Is(err, errAuditTampered)) {
				t.Errorf("audit verify = %v", err)
			}
		})
	}
}

func TestAuditUsage(t *testing.T) {
	var out bytes.Buffer
	if err := audit(context.Background(), &out, nil); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("audit without a subcommand = %v", err)
	}
	if err := audit(context.Background(), &out, []string{"verify", "-db", filepath.Join(t.TempDir(), "none.db")}); err == nil {
		t.Error("verify of a missing database succeeded")
	}
}
