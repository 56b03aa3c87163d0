package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/pkg/config"
)

func backupSection(t testing.TB, yaml string) *config.Backup {
	t.Helper()
	src := "backup:\n  encryption: {identity_file: /run/secrets/k}\n"
	for _, l := range strings.SplitAfter(yaml, "\n") {
		if l != "" {
			src += "  " + l
		}
	}
	g, err := config.ParseGlobal("global.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return &g.Backup
}

func countTiers(t testing.TB, e *Engine) map[Tier]int {
	t.Helper()
	list, err := e.List()
	if err != nil {
		t.Fatal(err)
	}
	n := map[Tier]int{}
	for _, in := range list {
		n[in.Tier]++
	}
	return n
}

// expectedKept is what retention must keep of the backups taken (oldest first): the newest
// keep of each tier, and the files their chains need; nothing else.
func expectedKept(taken []Header, names []string, keep Keep) map[string]bool {
	base := map[string]string{}
	for i, h := range taken {
		base[names[i]] = h.Base
	}
	want := map[string]bool{}
	n := map[Tier]int{}
	for i := len(taken) - 1; i >= 0; i-- {
		if n[taken[i].Tier] >= keep.of(taken[i].Tier) {
			continue
		}
		n[taken[i].Tier]++
		for c := names[i]; c != ""; c = base[c] {
			want[c] = true
		}
	}
	return want
}

func checkKept(t *testing.T, e *Engine, want map[string]bool) map[Tier]int {
	t.Helper()
	list, err := e.List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[Tier]int{}
	for _, in := range list {
		got[in.Tier]++
		if !want[in.Name] {
			t.Errorf("%s kept, neither among the newest of its tier nor needed by one", in.Name)
		}
		delete(want, in.Name)
	}
	for name := range want {
		t.Errorf("%s removed, but it is among the newest of its tier or needed by one", name)
	}
	return got
}

// TestRetentionKeepsConfiguredCounts runs three weeks of the seed's schedule on a fake clock
// with real backups of a database that changes every hour (keeping 2 full, 1 differential and
// 24 incremental), and checks that exactly the newest of each tier and the files their chains
// need are kept, and that each kept backup restores.
func TestRetentionKeepsConfiguredCounts(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("three weeks of hourly backups: run without -short and without the race detector (make test does)")
	}
	dir := t.TempDir()
	path, db := newDB(t, dir)
	b := backupSection(t, "full: {keep: 2}\ndifferential: {keep: 1}\nincremental: {keep: 24}\n")
	keep := Keep{Full: b.Full.Keep, Differential: b.Differential.Keep, Incremental: b.Incremental.Keep}
	clk := &clock{t: t0.Add(-time.Hour)}
	eng, _ := New(Options{DB: path, Dir: filepath.Join(dir, "b"), Key: newKey(t, dir, "key"), Now: clk.Now, Keep: keep})
	r := rand.New(rand.NewPCG(7, 8))
	end := t0.AddDate(0, 0, 22).Add(time.Hour) // the fourth Sunday's full and 24 hours after it
	var taken []Header
	var names []string
	for at, tier := Due(b, clk.Now()); at.Before(end); at, tier = Due(b, at) {
		clk.set(at)
		if err := writeSome(db, r, at); err != nil {
			t.Fatal(err)
		}
		res, err := eng.Run(context.Background(), tier)
		if err != nil {
			t.Fatalf("%s %s: %v", at, tier, err)
		}
		h, _ := ReadHeader(filepath.Join(eng.o.Dir, res.Name))
		taken, names = append(taken, h), append(names, res.Name)
	}
	ran := map[Tier]int{}
	for _, h := range taken {
		ran[h.Tier]++
	}
	if ran[Full] != 4 || ran[Differential] != 3 || ran[Incremental] != 22*24+1-7 {
		t.Errorf("ran %v", ran)
	}
	got := checkKept(t, eng, expectedKept(taken, names, keep))
	// The 24 newest incrementals (after Sunday 02:00) need only the last full, the differential
	// the full before: counts are exact.
	if got[Full] != 2 || got[Differential] != 1 || got[Incremental] != 24 {
		t.Errorf("kept %v", got)
	}
	rep, err := eng.Verify(context.Background(), dir)
	if err != nil || len(rep.Failed) != 0 || rep.Checked != 27 {
		t.Errorf("verify: %+v, %v", rep, err)
	}
}

// writeHeaderOnly writes a file with only the plaintext header: enough for retention, which
// never reads further.
func writeHeaderOnly(t testing.TB, dir string, h Header) string {
	t.Helper()
	j, _ := json.Marshal(h)
	name := FileName(h.Tier, h.Time)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("%s %d %s\n", magic, version, j)), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestRetentionKeepsWhatChainsNeed runs ten weeks of the seed's defaults (keep 4 full, 8
// differential, 168 incremental): the 8 kept differentials span 8 weeks, so the fulls they are
// based on are kept too, beyond 4; nothing else is kept, and every kept chain is complete.
func TestRetentionKeepsWhatChainsNeed(t *testing.T) {
	dir := t.TempDir()
	b := backupSection(t, "")
	e, _ := New(Options{DB: filepath.Join(dir, "x.db"), Dir: dir, Key: &Key{},
		Keep: Keep{Full: b.Full.Keep, Differential: b.Differential.Keep, Incremental: b.Incremental.Keep}})
	var lastFull, prev string
	var taken []Header
	var names []string
	end := t0.AddDate(0, 0, 70)
	for at, tier := Due(b, t0.Add(-time.Hour)); at.Before(end); at, tier = Due(b, at) {
		h := Header{Tier: tier, Time: at}
		switch tier {
		case Differential:
			h.Base = lastFull
		case Incremental:
			h.Base = prev
		}
		prev = writeHeaderOnly(t, dir, h)
		taken, names = append(taken, h), append(names, prev)
		if tier == Full {
			lastFull = prev
		}
		if tier != Incremental { // often enough for the directory to stay small; the last one decides
			if _, err := e.Prune(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := e.Prune(); err != nil {
		t.Fatal(err)
	}
	got := checkKept(t, e, expectedKept(taken, names, e.o.Keep))
	// The newest 168 incrementals reach back to Saturday 23:00 of the week before; the oldest
	// one's chain goes down to the Wednesday differential: 93 more incrementals are links.
	if got[Full] != 8 || got[Differential] != 8 || got[Incremental] != 168+93 {
		t.Errorf("kept %v, want 8 full (4 + 4 that kept differentials need), 8 differential, 168+93 incremental", got)
	}
	list, _ := e.List()

	// A backup whose chain is broken can never be restored: removed even when among the newest.
	os.Remove(filepath.Join(dir, list[len(list)-10].Name))
	removed, err := e.Prune()
	if err != nil || len(removed) != 9 {
		t.Errorf("after breaking the chain of the newest 9: removed %v, %v", removed, err)
	}
}

// TestDue: the largest tier wins a shared minute; disabled tiers never fire.
func TestDue(t *testing.T) {
	b := backupSection(t, "")
	sat := time.Date(2026, 11, 7, 23, 30, 0, 0, time.UTC)
	tests := []struct {
		b     *config.Backup
		after time.Time
		at    time.Time
		tier  Tier
	}{
		{b, sat, sat.Add(30 * time.Minute), Incremental},
		{b, sat.Add(2 * time.Hour), sat.Add(2*time.Hour + 30*time.Minute), Full}, // Sunday 02:00: the full, not the incremental
		{b, time.Date(2026, 11, 11, 1, 0, 0, 0, time.UTC), time.Date(2026, 11, 11, 2, 0, 0, 0, time.UTC), Differential},
		{backupSection(t, "incremental: {enabled: false}\n"), sat, time.Date(2026, 11, 8, 2, 0, 0, 0, time.UTC), Full},
		{backupSection(t, "full: {enabled: false}\ndifferential: {enabled: false}\nincremental: {enabled: false}\n"), sat, time.Time{}, ""},
	}
	for i, tc := range tests {
		at, tier := Due(tc.b, tc.after)
		if !at.Equal(tc.at) || tier != tc.tier {
			t.Errorf("%d: Due(%s) = %s %s, want %s %s", i, tc.after, at, tier, tc.at, tc.tier)
		}
	}
}
