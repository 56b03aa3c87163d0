package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// stmtCache holds the writer's hot statements, prepared once on its one connection when the store
// opens, so a batch does not parse its SQL again. They are prepared before the writer starts
// because the writer's transaction then holds the only connection; tx.StmtContext binds them to
// the transaction's connection (and prepares them again on it if that connection was replaced).
type stmtCache struct {
	stmts map[string]*sql.Stmt
}

func prepareStmts(ctx context.Context, db *sql.DB, queries ...string) (*stmtCache, error) {
	c := &stmtCache{stmts: map[string]*sql.Stmt{}}
	for _, q := range queries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("prepare %.60q: %w", q, err), c.close())
		}
		c.stmts[q] = st
	}
	return c, nil
}

// get returns a prepared query bound to tx; the bound statement ends with tx.
func (c *stmtCache) get(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, ok := c.stmts[query]
	if !ok {
		return nil, fmt.Errorf("statement %.60q was not prepared", query)
	}
	return tx.StmtContext(ctx, st), nil
}

// close closes every statement.
func (c *stmtCache) close() error {
	var errs []error
	for q, st := range c.stmts {
		if err := st.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close statement %.60q: %w", q, err))
		}
	}
	return errors.Join(errs...)
}
