package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// eraseBatch is how many rows one write transaction of an erasure deletes: small enough that the
// event writer, which shares the one write connection, waits milliseconds, not seconds.
const eraseBatch = 500

// Erasure is what Erase did: rows deleted per table, and what it kept and why. It is also the
// new value of the erasure's audit entry; it holds counts, never the erased data.
type Erasure struct {
	Subject       Subject          `json:"asked"`
	Deleted       map[string]int64 `json:"deleted"`
	DeletedShared map[string]int64 `json:"deleted_shared_masked,omitempty"`
	Kept          []KeptRows       `json:"kept,omitempty"`
	Error         string           `json:"error,omitempty"` // set in the audit entry of an erasure that stopped part-way
}

// KeptRows are rows that matched the subject and were not erased.
type KeptRows struct {
	Table  string `json:"table"`
	Rows   int64  `json:"rows"`
	Reason string `json:"reason"`
}

// Erase deletes the records held about subj and records the erasure in the audit log (action
// "gdpr_erase", by who, from source, with notes): what was asked and how many rows per table, not
// the data. Rows are deleted in batches of eraseBatch, each its own transaction through the
// writer, so the event stream keeps flowing; the rows that arrived meanwhile are deleted by the
// last transaction, which also writes the audit entry, once. An erasure that fails part-way is
// recorded too, with what it had deleted and the error.
//
// Kept: bans in force (lift them first), the shared masked access-log rows unless
// subj.IncludeMasked, and the audit log.
func (s *Store) Erase(ctx context.Context, subj Subject, who, source, notes string) (*Erasure, error) {
	all, err := subj.targets()
	if err != nil {
		return nil, fmt.Errorf("erase: %w", err)
	}
	auditWhere, auditArgs, err := subj.auditMatch()
	if err != nil {
		return nil, fmt.Errorf("erase: %w", err)
	}
	if who == "" {
		return nil, errors.New("erase: who asked is required")
	}
	kind, value, _ := subj.check()
	entry := AuditEntry{User: who, Action: "gdpr_erase", ResourceType: "personal_data",
		ResourceID: kind + "=" + value, Source: source, Notes: notes}
	now := time.Now()
	var targets []target // what is erased; the shared masked rows only when asked
	for _, t := range all {
		if !t.shared || subj.IncludeMasked {
			targets = append(targets, t)
		}
	}
	// result is the erasure as of deleted rows per target.
	result := func(deleted []int64, kept []KeptRows, failure error) *Erasure {
		er := &Erasure{Subject: subj, Deleted: map[string]int64{}, Kept: kept}
		if subj.IncludeMasked {
			er.DeletedShared = map[string]int64{}
		}
		for i, t := range targets {
			if t.shared {
				er.DeletedShared[t.table] += deleted[i]
			} else {
				er.Deleted[t.table] += deleted[i]
			}
		}
		if failure != nil {
			er.Error = failure.Error()
		}
		return er
	}

	// From here on, a failure may leave part of the rows erased, and is recorded as such.
	deleted := make([]int64, len(targets))
	upto, err := s.eraseExisting(ctx, targets, deleted, now)
	var kept []KeptRows
	if err == nil {
		kept, err = s.eraseKept(ctx, all, subj.IncludeMasked, auditWhere, auditArgs, now)
	}
	if err == nil {
		var er *Erasure
		err = s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
			total := append([]int64(nil), deleted...)
			for i, t := range targets {
				where, args := t.eraseWhere(now)
				res, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE rowid > ? AND (%s)", t.table, where),
					append([]any{upto[i]}, args...)...)
				if err != nil {
					return fmt.Errorf("%s: %w", t.table, err)
				}
				late, err := res.RowsAffected()
				if err != nil {
					return fmt.Errorf("%s: %w", t.table, err)
				}
				total[i] += late
			}
			er = result(total, kept, nil)
			j, err := json.Marshal(er)
			if err != nil {
				return fmt.Errorf("encode erasure: %w", err)
			}
			e := entry
			e.Time, e.NewValue = now, string(j)
			return insertAudit(ctx, tx, e)
		})
		if err == nil {
			s.log.Info("personal data erased", zap.String("selector", kind), zap.String("source", source),
				zap.Any("deleted", er.Deleted), zap.Any("deleted_shared", er.DeletedShared))
			return er, nil
		}
	}

	// Part of it may be gone already: say so in the audit log, even if ctx has ended.
	if j, jerr := json.Marshal(result(deleted, nil, err)); jerr == nil {
		entry.NewValue = string(j)
	}
	entry.Notes = joinNotes(notes, "incomplete")
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if aerr := s.Audit(actx, entry); aerr != nil {
		err = errors.Join(err, fmt.Errorf("record the incomplete erasure: %w", aerr))
	}
	return nil, fmt.Errorf("erase %s: %w", kind, err)
}

func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// eraseWhere is the condition on the rows of t that erasure deletes.
func (t target) eraseWhere(now time.Time) (string, []any) {
	if t.erasable == "" {
		return t.where, t.args
	}
	return "(" + t.where + ") AND " + t.erasable, append(append([]any{}, t.args...), t.erasableArgs(now)...)
}

// eraseExisting deletes, batch by batch, the matching rows that exist when it starts, and returns
// the highest rowid of each table at that moment. The rows are found on a reader, walking up by
// rowid, so no write transaction ever scans a table; each batch's delete checks the condition
// again, so a row that changed in between is never deleted by mistake.
func (s *Store) eraseExisting(ctx context.Context, targets []target, deleted []int64, now time.Time) ([]int64, error) {
	upto := make([]int64, len(targets))
	for i, t := range targets {
		if err := s.read.QueryRowContext(ctx, "SELECT COALESCE(max(rowid), 0) FROM "+t.table).Scan(&upto[i]); err != nil {
			return nil, fmt.Errorf("%s: %w", t.table, err)
		}
		where, args := t.eraseWhere(now)
		find := fmt.Sprintf("SELECT rowid FROM %s WHERE rowid > ? AND rowid <= ? AND (%s) ORDER BY rowid LIMIT %d",
			t.table, where, eraseBatch)
		for after := int64(0); ; {
			ids, err := s.rowids(ctx, find, append([]any{after, upto[i]}, args...))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.table, err)
			}
			if len(ids) == 0 {
				break
			}
			del := fmt.Sprintf("DELETE FROM %s WHERE rowid IN (%s) AND (%s)", t.table, placeholders(len(ids)), where)
			delArgs := append(ids, args...)
			err = s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
				res, err := tx.ExecContext(ctx, del, delArgs...)
				if err != nil {
					return err
				}
				n, err := res.RowsAffected()
				if err == nil {
					deleted[i] += n
				}
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.table, err)
			}
			after = ids[len(ids)-1].(int64)
		}
	}
	return upto, nil
}

// eraseKept counts what erasure keeps on purpose: shared masked rows unless includeMasked, rows
// its targets exclude (bans in force), and audit entries.
func (s *Store) eraseKept(ctx context.Context, targets []target, includeMasked bool, auditWhere string, auditArgs []any, now time.Time) (kept []KeptRows, err error) {
	for _, t := range targets {
		if t.shared && !includeMasked {
			n, err := s.countMatching(ctx, t, "", nil)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				kept = append(kept, KeptRows{t.table, n, t.note + "; erased only with include_masked"})
			}
			continue
		}
		if t.erasable == "" {
			continue
		}
		n, err := s.countMatching(ctx, t, " AND NOT "+t.erasable, t.erasableArgs(now))
		if err != nil {
			return nil, err
		}
		if n > 0 {
			kept = append(kept, KeptRows{t.table, n, t.keepReason})
		}
	}
	var n int64
	if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM audit_log WHERE "+auditWhere, auditArgs...).Scan(&n); err != nil {
		return nil, fmt.Errorf("audit_log: %w", err)
	}
	// This erasure's own entry is one more.
	return append(kept, KeptRows{"audit_log", n + 1, "the accountability record, this erasure included: kept, not erased"}), nil
}

func (s *Store) countMatching(ctx context.Context, t target, and string, andArgs []any) (int64, error) {
	var n int64
	q := fmt.Sprintf("SELECT count(*) FROM %s WHERE (%s)%s", t.table, t.where, and)
	if err := s.read.QueryRowContext(ctx, q, append(append([]any{}, t.args...), andArgs...)...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", t.table, err)
	}
	return n, nil
}

func (s *Store) rowids(ctx context.Context, q string, args []any) (ids []any, err error) {
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
