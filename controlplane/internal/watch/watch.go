// Package watch tells the control plane when its configuration files may
// have changed. It never reads or parses them: the caller re-reads and
// validates on every callback. A spurious callback costs one re-read, a
// missed one leaves stale configuration live, so the package errs towards
// calling.
//
// Two sources feed one debounced callback: fsnotify on the directories that
// hold the watched paths (never on the files themselves, because editors,
// sed -i and Kubernetes/Swarm config mounts replace files rather than write
// them), and a periodic fingerprint of the watched paths for filesystems
// where fsnotify is silent.
//
// Three kinds of path are watched: single files (global.yaml), directories
// whose entries count (the sites directory, one level), and trees whose every
// file counts at any depth up to TreeDepth (the certificate directory, where
// certbot's live/<name>/ symlinks point into archive/<name>/).
package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// Defaults for the zero values of Options.
const (
	DefaultDebounce = 250 * time.Millisecond
	DefaultRescan   = 5 * time.Second
)

// TreeDepth bounds how far below the root of a tree directories are
// watched: live/<name>/ and archive/<name>/ of certbot are 2 levels down.
const TreeDepth = 4

// Options says what to watch.
type Options struct {
	// Files are single files, such as global.yaml. A file may be missing
	// (it is watched for until it appears) and may be a symlink, whose
	// target is watched too.
	Files []string
	// Dirs are directories whose entries all count, such as
	// sites-available. They are not watched recursively, but symlinked
	// entries are followed. A Dir must exist when New is called; if it is
	// later deleted it is watched for until it comes back.
	Dirs []string
	// Trees are directories watched recursively, such as the certificate
	// directory: a change to any file or directory in them counts, down to
	// TreeDepth levels below the root. Subdirectories are watched as they
	// appear, and symlinked directories are followed (each directory is
	// watched once, so symlink loops end). A Tree must exist when New is
	// called; if it is later deleted it is watched for until it comes back.
	Trees []string
	// Debounce is how long events must stay quiet before the callback runs.
	// Zero means DefaultDebounce. A burst that never goes quiet is still
	// reported after 4×Debounce.
	Debounce time.Duration
	// Rescan is the interval of the fingerprint fallback, which also
	// re-adds watches that an unmounted or mounted-over directory took with
	// it (no event tells of those). Zero means DefaultRescan; a negative
	// value disables it.
	Rescan time.Duration
}

// Watcher reports changes to a fixed set of files and directories.
type Watcher struct {
	log      *zap.Logger
	files    []string // absolute
	dirs     []string // absolute
	trees    []string // absolute
	debounce time.Duration
	rescan   time.Duration
	baseline [32]byte // fingerprint at New, so changes before Run are not lost

	started atomic.Bool
	ready   chan struct{} // closed once Run has its watches in place

	noNotify bool // test hook: rely on the rescan fallback alone
}

// New checks opts and records the current state of the watched paths.
// Create the Watcher before the caller's first read of the configuration:
// a change made between New and Run is reported when Run starts.
func New(log *zap.Logger, opts Options) (*Watcher, error) {
	if len(opts.Files) == 0 && len(opts.Dirs) == 0 && len(opts.Trees) == 0 {
		return nil, errors.New("watch: no files or directories to watch")
	}
	if opts.Debounce < 0 {
		return nil, fmt.Errorf("watch: negative debounce %v", opts.Debounce)
	}
	if log == nil {
		log = zap.NewNop()
	}
	w := &Watcher{
		log:      log,
		debounce: orDefault(opts.Debounce, DefaultDebounce),
		rescan:   orDefault(opts.Rescan, DefaultRescan),
		ready:    make(chan struct{}),
	}
	for _, f := range opts.Files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, fmt.Errorf("watch: file %q: %w", f, err)
		}
		w.files = append(w.files, abs)
	}
	for _, list := range []struct {
		in  []string
		out *[]string
	}{{opts.Dirs, &w.dirs}, {opts.Trees, &w.trees}} {
		for _, d := range list.in {
			abs, err := filepath.Abs(d)
			if err != nil {
				return nil, fmt.Errorf("watch: directory %q: %w", d, err)
			}
			fi, err := os.Stat(abs)
			if err != nil {
				return nil, fmt.Errorf("watch: directory: %w", err)
			}
			if !fi.IsDir() {
				return nil, fmt.Errorf("watch: %s is not a directory", abs)
			}
			*list.out = append(*list.out, abs)
		}
	}
	w.baseline = w.fingerprint()
	return w, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Run watches until ctx is done and then returns nil, having released every
// watch and goroutine. After each debounced burst of changes it calls
// changed, from Run's goroutine, so calls never overlap; events arriving
// meanwhile are reported by the next call. Run may be called once.
func (w *Watcher) Run(ctx context.Context, changed func()) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("watch: Run called twice")
	}
	s := &session{Watcher: w, watched: map[string]os.FileInfo{}, failing: map[string]string{}}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if !w.noNotify {
		fsw, err := fsnotify.NewWatcher()
		if err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		defer fsw.Close()
		s.fsw, events, errs = fsw, fsw.Events, fsw.Errors
	}
	s.resync()

	var tick <-chan time.Time
	if w.rescan > 0 {
		t := time.NewTicker(w.rescan)
		defer t.Stop()
		tick = t.C
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	var pending bool
	var deadline time.Time // a burst is reported by then even if it goes on
	schedule := func() {
		now := time.Now()
		if !pending {
			pending, deadline = true, now.Add(4*w.debounce)
		}
		debounce.Reset(min(w.debounce, deadline.Sub(now)))
	}
	fire := func() {
		pending = false
		s.resync() // before the caller reads, so nothing after its read is missed
		s.last = w.fingerprint()
		changed()
	}

	// Whatever changed between New and now was not seen by any watch.
	if s.last = w.fingerprint(); s.last != w.baseline {
		schedule()
	}
	close(w.ready)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return errors.New("watch: fsnotify closed its event channel")
			}
			if ev.Op == fsnotify.Chmod || !s.scope.matters(ev.Name) {
				continue
			}
			w.log.Debug("config path changed", zap.String("path", ev.Name), zap.Stringer("op", ev.Op))
			if ev.Has(fsnotify.Create) && s.scope.tree[filepath.Dir(ev.Name)] && isDir(ev.Name) {
				// A new directory in a tree (a certbot lineage): watch it now
				// rather than at the callback, so that what is written in it
				// meanwhile is seen (and logged) as it happens.
				s.resync()
			}
			schedule()
		case err, ok := <-errs:
			if !ok {
				return errors.New("watch: fsnotify closed its error channel")
			}
			// An overflow means lost events: assume one of them mattered.
			w.log.Warn("watching configuration", zap.Error(err))
			schedule()
		case <-debounce.C:
			fire()
		case <-tick:
			// Also the time to re-add watches a vanished mount dropped.
			s.resync()
			if pending {
				continue // the debounced call will report it
			}
			if fp := w.fingerprint(); fp != s.last {
				w.log.Info("rescan found a configuration change that file events missed")
				fire()
			}
		}
	}
}

// session is the state of one Run.
type session struct {
	*Watcher
	fsw     *fsnotify.Watcher      // nil when noNotify
	scope   *scope                 // what the last resync decided to watch
	watched map[string]os.FileInfo // directory → its identity when added
	failing map[string]string      // directory → last error adding it, to log once
	last    [32]byte               // fingerprint at the last callback
}

// resync brings the fsnotify watches in line with the filesystem as it is
// now: symlinks may point elsewhere, directories may have been deleted,
// re-created or mounted over.
func (s *session) resync() {
	s.scope = newScope(s.files, s.dirs, s.trees)
	if s.fsw == nil {
		return
	}
	live := map[string]bool{}
	for _, p := range s.fsw.WatchList() {
		live[p] = true
	}
	for dir := range s.scope.dirs {
		// Stat before Add: if the directory is replaced in between, the
		// recorded identity is the old one and the next resync re-adds it.
		fi, err := os.Stat(dir)
		if err != nil {
			continue // gone since newScope; the parent's events will tell
		}
		if live[dir] && s.watched[dir] != nil && os.SameFile(s.watched[dir], fi) {
			continue
		}
		if live[dir] {
			_ = s.fsw.Remove(dir) // watching an inode that is no longer here
		}
		if err := s.fsw.Add(dir); err != nil {
			delete(s.watched, dir)
			if s.failing[dir] != err.Error() {
				s.failing[dir] = err.Error()
				s.log.Warn("cannot watch configuration directory; relying on rescan",
					zap.String("dir", dir), zap.Error(err))
			}
			continue
		}
		delete(s.failing, dir)
		s.watched[dir] = fi
	}
	for dir := range live {
		if !s.scope.dirs[dir] {
			_ = s.fsw.Remove(dir)
		}
	}
	for dir := range s.watched {
		if !s.scope.dirs[dir] {
			delete(s.watched, dir)
		}
	}
}
