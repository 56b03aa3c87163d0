// Package backup takes, checks and restores the three-tier encrypted backups of the control
// plane's SQLite database.
//
// Invariants:
//   - Every backup is a page-level image of one consistent snapshot (the online backup API):
//     a full stores every page, a differential the pages that differ from the last full, an
//     incremental those that differ from the previous backup of any tier. Each names its base,
//     so a backup is restored by following base names down to a full.
//   - Each file records the SHA-256 of the whole database it reconstructs; a restore checks it
//     at every step of the chain and runs PRAGMA integrity_check before replacing anything.
//   - Files are written atomically, encrypted and authenticated with age; the plaintext header
//     (tier, time, base) must agree with the authenticated manifest.
//   - One writer at a time: an flock on <dir>/.lock (the server's job and the CLI).
package backup

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Keep is how many backups of each tier retention keeps.
type Keep struct{ Full, Differential, Incremental int }

func (k Keep) of(t Tier) int {
	switch t {
	case Full:
		return k.Full
	case Differential:
		return k.Differential
	}
	return k.Incremental
}

// Options configure an Engine.
type Options struct {
	DB   string // the database file
	Dir  string // the backup directory
	Key  *Key
	Keep Keep             // zero: nothing is removed
	Now  func() time.Time // default time.Now
	Log  *zap.Logger      // default: no logging
}

// Engine takes, lists, verifies and restores backups of one database in one directory.
type Engine struct{ o Options }

// New checks the options and returns an engine.
func New(o Options) (*Engine, error) {
	if o.DB == "" || o.Dir == "" || o.Key == nil {
		return nil, errors.New("backup: database, directory and key are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return &Engine{o: o}, nil
}

// Info is a backup file as listed from its plaintext header.
type Info struct {
	Name string `json:"name"`
	Header
	Size int64  `json:"size"`
	Err  string `json:"error,omitempty"` // unreadable header: the file is listed, never used
}

// List returns the backups of the directory, oldest first.
func (e *Engine) List() ([]Info, error) { return List(e.o.Dir) }

// List returns the backups in dir, oldest first, from their plaintext headers: no key needed.
func List(dir string) ([]Info, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var out []Info
	for _, d := range ents {
		if d.IsDir() || !strings.HasSuffix(d.Name(), ext) || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		in := Info{Name: d.Name()}
		if fi, err := d.Info(); err == nil {
			in.Size = fi.Size()
		}
		h, err := ReadHeader(filepath.Join(dir, d.Name()))
		if err != nil {
			in.Err = err.Error()
		}
		in.Header = h
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b Info) int { return compareNames(a.Name, b.Name) })
	return out, nil
}

// compareNames orders backup file names by time, then full before differential before
// incremental: a differential taken in the same second as its full comes after it.
func compareNames(a, b string) int {
	ta, sa, _ := strings.Cut(a, "-")
	tb, sb, _ := strings.Cut(b, "-")
	if c := strings.Compare(ta, tb); c != 0 {
		return c
	}
	rank := func(s string) int {
		for i, t := range Tiers {
			if s == t.short()+ext {
				return i
			}
		}
		return len(Tiers)
	}
	if c := rank(sa) - rank(sb); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// byName indexes the readable backups.
func byName(list []Info) map[string]Info {
	m := make(map[string]Info, len(list))
	for _, in := range list {
		if in.Err == "" {
			m[in.Name] = in
		}
	}
	return m
}

// chain returns the files to apply for the backup name, full first, or an error naming the
// missing link.
func chain(idx map[string]Info, name string) ([]Info, error) {
	var out []Info
	for cur := name; cur != ""; {
		in, ok := idx[cur]
		if !ok {
			if cur == name {
				return nil, fmt.Errorf("backup %s not found or unreadable", name)
			}
			return nil, fmt.Errorf("backup %s needs %s, which is missing or unreadable", name, cur)
		}
		if len(out) > 1000000 || slices.ContainsFunc(out, func(o Info) bool { return o.Name == cur }) {
			return nil, fmt.Errorf("backup %s: its chain loops at %s", name, cur)
		}
		out = append(out, in)
		cur = in.Base
	}
	slices.Reverse(out)
	return out, nil
}

// rebuild decrypts and applies a chain, checking every step; it returns the database image
// and the manifests.
func (e *Engine) rebuild(ch []Info) ([]byte, []*manifest, error) {
	var img []byte
	var ms []*manifest
	for i, in := range ch {
		m, pages, err := readFile(filepath.Join(e.o.Dir, in.Name), e.o.Key)
		if err != nil {
			return nil, nil, err
		}
		if i > 0 && m.Base != ch[i-1].Name {
			return nil, nil, fmt.Errorf("%s: base %s, not %s", in.Name, m.Base, ch[i-1].Name)
		}
		if img, err = apply(img, m, pages); err != nil {
			return nil, nil, err
		}
		ms = append(ms, m)
	}
	return img, ms, nil
}

// Result is the outcome of one backup run.
type Result struct {
	Requested Tier          `json:"requested"`
	Tier      Tier          `json:"tier"` // differs when no usable full made a full instead
	Name      string        `json:"name,omitempty"`
	Size      int64         `json:"size"`
	Pages     int           `json:"pages"`          // pages stored
	DBBytes   int64         `json:"database_bytes"` // size of the database backed up
	Skipped   bool          `json:"skipped"`
	Note      string        `json:"note,omitempty"`
	Duration  time.Duration `json:"duration"`
	Removed   []string      `json:"removed,omitempty"` // by retention
}

// Run takes a backup of tier t now, then applies retention. An incremental with no changed
// page is skipped (Result.Skipped). A differential or incremental with no full to build on
// makes a full instead (Result.Note says so).
func (e *Engine) Run(ctx context.Context, t Tier) (Result, error) {
	start := e.o.Now()
	res := Result{Requested: t, Tier: t}
	if err := os.MkdirAll(e.o.Dir, 0o700); err != nil {
		return res, fmt.Errorf("backup dir: %w", err)
	}
	lk, err := lockWait(ctx, filepath.Join(e.o.Dir, ".lock"))
	if err != nil {
		return res, err
	}
	defer lk.Unlock()

	list, err := e.List()
	if err != nil {
		return res, err
	}
	img, err := snapshot(ctx, e.o.DB, filepath.Dir(e.o.DB))
	if err != nil {
		return res, err
	}
	size, _ := pageSize(img)
	cur := pageHashes(img, size)
	res.DBBytes = int64(len(img))
	at := start
	if t != Full && newest(list, Full) == nil {
		res.Tier, res.Note = Full, fmt.Sprintf("no full backup in %s to build the %s backup on: took a full backup instead", e.o.Dir, t)
		e.o.Log.Warn("no full backup: taking a full instead", zap.String("requested", string(t)), zap.String("dir", e.o.Dir))
	}
	m := &manifest{Header: Header{Tier: res.Tier, Time: at.UTC().Truncate(time.Second)}, PageSize: size, PageCount: len(cur)}
	m.Name = FileName(m.Tier, m.Time)
	var st *state
	if res.Tier != Full {
		if st, err = e.state(list); err != nil {
			return res, err
		}
		base := st.Full
		if res.Tier == Incremental {
			base = st.Prev
		}
		m.Base = base.Name
		if base.PageSize == size {
			m.Pages = changedPages(cur, base.Hashes)
		} else {
			m.Pages = changedPages(cur, nil)
		}
		if res.Tier == Incremental && len(m.Pages) == 0 && len(cur) == len(base.Hashes) {
			res.Skipped, res.Duration = true, e.o.Now().Sub(start)
			return res, nil
		}
	} else {
		m.Pages = changedPages(cur, nil)
	}
	ps := make([]byte, 0, len(m.Pages)*size)
	for _, p := range m.Pages {
		ps = append(ps, img[int(p)*size:(int(p)+1)*size]...)
	}
	m.PagesSHA256 = fmt.Sprintf("%x", sha256.Sum256(ps))
	m.ImageSHA256 = fmt.Sprintf("%x", sha256.Sum256(img))
	if res.Size, err = writeFile(e.o.Dir, e.o.Key, m, img); err != nil {
		return res, err
	}
	res.Name, res.Pages = m.Name, len(m.Pages)
	snap := pageState{Name: m.Name, PageSize: size, Hashes: cur}
	if res.Tier == Full {
		st = &state{Dir: e.o.Dir, Full: snap}
	}
	st.Prev = snap
	if err := e.saveState(st); err != nil {
		e.o.Log.Warn("page cache not saved; it is rebuilt from the backups next time", zap.Error(err))
	}
	if res.Removed, err = e.Prune(); err != nil {
		return res, fmt.Errorf("backup %s written; retention: %w", m.Name, err)
	}
	res.Duration = e.o.Now().Sub(start)
	return res, nil
}

// newest is the newest readable backup of tier t (any tier when t is ""), or nil.
func newest(list []Info, t Tier) *Info {
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Err == "" && (t == "" || list[i].Tier == t) {
			return &list[i]
		}
	}
	return nil
}
