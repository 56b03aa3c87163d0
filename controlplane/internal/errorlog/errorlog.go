// Package errorlog writes the failed requests the data planes report (a 5xx, or an error set)
// as JSON lines, one file per UTC day, errors-2006-01-02.log in its directory, or to a writer
// such as stdout. Each line is one request with its request_id, so a line found in the file
// leads to the full row through GET /api/logs?request_id=.
//
// The log deletes its own files once they are older than the error-log retention: at opening
// and whenever it starts a new day's file.
package errorlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

const (
	prefix  = "errors-"
	suffix  = ".log"
	dayForm = "2006-01-02"
)

// Options configure a Log. Exactly one of Dir and Writer is set.
type Options struct {
	// Dir is the directory of the daily files; it is created (0700) if missing.
	Dir string
	// Writer receives the lines instead of files (stdout when so configured).
	Writer io.Writer
	// Keep returns how long a day's file is kept after its day ended; 0 or less keeps every
	// file. It is asked at each rotation, so a changed configuration applies without a restart.
	Keep func() time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Log is safe for concurrent use.
type Log struct {
	opts Options

	mu   sync.Mutex
	day  string   // UTC day of f
	f    *os.File // nil until the first line of a day, and in Writer mode
	line []byte   // reused encoding buffer
}

// Open returns a log writing to opts.Dir or opts.Writer. In Dir mode it deletes the expired
// files now.
func Open(opts Options) (*Log, error) {
	if (opts.Dir == "") == (opts.Writer == nil) {
		return nil, errors.New("error log: exactly one of a directory and a writer is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Log{opts: opts}
	if opts.Dir == "" {
		return l, nil
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("error log: create %s: %w", opts.Dir, err)
	}
	if _, err := l.prune(); err != nil {
		return nil, err
	}
	return l, nil
}

// WriteErrors appends one JSON line per entry, to the file of the current UTC day.
func (l *Log) WriteErrors(entries []store.LogEntry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.line = l.line[:0]
	for i := range entries {
		b, err := json.Marshal(&entries[i])
		if err != nil {
			return fmt.Errorf("error log: encode %s: %w", entries[i].RequestID, err)
		}
		l.line = append(append(l.line, b...), '\n')
	}
	w := l.opts.Writer
	if w == nil {
		if err := l.rotate(); err != nil {
			return err
		}
		w = l.f
	}
	if _, err := w.Write(l.line); err != nil {
		return fmt.Errorf("error log: write: %w", err)
	}
	return nil
}

// rotate opens the file of the current day if f is another day's, and then deletes the expired
// files. Called with mu held.
func (l *Log) rotate() error {
	day := l.opts.Now().UTC().Format(dayForm)
	if l.f != nil && day == l.day {
		return nil
	}
	var errs []error
	if l.f != nil {
		if err := l.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("error log: close %s: %w", l.f.Name(), err))
		}
		l.f = nil
	}
	name := filepath.Join(l.opts.Dir, prefix+day+suffix)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("error log: open %s: %w", name, err))...)
	}
	l.f, l.day = f, day
	if _, err := l.prune(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// prune deletes the day files whose day ended more than Keep ago and returns their names.
// Files that are not day files are left alone.
func (l *Log) prune() ([]string, error) {
	if l.opts.Keep == nil {
		return nil, nil
	}
	keep := l.opts.Keep()
	if keep <= 0 {
		return nil, nil
	}
	ents, err := os.ReadDir(l.opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("error log: list %s: %w", l.opts.Dir, err)
	}
	cutoff := l.opts.Now().Add(-keep)
	var (
		deleted []string
		errs    []error
	)
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
			continue
		}
		day, err := time.Parse(dayForm, strings.TrimSuffix(strings.TrimPrefix(name, prefix), suffix))
		if err != nil {
			continue
		}
		if end := day.AddDate(0, 0, 1); !end.Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(l.opts.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("error log: delete %s: %w", name, err))
			continue
		}
		deleted = append(deleted, name)
	}
	return deleted, errors.Join(errs...)
}

// Close closes the current file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("error log: close: %w", err)
	}
	return nil
}
