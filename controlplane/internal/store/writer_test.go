package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// blockWriter occupies the writer goroutine until the returned release function is called.
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.writer.do(context.Background(), func(context.Context, *sql.Tx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	var once sync.Once
	return func() {
		once.Do(func() {
			close(unblock)
			if err := <-done; err != nil {
				t.Errorf("blocking write: %v", err)
			}
		})
	}
}

// waitQueued waits until n writes are queued behind the running one.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for len(s.writer.requests) < n {
		time.Sleep(time.Millisecond)
	}
}

// A caller that gives up gets its context's error at once, its write is skipped, and the writer
// goes on with the next write.
func TestWriteCallerGivesUp(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	release := blockWriter(t, s)
	defer release()

	gaveUp, cancel := context.WithCancel(ctx)
	result := make(chan error, 1)
	go func() {
		_, err := s.SaveBatch(gaveUp, testBatch("n1", "b1", 1, 5, "r"))
		result <- err
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Fatalf("SaveBatch with a cancelled context = %v, want context.Canceled", err)
	}
	release()

	// The abandoned batch was skipped, so the re-sent one is stored now.
	stored, err := s.SaveBatch(ctx, testBatch("n1", "b1", 1, 5, "r"))
	if err != nil || !stored {
		t.Fatalf("re-sent SaveBatch = %v, %v; want stored", stored, err)
	}
	if n, err := s.CountRequestLogs(ctx); err != nil || n != 5 {
		t.Fatalf("CountRequestLogs = %d, %v; want 5", n, err)
	}
}

func TestWriteWithDoneContext(t *testing.T) {
	s, _ := openTestStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.SaveBatch(ctx, testBatch("n1", "b1", 1, 1, "r")); !errors.Is(err, context.Canceled) {
		t.Fatalf("SaveBatch = %v, want context.Canceled", err)
	}
}

// Close lets every write already submitted finish and commit before it closes the database.
func TestCloseDrainsQueuedWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "proxy.db")
	s, err := Open(ctx, path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	release := blockWriter(t, s)

	const queued = 20
	type result struct {
		stored bool
		err    error
	}
	results := make(chan result, queued)
	for i := range queued {
		go func() {
			stored, err := s.SaveBatch(ctx, testBatch("n1", "b1", uint64(i+1), 10, "r"))
			results <- result{stored, err}
		}()
	}
	waitQueued(t, s, queued)

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for !s.writer.isClosed() {
		time.Sleep(time.Millisecond)
	}
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range queued {
		if r := <-results; r.err != nil || !r.stored {
			t.Errorf("queued SaveBatch = %v, %v; want stored", r.stored, r.err)
		}
	}

	s, err = Open(ctx, path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	if n, err := s.CountRequestLogs(ctx); err != nil || n != queued*10 {
		t.Fatalf("after reopen CountRequestLogs = %d, %v; want %d", n, err, queued*10)
	}
}

// A failing write is rolled back and does not stop the writer.
func TestWriteErrorRollsBack(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	boom := errors.New("boom")
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := insertAudit(ctx, tx, AuditEntry{Time: time.Unix(1, 0), User: "u", Action: "a", ResourceType: "r"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("do = %v, want boom", err)
	}
	entries, err := s.AuditEntries(ctx, 10, "")
	if err != nil || len(entries) != 0 {
		t.Fatalf("AuditEntries = %v, %v; want none after rollback", entries, err)
	}
	if err := s.Audit(ctx, AuditEntry{User: "system", Action: "config_reload", ResourceType: "config"}); err != nil {
		t.Fatalf("write after a failed one: %v", err)
	}
}
