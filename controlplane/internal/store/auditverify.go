package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// AuditBreak is the first row where the audit chain does not hold.
type AuditBreak struct {
	ID     int64  // audit_id of the row
	Reason string // what differs
}

// AuditReport is the result of walking the audit chain.
type AuditReport struct {
	Rows      int64  // rows checked (up to the break, when there is one)
	FirstID   int64  // first row; 0 when the log is empty
	LastID    int64  // last row checked
	Anchor    string // prev_hash of the first row: genesisHash, or the hash of the last row retention deleted
	Head      string // hash of the last row checked
	Truncated bool   // the first row is not the first ever written: retention deleted older ones
	Broken    *AuditBreak
}

// verifyBatch is how many rows VerifyAudit holds at a time.
const verifyBatch = 1000

// verifyAudit walks the audit chain in audit_id order from the first row, trusting its prev_hash
// (retention deletes the oldest rows), and stops at the first row whose prev_hash is not the hash
// of the row before it or whose hash is not that of its content.
func verifyAudit(ctx context.Context, q querier) (AuditReport, error) {
	var rep AuditReport
	expect, after := "", int64(0)
	for {
		rows, err := readChainRows(ctx, q, `WHERE audit_id > ?`, verifyBatch, after)
		if err != nil {
			return rep, fmt.Errorf("verify audit log: %w", err)
		}
		for _, r := range rows {
			if rep.Rows == 0 {
				rep.FirstID, rep.Anchor = r.id, r.prevHash.String
				rep.Truncated = r.prevHash.String != genesisHash
				expect = r.prevHash.String
			}
			if b := checkLink(r, expect, rep.LastID); b != nil {
				rep.Broken = b
				return rep, nil
			}
			rep.Rows++
			rep.LastID, rep.Head, expect, after = r.id, r.hash.String, r.hash.String, r.id
		}
		if len(rows) < verifyBatch {
			return rep, nil
		}
	}
}

// checkLink checks one row against the hash of the row before it (prevID, 0 for none).
func checkLink(r *chainRow, expect string, prevID int64) *AuditBreak {
	switch {
	case !r.hash.Valid || !r.prevHash.Valid:
		return &AuditBreak{ID: r.id, Reason: "the row has no hash: it was written around the control plane"}
	case r.prevHash.String != expect && prevID != 0 && r.id != prevID+1:
		return &AuditBreak{ID: r.id, Reason: fmt.Sprintf("rows %d to %d are missing: prev_hash %s is not the hash of row %d (%s)",
			prevID+1, r.id-1, short(r.prevHash.String), prevID, short(expect))}
	case r.prevHash.String != expect:
		return &AuditBreak{ID: r.id, Reason: fmt.Sprintf("prev_hash %s is not the hash of row %d (%s): a row was replaced or the chain rewritten",
			short(r.prevHash.String), prevID, short(expect))}
	}
	if got := auditHash(r.prevHash.String, r); got != r.hash.String {
		return &AuditBreak{ID: r.id, Reason: fmt.Sprintf("the content does not match its hash (stored %s, computed %s): the row was changed",
			short(r.hash.String), short(got))}
	}
	return nil
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

// VerifyAuditFile verifies the audit chain of the database at path, opened read-only: it never
// creates the file, migrates or chains anything, so that what it reports is what is on disk.
func VerifyAuditFile(ctx context.Context, path string) (rep AuditReport, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return rep, fmt.Errorf("verify audit log %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return rep, fmt.Errorf("verify audit log: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return rep, fmt.Errorf("verify audit log %s: %w", abs, err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	var hasChain int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('audit_log') WHERE name = 'hash'`).Scan(&hasChain); err != nil {
		return rep, fmt.Errorf("verify audit log %s: %w", abs, err)
	}
	if hasChain == 0 {
		return rep, fmt.Errorf("verify audit log %s: the database has no audit chain (schema before migration 0007); start the control plane once to migrate it", abs)
	}
	return verifyAudit(ctx, db)
}

// VerifyAudit verifies the audit chain of the open store.
func (s *Store) VerifyAudit(ctx context.Context) (AuditReport, error) {
	return verifyAudit(ctx, s.read)
}
