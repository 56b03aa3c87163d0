package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// The audit log is append-only and hash-chained (migration 0007):
//
//   - Triggers refuse UPDATE and DELETE on audit_log, and an INSERT without a hash. The one
//     exception is the audit retention: DeleteAuditBefore opens audit_retention_gate inside its
//     own transaction, deletes the oldest rows and closes it before committing, so no other
//     connection ever sees the gate open. Only the control plane's writer does this. Anyone who
//     can write the file can open the gate or drop the triggers as well; the triggers stop
//     mistakes and the control plane's own code, the chain is what shows tampering.
//   - Each row's hash is the SHA-256 of the previous row's hash and a length-prefixed encoding of
//     the row's own fields (auditHash). insertAudit reads the newest row's hash inside the
//     writer's transaction; with one writer goroutine the chain is a line, in audit_id order.
//   - Retention deletes a prefix of the chain (the oldest rows, never one after a row it keeps),
//     so verification starts at the first remaining row, trusting its prev_hash, and the retention
//     run's own entry, chained, says what went.
//   - A change to a row, a row deleted in the middle or inserted out of line breaks the chain at
//     that row. Rewriting a row and recomputing every later hash, or cutting rows off the end, is
//     only visible against a head hash noted earlier (verify reports the head).

// genesisHash is the prev_hash of the first row ever written.
var genesisHash = strings.Repeat("0", 2*sha256.Size)

// auditChainDomain separates these hashes from any other SHA-256 use; the version is bumped if
// the encoding ever changes.
const auditChainDomain = "proxy-manager audit_log chain v1\x00"

// chainRow is an audit_log row as stored: the fields the hash covers, NULLs kept apart from "".
type chainRow struct {
	id, ts   int64
	user     string
	action   string
	resType  string
	optional [6]sql.NullString // resource_id, old_value, new_value, source, notes, diff
	prevHash sql.NullString
	hash     sql.NullString
}

// auditHash is hex(SHA-256(domain, prev, id, timestamp, fields)), each string prefixed by its
// length and each optional one by whether it is NULL, so that no two rows encode the same.
func auditHash(prev string, r *chainRow) string {
	h := sha256.New()
	var n [8]byte
	str := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	num := func(v int64) {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	h.Write([]byte(auditChainDomain))
	str(prev)
	num(r.id)
	num(r.ts)
	str(r.user)
	str(r.action)
	str(r.resType)
	for _, f := range r.optional {
		if !f.Valid {
			h.Write([]byte{0})
			continue
		}
		h.Write([]byte{1})
		str(f.String)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// chainHead returns the newest row's id and the newest hash, or 0 and genesisHash when there is
// none. A newest row without a hash was written around the control plane (the insert trigger
// refuses it): the chain goes on from the last hashed row, so that auditing keeps working, and
// verify reports the row.
func chainHead(ctx context.Context, tx *sql.Tx) (int64, string, error) {
	var id sql.NullInt64
	var hash sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT (SELECT MAX(audit_id) FROM audit_log),
  (SELECT hash FROM audit_log WHERE hash IS NOT NULL ORDER BY audit_id DESC LIMIT 1)`).Scan(&id, &hash)
	if err != nil {
		return 0, "", fmt.Errorf("read the audit chain's head: %w", err)
	}
	if !hash.Valid {
		return id.Int64, genesisHash, nil
	}
	return id.Int64, hash.String, nil
}

const (
	openGateSQL  = `UPDATE audit_retention_gate SET open = 1 WHERE id = 1`
	closeGateSQL = `UPDATE audit_retention_gate SET open = 0 WHERE id = 1`
	// Only a prefix of the chain: rows older than the cutoff that come before the first row the
	// cutoff keeps, so that the rows left are still one unbroken chain.
	deleteAuditSQL = `DELETE FROM audit_log WHERE audit_id IN (
  SELECT audit_id FROM audit_log
  WHERE timestamp < ?1
    AND audit_id < COALESCE((SELECT MIN(audit_id) FROM audit_log WHERE timestamp >= ?1), 9223372036854775807)
  ORDER BY audit_id LIMIT ?2)`
)

// DeleteAuditBefore deletes up to batch of the oldest audit entries older than cutoff, in one
// transaction that opens the audit retention gate, deletes and closes it. It stops at the first
// entry the cutoff keeps, even if older ones follow it (entries written with an earlier time), so
// that what is left verifies. It is the audit retention's only way to delete; the retention job
// records what it deleted with an entry of its own.
func (s *Store) DeleteAuditBefore(ctx context.Context, cutoff time.Time, batch int) (deleted int, err error) {
	if batch <= 0 {
		return 0, fmt.Errorf("delete audit entries: batch %d must be positive", batch)
	}
	err = s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, openGateSQL); err != nil {
			return fmt.Errorf("open the retention gate: %w", err)
		}
		res, err := tx.ExecContext(ctx, deleteAuditSQL, cutoff.Unix(), batch)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		deleted = int(n)
		if _, err := tx.ExecContext(ctx, closeGateSQL); err != nil {
			return fmt.Errorf("close the retention gate: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete audit entries before %s: %w", cutoff.UTC().Format(time.RFC3339), err)
	}
	return deleted, nil
}

// chainBatch is how many legacy rows chainLegacyAudit reads at a time.
const chainBatch = 500

// chainLegacyAudit gives a hash to the rows written before migration 0007, in audit_id order from
// the genesis hash, in one transaction through the retention gate (the update trigger lets a row
// without a hash get one while the gate is open, and nothing else). It runs at every Open and
// does nothing once every row is chained. Rows without a hash after a chained one are not
// legacy rows but rows written around the control plane: they are left for verify to report.
func chainLegacyAudit(ctx context.Context, db *sql.DB, log *zap.Logger) (err error) {
	var legacy int
	const countSQL = `SELECT COUNT(*) FROM audit_log WHERE hash IS NULL AND audit_id <
  COALESCE((SELECT MIN(audit_id) FROM audit_log WHERE hash IS NOT NULL), 9223372036854775807)`
	if err := db.QueryRowContext(ctx, countSQL).Scan(&legacy); err != nil {
		return fmt.Errorf("chain audit log: %w", err)
	}
	if legacy == 0 {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("chain audit log: begin: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	if _, err := tx.ExecContext(ctx, openGateSQL); err != nil {
		return fmt.Errorf("chain audit log: open the gate: %w", err)
	}
	prev, after, chained := genesisHash, int64(0), 0
	for {
		rows, err := readChainRows(ctx, tx, `WHERE hash IS NULL AND audit_id > ? AND audit_id <
  COALESCE((SELECT MIN(audit_id) FROM audit_log WHERE hash IS NOT NULL), 9223372036854775807)`, chainBatch, after)
		if err != nil {
			return fmt.Errorf("chain audit log: %w", err)
		}
		for _, r := range rows {
			h := auditHash(prev, r)
			if _, err := tx.ExecContext(ctx, `UPDATE audit_log SET prev_hash = ?, hash = ? WHERE audit_id = ?`, prev, h, r.id); err != nil {
				return fmt.Errorf("chain audit log: row %d: %w", r.id, err)
			}
			prev, after = h, r.id
			chained++
		}
		if len(rows) < chainBatch {
			break
		}
	}
	if _, err := tx.ExecContext(ctx, closeGateSQL); err != nil {
		return fmt.Errorf("chain audit log: close the gate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("chain audit log: commit: %w", err)
	}
	log.Info("audit log rows written before the hash chain were chained", zap.Int("rows", chained))
	return nil
}

const chainColumns = `SELECT audit_id, timestamp, user, action, resource_type, resource_id, old_value,
  new_value, source, notes, diff, prev_hash, hash FROM audit_log `

// querier is a *sql.Tx or a *sql.DB.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readChainRows reads up to limit rows matching where (with args), in audit_id order.
func readChainRows(ctx context.Context, q querier, where string, limit int, args ...any) (out []*chainRow, err error) {
	rows, err := q.QueryContext(ctx, chainColumns+where+` ORDER BY audit_id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	for rows.Next() {
		r := &chainRow{}
		o := &r.optional
		if err := rows.Scan(&r.id, &r.ts, &r.user, &r.action, &r.resType, &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &r.prevHash, &r.hash); err != nil {
			return nil, fmt.Errorf("scan audit row: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
