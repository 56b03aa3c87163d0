package errorlog

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func files(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func readIDs(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var e store.LogEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		ids = append(ids, e.RequestID)
	}
	return ids
}

func TestRotationAndRetention(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	c := &clock{t: time.Date(2026, 11, 20, 23, 59, 0, 0, time.UTC)}
	keep := 2 * 24 * time.Hour
	// Files left by an earlier run: one expired, one still kept, and a file of someone else.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"errors-2026-11-17.log", "errors-2026-11-19.log", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Open(Options{Dir: dir, Now: c.now, Keep: func() time.Duration { return keep }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Opening pruned what ended more than 2 days ago: the 17th ended at the 18th 00:00.
	if got := files(t, dir); !slices.Equal(got, []string{"errors-2026-11-19.log", "notes.txt"}) {
		t.Fatalf("after open: %v", got)
	}

	write := func(ids ...string) {
		t.Helper()
		var es []store.LogEntry
		for _, id := range ids {
			es = append(es, store.LogEntry{RequestID: id, Status: 502, Time: c.t})
		}
		if err := l.WriteErrors(es); err != nil {
			t.Fatal(err)
		}
	}
	write("a", "b")
	c.t = c.t.Add(2 * time.Minute) // 00:01 on the 21st, UTC: a new file
	write("c")
	if got := readIDs(t, filepath.Join(dir, "errors-2026-11-20.log")); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("day 20: %v", got)
	}
	if got := readIDs(t, filepath.Join(dir, "errors-2026-11-21.log")); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("day 21: %v", got)
	}
	// The 19th ended at the 20th 00:00, 1 day and a minute ago: kept. Two days later it goes,
	// at the first line of the 23rd.
	c.t = time.Date(2026, 11, 23, 0, 30, 0, 0, time.UTC)
	write("d")
	if got := files(t, dir); !slices.Equal(got, []string{"errors-2026-11-21.log", "errors-2026-11-23.log", "notes.txt"}) {
		t.Fatalf("after rotation on the 23rd: %v", got)
	}
	fi, err := os.Stat(filepath.Join(dir, "errors-2026-11-23.log"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v (%v), want 0600: it holds request details", fi.Mode(), err)
	}
	// A shorter retention applies at the next rotation, without reopening.
	keep = 12 * time.Hour
	c.t = c.t.Add(24 * time.Hour)
	write("e")
	if got := files(t, dir); !slices.Equal(got, []string{"errors-2026-11-23.log", "errors-2026-11-24.log", "notes.txt"}) {
		t.Fatalf("after a shorter retention: %v", got)
	}
}

func TestWriterMode(t *testing.T) {
	var buf bytes.Buffer
	l, err := Open(Options{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WriteErrors([]store.LogEntry{{RequestID: "r1", Status: 500}, {RequestID: "r2", Error: "reset"}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"request_id":"r1"`) || !strings.Contains(lines[1], `"error":"reset"`) {
		t.Fatalf("stdout got %q", buf.String())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenNeedsOneDestination(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Fatal("no destination accepted")
	}
	if _, err := Open(Options{Dir: t.TempDir(), Writer: &bytes.Buffer{}}); err == nil {
		t.Fatal("two destinations accepted")
	}
}
