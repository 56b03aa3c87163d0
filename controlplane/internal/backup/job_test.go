package backup

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/pkg/config"
)

type staticConfig struct{ g *config.Global }

func (c staticConfig) Global() *config.Global { return c.g }

type alertLog struct{ tiers []string }

func (a *alertLog) BackupFailed(err error, tier string) { a.tiers = append(a.tiers, tier) }

// TestJobFollowsTheSchedule runs the job on a fake clock from Saturday 23:59 to Sunday 03:30:
// the first incremental finds no full and makes one, Sunday 02:00 runs the full and not the
// incremental due at the same minute.
func TestJobFollowsTheSchedule(t *testing.T) {
	dir := t.TempDir()
	path, db := newDB(t, dir)
	keyFile := filepath.Join(dir, "key")
	newKey(t, dir, "key")
	g, err := config.ParseGlobal("g.yaml", []byte(fmt.Sprintf("backup:\n  dir: %s\n  encryption: {identity_file: %s}\n", filepath.Join(dir, "b"), keyFile)))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 7, 23, 59, 0, 0, time.UTC)}
	stopAt := time.Date(2026, 11, 8, 3, 30, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(11, 12))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	after := func(d time.Duration) <-chan time.Time {
		// Time passes at once, and the database changes every hour.
		writeSome(db, r, clk.Now()) //nolint:errcheck // checked by the backups below
		clk.set(clk.Now().Add(d))
		if !clk.Now().Before(stopAt) {
			cancel()
		}
		c := make(chan time.Time, 1)
		c <- clk.Now()
		return c
	}
	al := &alertLog{}
	job, err := NewJob(zaptest.NewLogger(t), staticConfig{g}, al, JobOptions{DB: path, DefaultDir: "/nonexistent", Now: clk.Now, After: after})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Run(ctx); err != nil {
		t.Fatal(err)
	}
	list, _ := List(filepath.Join(dir, "b"))
	var names []string
	for _, in := range list {
		names = append(names, in.Name)
	}
	want := "20261108T000000Z-full.pmbk 20261108T010000Z-incr.pmbk 20261108T020000Z-full.pmbk 20261108T030000Z-incr.pmbk"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("backups %s, want %s", got, want)
	}
	st := job.Status()
	if f := st.Tiers[Full]; f.LastFile != "20261108T020000Z-full.pmbk" || f.Kept != 2 || f.ConsecutiveFailures != 0 {
		t.Errorf("full status %+v", f)
	}
	if len(al.tiers) != 0 {
		t.Errorf("alerts %v", al.tiers)
	}
}
