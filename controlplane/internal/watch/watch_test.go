package watch

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testDebounce = 50 * time.Millisecond
	within       = 2 * time.Second // an expected callback arrives by then
	settle       = time.Second     // > 4×testDebounce: no callback after this means none is coming
)

// recorder counts callbacks and notices overlapping ones.
type recorder struct {
	calls   atomic.Int64
	inside  atomic.Int32
	overlap atomic.Bool
	hold    time.Duration // how long each callback takes
}

func (r *recorder) changed() {
	if r.inside.Add(1) > 1 {
		r.overlap.Store(true)
	}
	time.Sleep(r.hold)
	r.inside.Add(-1)
	r.calls.Add(1)
}

// start runs a Watcher until the test ends and returns once its watches are
// in place, so later changes are seen by events (or the rescan), not by the
// start-up comparison.
func start(t *testing.T, opts Options, tweak func(*Watcher)) *recorder {
	t.Helper()
	if opts.Debounce == 0 {
		opts.Debounce = testDebounce
	}
	if opts.Rescan == 0 {
		opts.Rescan = -1 // prove the event path alone unless a test asks
	}
	w, err := New(zaptest.NewLogger(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(w)
	}
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, r.changed) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if r.overlap.Load() {
			t.Error("callback ran concurrently with itself")
		}
	})
	<-w.ready
	return r
}

// waitCalls polls until at least n callbacks have happened.
func waitCalls(t *testing.T, r *recorder, n int64) {
	t.Helper()
	deadline := time.Now().Add(within)
	for r.calls.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d callbacks within %v, want %d", r.calls.Load(), within, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// quiet waits until no callback has happened for settle and returns the count.
func quiet(r *recorder) int64 {
	n := r.calls.Load()
	for {
		time.Sleep(settle)
		m := r.calls.Load()
		if m == n {
			return n
		}
		n = m
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// renameOver writes path the way vim's writebackup, sed -i and atomicfile
// writers do: a temporary file in the same directory renamed over it.
func renameOver(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	write(t, tmp, data)
	must(t, os.Rename(tmp, path))
}

// symlinkOver atomically re-points link at target, as the Kubernetes
// AtomicWriter does with ..data.
func symlinkOver(t *testing.T, target, link string) {
	t.Helper()
	tmp := link + "_tmp"
	must(t, os.Symlink(target, tmp))
	must(t, os.Rename(tmp, link))
}

// configMap lays dir out like a mounted ConfigMap: name -> ..data/name,
// ..data -> a timestamped directory holding the files.
func configMap(t *testing.T, dir, stamp string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		write(t, filepath.Join(dir, stamp, name), data)
		if _, err := os.Lstat(filepath.Join(dir, name)); os.IsNotExist(err) {
			must(t, os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)))
		}
	}
	symlinkOver(t, stamp, filepath.Join(dir, "..data"))
}

// swapConfigMap publishes a new generation as the kubelet does and removes the old one.
func swapConfigMap(t *testing.T, dir, old, stamp string, files map[string]string) {
	t.Helper()
	configMap(t, dir, stamp, files)
	must(t, os.RemoveAll(filepath.Join(dir, old)))
}

func TestChangesAreReported(t *testing.T) {
	type paths struct{ root, global, sites string }
	tests := []struct {
		desc   string
		setup  func(t *testing.T, p paths) // before the watcher starts
		change func(t *testing.T, p paths)
	}{
		{desc: "site created", change: func(t *testing.T, p paths) {
			write(t, filepath.Join(p.sites, "new.yaml"), "host: a\n")
		}},
		{desc: "site written in place", change: func(t *testing.T, p paths) {
			f, err := os.OpenFile(filepath.Join(p.sites, "a.yaml"), os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			_, err = f.WriteString("backend: b\n")
			must(t, err)
			must(t, f.Close())
		}},
		{desc: "site truncated then written", change: func(t *testing.T, p paths) {
			must(t, os.Truncate(filepath.Join(p.sites, "a.yaml"), 0))
			write(t, filepath.Join(p.sites, "a.yaml"), "host: c\n")
		}},
		{desc: "site renamed over", change: func(t *testing.T, p paths) {
			renameOver(t, filepath.Join(p.sites, "a.yaml"), "host: d\n")
		}},
		{desc: "site deleted", change: func(t *testing.T, p paths) {
			must(t, os.Remove(filepath.Join(p.sites, "a.yaml")))
		}},
		{desc: "vim with backup: rename away, write new, delete backup", change: func(t *testing.T, p paths) {
			a := filepath.Join(p.sites, "a.yaml")
			must(t, os.Rename(a, a+"~"))
			write(t, a, "host: e\n")
			must(t, os.Remove(a+"~"))
		}},
		{desc: "sed -i on a site", change: func(t *testing.T, p paths) {
			sed, err := exec.LookPath("sed")
			if err != nil {
				t.Fatalf("sed is part of every Debian system: %v", err)
			}
			out, err := exec.Command(sed, "-i", "s/a/z/", filepath.Join(p.sites, "a.yaml")).CombinedOutput()
			if err != nil {
				t.Fatalf("sed: %v: %s", err, out)
			}
		}},
		{desc: "global created after start", change: func(t *testing.T, p paths) {
			write(t, p.global, "listen: :80\n")
		}},
		{desc: "global renamed over", setup: func(t *testing.T, p paths) {
			write(t, p.global, "listen: :80\n")
		}, change: func(t *testing.T, p paths) {
			renameOver(t, p.global, "listen: :81\n")
		}},
		{desc: "global deleted", setup: func(t *testing.T, p paths) {
			write(t, p.global, "listen: :80\n")
		}, change: func(t *testing.T, p paths) {
			must(t, os.Remove(p.global))
		}},
		{desc: "global's directory created after start", setup: func(t *testing.T, p paths) {
			must(t, os.Remove(filepath.Dir(p.global)))
		}, change: func(t *testing.T, p paths) {
			write(t, p.global, "listen: :80\n")
		}},
		{desc: "global symlink re-pointed", setup: func(t *testing.T, p paths) {
			write(t, filepath.Join(p.root, "v1", "global.yaml"), "listen: :80\n")
			write(t, filepath.Join(p.root, "v2", "global.yaml"), "listen: :81\n")
			must(t, os.Symlink(filepath.Join(p.root, "v1", "global.yaml"), p.global))
		}, change: func(t *testing.T, p paths) {
			symlinkOver(t, filepath.Join(p.root, "v2", "global.yaml"), p.global)
		}},
		{desc: "global symlink target edited in another directory", setup: func(t *testing.T, p paths) {
			write(t, filepath.Join(p.root, "elsewhere", "global.yaml"), "listen: :80\n")
			must(t, os.Symlink("../elsewhere/global.yaml", p.global))
		}, change: func(t *testing.T, p paths) {
			renameOver(t, filepath.Join(p.root, "elsewhere", "global.yaml"), "listen: :81\n")
		}},
		{desc: "global from a ConfigMap: ..data swapped", setup: func(t *testing.T, p paths) {
			configMap(t, filepath.Dir(p.global), "..2026_11_22_02_00_00.1", map[string]string{"global.yaml": "listen: :80\n"})
		}, change: func(t *testing.T, p paths) {
			swapConfigMap(t, filepath.Dir(p.global), "..2026_11_22_02_00_00.1", "..2026_11_22_02_05_00.2",
				map[string]string{"global.yaml": "listen: :81\n"})
		}},
		{desc: "sites from a ConfigMap: ..data swapped", setup: func(t *testing.T, p paths) {
			must(t, os.Remove(filepath.Join(p.sites, "a.yaml")))
			configMap(t, p.sites, "..2026_11_22_02_00_00.1", map[string]string{"a.yaml": "host: a\n", "b.yaml": "host: b\n"})
		}, change: func(t *testing.T, p paths) {
			swapConfigMap(t, p.sites, "..2026_11_22_02_00_00.1", "..2026_11_22_02_05_00.2",
				map[string]string{"a.yaml": "host: a2\n", "b.yaml": "host: b\n"})
		}},
		{desc: "site symlinked nginx-style, target edited", setup: func(t *testing.T, p paths) {
			write(t, filepath.Join(p.root, "library", "shop.yaml"), "host: shop\n")
			must(t, os.Symlink("../library/shop.yaml", filepath.Join(p.sites, "shop.yaml")))
		}, change: func(t *testing.T, p paths) {
			write(t, filepath.Join(p.root, "library", "shop.yaml"), "host: shop2\n")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			root := t.TempDir()
			p := paths{root: root, global: filepath.Join(root, "etc", "global.yaml"), sites: filepath.Join(root, "sites")}
			write(t, filepath.Join(p.sites, "a.yaml"), "host: a\n")
			must(t, os.MkdirAll(filepath.Dir(p.global), 0o755))
			if tc.setup != nil {
				tc.setup(t, p)
			}
			r := start(t, Options{Files: []string{p.global}, Dirs: []string{p.sites}}, nil)
			tc.change(t, p)
			waitCalls(t, r, 1)
		})
	}
}

func TestIgnoredChanges(t *testing.T) {
	root := t.TempDir()
	global := filepath.Join(root, "global.yaml")
	write(t, global, "listen: :80\n")
	sites := filepath.Join(root, "sites")
	must(t, os.Mkdir(sites, 0o755))
	r := start(t, Options{Files: []string{global}, Dirs: []string{sites}}, nil)

	must(t, os.Chmod(global, 0o600))
	write(t, filepath.Join(root, "unrelated.txt"), "x")
	if n := quiet(r); n != 0 {
		t.Fatalf("got %d callbacks for a chmod and a neighbouring file, want 0", n)
	}
}

func TestBurstIsDebounced(t *testing.T) {
	sites := t.TempDir()
	r := start(t, Options{Dirs: []string{sites}}, nil)
	for i := range 20 {
		write(t, filepath.Join(sites, "a.yaml"), "host: a\n# "+string(rune('a'+i))+"\n")
	}
	waitCalls(t, r, 1)
	if n := quiet(r); n > 2 {
		t.Fatalf("20 writes gave %d callbacks, want 1 or 2", n)
	}
}

func TestEndlessBurstIsStillReported(t *testing.T) {
	sites := t.TempDir()
	r := start(t, Options{Dirs: []string{sites}}, nil)
	// Writes closer together than the debounce would postpone a purely
	// trailing debounce for ever.
	deadline := time.Now().Add(within)
	for r.calls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no callback within %v of continuous writes", within)
		}
		write(t, filepath.Join(sites, "a.yaml"), time.Now().String())
		time.Sleep(testDebounce / 5)
	}
}

func TestRescanAloneSeesChanges(t *testing.T) {
	tests := []struct {
		desc   string
		setup  func(t *testing.T, global string)
		change func(t *testing.T, global, sites string)
	}{
		{desc: "site written", change: func(t *testing.T, _, sites string) {
			write(t, filepath.Join(sites, "a.yaml"), "host: changed\n")
		}},
		{desc: "site created", change: func(t *testing.T, _, sites string) {
			write(t, filepath.Join(sites, "b.yaml"), "host: b\n")
		}},
		{desc: "site deleted", change: func(t *testing.T, _, sites string) {
			must(t, os.Remove(filepath.Join(sites, "a.yaml")))
		}},
		{desc: "global created", change: func(t *testing.T, global, _ string) {
			write(t, global, "listen: :80\n")
		}},
		{desc: "ConfigMap ..data swapped", change: func(t *testing.T, _, sites string) {
			swapConfigMap(t, sites, "..1", "..2", map[string]string{"cm.yaml": "host: x\n"})
		}},
		{desc: "global symlink re-pointed to a file of the same size and mtime", setup: func(t *testing.T, global string) {
			// Only the resolved target tells these apart.
			v1, v2 := filepath.Join(filepath.Dir(global), "v1.yaml"), filepath.Join(filepath.Dir(global), "v2.yaml")
			write(t, v1, "listen: :80\n")
			write(t, v2, "listen: :81\n")
			mtime := time.Now().Add(-time.Hour)
			must(t, os.Chtimes(v1, mtime, mtime))
			must(t, os.Chtimes(v2, mtime, mtime))
			must(t, os.Symlink("v1.yaml", global))
		}, change: func(t *testing.T, global, _ string) {
			symlinkOver(t, "v2.yaml", global)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			root := t.TempDir()
			global := filepath.Join(root, "global.yaml")
			sites := filepath.Join(root, "sites")
			write(t, filepath.Join(sites, "a.yaml"), "host: a\n")
			configMap(t, sites, "..1", map[string]string{"cm.yaml": "host: y\n"})
			if tc.setup != nil {
				tc.setup(t, global)
			}
			r := start(t, Options{Files: []string{global}, Dirs: []string{sites}, Rescan: 20 * time.Millisecond},
				func(w *Watcher) { w.noNotify = true })
			tc.change(t, global, sites)
			waitCalls(t, r, 1)
		})
	}
}

func TestReplacedDirectoryIsWatchedAgain(t *testing.T) {
	// sites is root/etc/sites; each replace leaves a new directory there.
	tests := []struct {
		desc    string
		replace func(t *testing.T, r *recorder, root, sites string)
	}{
		{desc: "deleted, then re-created", replace: func(t *testing.T, r *recorder, _, sites string) {
			must(t, os.RemoveAll(sites))
			waitCalls(t, r, 1)
			n := quiet(r)
			must(t, os.Mkdir(sites, 0o755))
			waitCalls(t, r, n+1)
		}},
		{desc: "parent deleted, then re-created", replace: func(t *testing.T, r *recorder, root, sites string) {
			must(t, os.RemoveAll(filepath.Join(root, "etc")))
			waitCalls(t, r, 1)
			n := quiet(r)
			must(t, os.MkdirAll(sites, 0o755))
			waitCalls(t, r, n+1)
		}},
		{desc: "deleted and re-created within one burst", replace: func(t *testing.T, r *recorder, _, sites string) {
			must(t, os.RemoveAll(sites))
			must(t, os.Mkdir(sites, 0o755))
			waitCalls(t, r, 1)
		}},
		{desc: "swapped by rename", replace: func(t *testing.T, r *recorder, _, sites string) {
			write(t, filepath.Join(sites+".new", "a.yaml"), "host: a2\n")
			must(t, os.Rename(sites, sites+".old"))
			must(t, os.Rename(sites+".new", sites))
			waitCalls(t, r, 1)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			root := t.TempDir()
			sites := filepath.Join(root, "etc", "sites")
			write(t, filepath.Join(sites, "a.yaml"), "host: a\n")
			r := start(t, Options{Dirs: []string{sites}}, nil)
			tc.replace(t, r, root, sites)
			n := quiet(r)
			// Only a watch on the new directory sees this.
			write(t, filepath.Join(sites, "b.yaml"), "host: b\n")
			waitCalls(t, r, n+1)
		})
	}
}

func TestChangeBeforeRunIsReported(t *testing.T) {
	sites := t.TempDir()
	w, err := New(zaptest.NewLogger(t), Options{Dirs: []string{sites}, Debounce: testDebounce, Rescan: -1})
	must(t, err)
	write(t, filepath.Join(sites, "a.yaml"), "host: a\n") // the caller's first read may have missed this
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, r.changed) }()
	waitCalls(t, r, 1)
	cancel()
	must(t, <-done)
}

func TestCancelReturnsPromptly(t *testing.T) {
	w, err := New(zaptest.NewLogger(t), Options{Dirs: []string{t.TempDir()}})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func() {}) }()
	<-w.ready
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after cancel, want nil", err)
		}
	case <-time.After(within):
		t.Fatal("Run did not return after cancel")
	}
	if err := w.Run(context.Background(), func() {}); err == nil {
		t.Fatal("second Run succeeded, want an error")
	}
}

func TestCallbackNeverOverlaps(t *testing.T) {
	sites := t.TempDir()
	w, err := New(zaptest.NewLogger(t), Options{Dirs: []string{sites}, Debounce: 5 * time.Millisecond, Rescan: 5 * time.Millisecond})
	must(t, err)
	r := &recorder{hold: 30 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, r.changed) }()
	<-w.ready
	// Events and rescans keep arriving while callbacks are running.
	for i := range 30 {
		write(t, filepath.Join(sites, "a.yaml"), string(make([]byte, i)))
		time.Sleep(10 * time.Millisecond)
	}
	waitCalls(t, r, 2)
	cancel()
	must(t, <-done)
	if r.overlap.Load() {
		t.Fatal("callback ran concurrently with itself")
	}
}

func TestNewChecksOptions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	write(t, file, "")
	tests := []struct {
		desc    string
		opts    Options
		wantErr bool
	}{
		{desc: "missing file is fine", opts: Options{Files: []string{filepath.Join(dir, "absent.yaml")}}},
		{desc: "existing dir", opts: Options{Dirs: []string{dir}}},
		{desc: "missing dir", opts: Options{Dirs: []string{filepath.Join(dir, "absent")}}, wantErr: true},
		{desc: "dir that is a file", opts: Options{Dirs: []string{file}}, wantErr: true},
		{desc: "nothing to watch", opts: Options{}, wantErr: true},
		{desc: "negative debounce", opts: Options{Dirs: []string{dir}, Debounce: -time.Second}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := New(zaptest.NewLogger(t), tc.opts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New: err = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
