package store

import (
	"context"
	"database/sql"
	"time"

	"go.uber.org/zap"
)

// checkpointInterval is how often the checkpointer copies the WAL into the database file.
const checkpointInterval = time.Second

// checkpointer copies committed WAL frames into the database file from a connection of its own,
// in PASSIVE mode, which never takes the write lock: commits of the writer do not wait for the
// copy and its fsync (with SQLite's automatic checkpoints, the commit that crosses 1000 WAL pages
// runs the checkpoint itself, tens of milliseconds that an event batch would wait; the retention
// job's deletes cross it often). The writer's automatic checkpoints are therefore off
// (wal_autocheckpoint(0) in its DSN). Once a checkpoint has copied every frame, the next write
// starts the WAL over, so the WAL holds about checkpointInterval of writes.
type checkpointer struct {
	db   *sql.DB
	log  *zap.Logger
	stop chan struct{}
	done chan struct{}
}

func startCheckpointer(db *sql.DB, log *zap.Logger) *checkpointer {
	c := &checkpointer{db: db, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		var busy, frames, copied int
		err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
		if err != nil {
			c.log.Warn("wal checkpoint", zap.Error(err))
		}
	}
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
