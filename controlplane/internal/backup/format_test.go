package backup

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzReadHeader: any input is a header or an error, never a panic, and a header read back
// names a known tier.
func FuzzReadHeader(f *testing.F) {
	f.Add([]byte(`PMBK 1 {"tier":"full","time":"2026-11-22T02:00:00Z"}` + "\n"))
	f.Add([]byte(`PMBK 1 {"tier":"incremental","time":"2026-11-22T03:00:00Z","base":"20261122T020000Z-full.pmbk"}` + "\nage"))
	f.Add([]byte("PMBK 2 {}\n"))
	f.Add([]byte("SQLite format 3\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := readHeader(bufio.NewReaderSize(bytes.NewReader(data), maxHeader))
		if err != nil {
			return
		}
		if _, err := ParseTier(string(h.Tier)); err != nil {
			t.Fatalf("accepted tier %q", h.Tier)
		}
	})
}

func TestFileNames(t *testing.T) {
	at := time.Date(2026, 11, 22, 2, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		tier Tier
		want string
	}{
		{Full, "20261122T010000Z-full.pmbk"},
		{Differential, "20261122T010000Z-diff.pmbk"},
		{Incremental, "20261122T010000Z-incr.pmbk"},
	}
	for _, tc := range tests {
		if got := FileName(tc.tier, at); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.tier, got, tc.want)
		}
		if p, err := ParseTier(tc.want[17:21]); err != nil || p != tc.tier {
			t.Errorf("ParseTier(%s) = %s, %v", tc.want[17:21], p, err)
		}
	}
	// A renamed file is refused: its header says another name.
	dir := t.TempDir()
	name := writeHeaderOnly(t, dir, Header{Tier: Full, Time: at})
	os.Rename(filepath.Join(dir, name), filepath.Join(dir, "20261123T010000Z-full.pmbk"))
	if _, err := ReadHeader(filepath.Join(dir, "20261123T010000Z-full.pmbk")); err == nil {
		t.Error("renamed file accepted")
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	id := filepath.Join(dir, "id")
	if _, err := GenerateKey(id); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(id); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode())
	}
	if _, err := GenerateKey(id); err == nil {
		t.Error("keygen overwrote a key")
	}
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("hunter2\n"), 0o600)
	tests := []struct {
		id, pass string
		ok       bool
	}{
		{id, "", true},
		{"", pass, true},
		{id, pass, false},
		{"", "", false},
		{pass, "", false}, // a passphrase is not an identity
		{"", short, false},
		{filepath.Join(dir, "missing"), "", false},
	}
	for _, tc := range tests {
		k, err := LoadKey(tc.id, tc.pass)
		if (err == nil) != tc.ok {
			t.Errorf("LoadKey(%q, %q): %v", tc.id, tc.pass, err)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("correct horse")) {
			t.Errorf("error shows the secret: %v", err)
		}
		if k != nil && k.File() == "" {
			t.Error("no file")
		}
	}
}

// TestListOrder: a differential taken in the same second as its full is listed after it, so
// verify rebuilds the full first.
func TestListOrder(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	full := writeHeaderOnly(t, dir, Header{Tier: Full, Time: at})
	writeHeaderOnly(t, dir, Header{Tier: Incremental, Time: at, Base: full})
	writeHeaderOnly(t, dir, Header{Tier: Differential, Time: at, Base: full})
	writeHeaderOnly(t, dir, Header{Tier: Incremental, Time: at.Add(-time.Second), Base: full})
	list, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range list {
		got = append(got, in.Name)
	}
	want := []string{"20261122T015959Z-incr.pmbk", "20261122T020000Z-full.pmbk", "20261122T020000Z-diff.pmbk", "20261122T020000Z-incr.pmbk"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
