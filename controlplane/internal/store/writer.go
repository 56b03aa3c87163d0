package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// writeQueueSize bounds the writes waiting for the writer; a caller blocks (or gives up with its
// context) once it is full.
const writeQueueSize = 128

// writeFunc is one unit of work for the writer: it runs inside a transaction that the writer commits
// if it returns nil and rolls back otherwise.
type writeFunc func(ctx context.Context, tx *sql.Tx) error

type writeRequest struct {
	ctx  context.Context
	fn   writeFunc
	done chan error // buffered, so the writer never waits for a caller that gave up
}

// writer owns the write connection. Its goroutine executes submitted writes one at a time, each in
// its own transaction, in submission order.
//
// A caller whose context ends while its write is queued gets the context's error, and the writer
// skips the write; if the context ends while the write runs, the transaction is rolled back. A
// caller may see a context error for a write that committed just before: writes must therefore be
// idempotent or harmless to repeat (SaveBatch is).
type writer struct {
	db       *sql.DB
	requests chan *writeRequest
	stopped  chan struct{}

	mu     sync.RWMutex // guards closed and sending on requests
	closed bool
}

func newWriter(db *sql.DB) *writer {
	w := &writer{
		db:       db,
		requests: make(chan *writeRequest, writeQueueSize),
		stopped:  make(chan struct{}),
	}
	go w.run()
	return w
}

// do submits fn and waits for its result.
func (w *writer) do(ctx context.Context, fn writeFunc) error {
	req := &writeRequest{ctx: ctx, fn: fn, done: make(chan error, 1)}
	if err := w.enqueue(ctx, req); err != nil {
		return err
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		select {
		case err := <-req.done: // finished at the same moment: report what happened
			return err
		default:
			return ctx.Err()
		}
	}
}

func (w *writer) enqueue(ctx context.Context, req *writeRequest) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return ErrClosed
	}
	select {
	case w.requests <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *writer) run() {
	defer close(w.stopped)
	for req := range w.requests {
		req.done <- w.exec(req)
	}
}

func (w *writer) exec(req *writeRequest) error {
	if err := req.ctx.Err(); err != nil {
		return err
	}
	tx, err := w.db.BeginTx(req.ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := req.fn(req.ctx, tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// close stops accepting writes, lets the writer finish every write already queued and waits for
// its goroutine to end. It is idempotent.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.requests)
	}
	w.mu.Unlock()
	<-w.stopped
}

func (w *writer) isClosed() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.closed
}
