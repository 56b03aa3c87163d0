package backup

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

var t0 = time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC) // a Sunday

// TestChainsRestoreUnderWriteLoad takes every kind of backup while another connection keeps
// inserting, updating and deleting rows, then restores each backup's point in time and compares
// it with the content captured when it was taken (the writer paused for the capture and the
// snapshot only).
func TestChainsRestoreUnderWriteLoad(t *testing.T) {
	dir := t.TempDir()
	path, db := newDB(t, dir)
	clk := &clock{t: t0}
	eng, err := New(Options{DB: path, Dir: filepath.Join(dir, "backups"), Key: newKey(t, dir, "key"), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}

	var pause sync.Mutex
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		r := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			pause.Lock()
			err := writeSome(db, r, clk.Now())
			pause.Unlock()
			if err != nil {
				done <- err
				return
			}
		}
	}()

	plan := []Tier{Full, Incremental, Incremental, Differential, Incremental, Incremental, Full, Incremental, Differential, Incremental}
	type taken struct {
		res  Result
		want map[string]string
	}
	var backups []taken
	for i, tier := range plan {
		time.Sleep(40 * time.Millisecond) // let the writer work
		pause.Lock()
		clk.set(t0.Add(time.Duration(i) * time.Hour))
		want := tableSums(t, db)
		res, err := eng.Run(context.Background(), tier)
		pause.Unlock()
		if err != nil {
			t.Fatalf("backup %d (%s): %v", i, tier, err)
		}
		if res.Skipped || res.Tier != tier {
			t.Fatalf("backup %d: %+v", i, res)
		}
		backups = append(backups, taken{res, want})
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}

	// Real tiers: a differential or incremental stores a part of the pages.
	for _, b := range backups {
		if b.res.Tier != Full && b.res.Pages >= backups[0].res.Pages {
			t.Errorf("%s stores %d pages, the full %d", b.res.Name, b.res.Pages, backups[0].res.Pages)
		}
	}
	for i, b := range backups {
		target := filepath.Join(dir, "restored", b.res.Name+".db")
		os.MkdirAll(filepath.Dir(target), 0o700)
		at := t0.Add(time.Duration(i)*time.Hour + 30*time.Minute) // between this backup and the next
		rr, err := eng.Restore(context.Background(), at, target)
		if err != nil {
			t.Fatalf("restore %s: %v", b.res.Name, err)
		}
		if last := rr.Chain[len(rr.Chain)-1]; last != b.res.Name {
			t.Fatalf("restore at %s picked %s, want %s", at, last, b.res.Name)
		}
		got := tableSums(t, openDB(t, target))
		for tb, w := range b.want {
			if got[tb] != w {
				t.Errorf("%s (chain %v): %s = %s, want %s", b.res.Name, rr.Chain, tb, got[tb], w)
			}
		}
		st, err := store.Open(context.Background(), target, nopLog)
		if err != nil {
			t.Fatal(err)
		}
		audit, err := st.AuditEntries(context.Background(), 1, "backup_restored")
		st.Close()
		if err != nil || len(audit) != 1 || !strings.Contains(audit[0].NewValue, b.res.Name) {
			t.Errorf("%s: audit entry %+v, %v", b.res.Name, audit, err)
		}
	}
	wantChains := map[int]int{0: 1, 1: 2, 2: 3, 3: 2, 4: 3, 5: 4, 6: 1, 7: 2, 8: 2, 9: 3}
	for i, n := range wantChains {
		list, _ := eng.List()
		ch, err := chain(byName(list), backups[i].res.Name)
		if err != nil || len(ch) != n {
			t.Errorf("%s: chain of %d files, want %d (%v)", backups[i].res.Name, len(ch), n, err)
		}
	}
	rep, err := eng.Verify(context.Background(), dir)
	if err != nil || rep.Checked != len(plan) || len(rep.Failed) != 0 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}

// TestIncrementalSkippedWhenUnchanged: no page changed, no file.
func TestIncrementalSkippedWhenUnchanged(t *testing.T) {
	dir := t.TempDir()
	path, db := newDB(t, dir)
	clk := &clock{t: t0}
	eng, _ := New(Options{DB: path, Dir: filepath.Join(dir, "b"), Key: newKey(t, dir, "key"), Now: clk.Now})
	res, err := eng.Run(context.Background(), Incremental)
	if err != nil || res.Tier != Full || res.Note == "" {
		t.Fatalf("first incremental without a full: %+v, %v", res, err)
	}
	clk.set(t0.Add(time.Hour))
	if res, err = eng.Run(context.Background(), Incremental); err != nil || !res.Skipped {
		t.Fatalf("unchanged: %+v, %v", res, err)
	}
	if err := writeSome(db, rand.New(rand.NewPCG(3, 4)), t0); err != nil {
		t.Fatal(err)
	}
	clk.set(t0.Add(2 * time.Hour))
	if res, err = eng.Run(context.Background(), Incremental); err != nil || res.Skipped || res.Pages == 0 {
		t.Fatalf("changed: %+v, %v", res, err)
	}
	// A lost page cache (a new host) is rebuilt from the backups and gives the same result.
	os.Remove(path + ".backup-pages")
	clk.set(t0.Add(3 * time.Hour))
	if res, err = eng.Run(context.Background(), Incremental); err != nil || !res.Skipped {
		t.Fatalf("after losing the cache: %+v, %v", res, err)
	}
}

// TestDamagedBackupsAreNeverRestored: truncation and one flipped byte (header, payload) are
// reported by verify, refused by restore, and the target is left alone.
func TestDamagedBackupsAreNeverRestored(t *testing.T) {
	dir := t.TempDir()
	path, db := newDB(t, dir)
	clk := &clock{t: t0}
	bdir := filepath.Join(dir, "b")
	key := newKey(t, dir, "key")
	eng, _ := New(Options{DB: path, Dir: bdir, Key: key, Now: clk.Now})
	r := rand.New(rand.NewPCG(5, 6))
	var names []string
	for i, tier := range []Tier{Full, Incremental, Incremental} {
		for range 50 {
			if err := writeSome(db, r, t0); err != nil {
				t.Fatal(err)
			}
		}
		clk.set(t0.Add(time.Duration(i) * time.Hour))
		res, err := eng.Run(context.Background(), tier)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, res.Name)
	}
	full, prev, incr := names[0], names[1], names[2]
	orig, _ := os.ReadFile(filepath.Join(bdir, incr))
	headerLen := strings.IndexByte(string(orig), '\n') + 1

	damage := []struct {
		desc   string
		mangle func([]byte) []byte
		want   string
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-100] }, "corrupted"},
		{"truncated in the header", func(b []byte) []byte { return b[:20] }, "no backup header"},
		{"flipped byte in the payload", func(b []byte) []byte { b[headerLen+len(b[headerLen:])/2] ^= 0x01; return b }, "decrypt"},
		{"flipped byte in the age header", func(b []byte) []byte { b[headerLen+40] ^= 0x01; return b }, ""},
		{"flipped byte in the plaintext header", func(b []byte) []byte { b[3] ^= 0x01; return b }, "not a proxy-manager backup"},
		{"header disagrees with the manifest", func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"base":"`+prev, `"base":"`+full, 1))
		}, "disagrees with the authenticated manifest"},
	}
	target := filepath.Join(dir, "target.db")
	os.WriteFile(target, []byte("the database before"), 0o600)
	for _, d := range damage {
		os.WriteFile(filepath.Join(bdir, incr), d.mangle(append([]byte(nil), orig...)), 0o600)
		rep, err := eng.Verify(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Failed) != 1 || rep.Failed[0].Name != incr || !strings.Contains(rep.Failed[0].Err, d.want) {
			t.Errorf("%s: verify %+v", d.desc, rep)
		}
		if _, err := eng.Restore(context.Background(), t0.Add(2*time.Hour), target); err == nil {
			t.Errorf("%s: restored", d.desc)
		}
		if b, _ := os.ReadFile(target); string(b) != "the database before" {
			t.Fatalf("%s: target changed", d.desc)
		}
	}
	os.WriteFile(filepath.Join(bdir, incr), orig, 0o600)

	// A wrong key says which key file.
	other, _ := New(Options{DB: path, Dir: bdir, Key: newKey(t, dir, "other.key"), Now: clk.Now})
	rep, _ := other.Verify(context.Background(), dir)
	if len(rep.Failed) != 3 || !strings.Contains(rep.Failed[0].Err, "other.key does not decrypt it (no identity matched)") {
		t.Errorf("wrong key: %+v", rep)
	}
	if _, err := other.Restore(context.Background(), t0.Add(2*time.Hour), target); err == nil || !strings.Contains(err.Error(), "other.key") {
		t.Errorf("wrong key restore: %v", err)
	}

	// The live database, its lock held by a running control plane: refused, with how to stop it.
	lk, err := TryLock(target + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	_, err = eng.Restore(context.Background(), t0.Add(2*time.Hour), target)
	if err == nil || !strings.Contains(err.Error(), "target.db.lock") || !strings.Contains(err.Error(), "docker service scale proxy_controlplane=0") {
		t.Errorf("restore with the lock held: %v", err)
	}
	lk.Unlock()

	// Intact again: restored, the previous file kept beside it.
	rr, err := eng.Restore(context.Background(), t0.Add(2*time.Hour), target)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(rr.Previous); string(b) != "the database before" {
		t.Errorf("previous database not kept at %s", rr.Previous)
	}
	if _, err := eng.Restore(context.Background(), t0.Add(-time.Minute), target); err == nil || !strings.Contains(err.Error(), "no backup") {
		t.Errorf("restore before the first backup: %v", err)
	}
}

// TestPassphraseKey: backups under an scrypt passphrase restore with it, and another
// passphrase is a clear error naming its file.
func TestPassphraseKey(t *testing.T) {
	dir := t.TempDir()
	path, db := newDB(t, dir)
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600)
	key, err := LoadKey("", pass)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeSome(db, rand.New(rand.NewPCG(1, 1)), t0); err != nil {
		t.Fatal(err)
	}
	want := tableSums(t, db)
	clk := &clock{t: t0}
	eng, _ := New(Options{DB: path, Dir: filepath.Join(dir, "b"), Key: key, Now: clk.Now})
	if _, err := eng.Run(context.Background(), Full); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "restored.db")
	if _, err := eng.Restore(context.Background(), t0, target); err != nil {
		t.Fatal(err)
	}
	if got := tableSums(t, openDB(t, target)); got["request_logs"] != want["request_logs"] {
		t.Errorf("restored %v, want %v", got, want)
	}
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("incorrect horse battery staple\n"), 0o600)
	wk, _ := LoadKey("", wrong)
	other, _ := New(Options{DB: path, Dir: filepath.Join(dir, "b"), Key: wk, Now: clk.Now})
	if _, err := other.Restore(context.Background(), t0, filepath.Join(dir, "x.db")); err == nil || !strings.Contains(err.Error(), "wrong does not decrypt it") {
		t.Errorf("wrong passphrase: %v", err)
	}
}
