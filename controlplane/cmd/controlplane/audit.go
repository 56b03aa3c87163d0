package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/envflag"
)

// errAuditTampered is returned when the audit chain is broken, so that the command exits non-zero.
var errAuditTampered = errors.New("audit log tampered with")

// audit runs an audit subcommand; "verify" is the only one.
func audit(ctx context.Context, out io.Writer, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return errors.New("usage: controlplane audit verify [-db path]")
	}
	return auditVerify(ctx, out, args[1:])
}

// auditVerify walks the audit log's hash chain in the database, opened read-only (a running
// control plane may keep writing), and reports the first broken row.
func auditVerify(ctx context.Context, out io.Writer, args []string) error {
	fs := envflag.New("controlplane audit verify")
	var db string
	fs.StringVar(&db, "db", "PROXY_DB_PATH", "/data/proxy.db", "SQLite database file", "DB_PATH")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rep, err := store.VerifyAuditFile(ctx, db)
	if err != nil {
		return err
	}
	if rep.Broken != nil {
		fmt.Fprintf(out, "audit log BROKEN at row %d: %s\n", rep.Broken.ID, rep.Broken.Reason)
		if rep.Rows > 0 {
			fmt.Fprintf(out, "rows %d to %d (%d rows) before it verify\n", rep.FirstID, rep.LastID, rep.Rows)
		}
		return fmt.Errorf("%w: row %d", errAuditTampered, rep.Broken.ID)
	}
	if rep.Rows == 0 {
		fmt.Fprintln(out, "audit log intact: no entries")
		return nil
	}
	start := "the first entry ever written"
	if rep.Truncated {
		start = "retention deleted older entries; anchored at prev_hash " + rep.Anchor
	}
	fmt.Fprintf(out, "audit log intact: %d entries, rows %d to %d (%s)\nhead hash %s\n", rep.Rows, rep.FirstID, rep.LastID, start, rep.Head)
	return nil
}
