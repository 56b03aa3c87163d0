package watch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// certbotIssue writes generation n of a certbot lineage under certs:
// archive/<name>/{cert,chain,fullchain,privkey}N.pem, then re-points
// live/<name>/*.pem at them with relative symlinks, in certbot's order.
func certbotIssue(t *testing.T, certs, name string, n int) {
	t.Helper()
	gen := strconv.Itoa(n)
	kinds := []string{"cert", "chain", "fullchain", "privkey"}
	for _, k := range kinds {
		write(t, filepath.Join(certs, "archive", name, k+gen+".pem"), k+" generation "+gen+"\n")
	}
	must(t, os.MkdirAll(filepath.Join(certs, "live", name), 0o755))
	for _, k := range kinds {
		symlinkOver(t, filepath.Join("..", "..", "archive", name, k+gen+".pem"), filepath.Join(certs, "live", name, k+".pem"))
	}
}

func TestTreeChangesAreReported(t *testing.T) {
	type paths struct{ root, certs string }
	tests := []struct {
		desc   string
		setup  func(t *testing.T, p paths) // before the watcher starts
		change func(t *testing.T, r *recorder, p paths)
	}{
		{desc: "certbot renewal", change: func(t *testing.T, _ *recorder, p paths) {
			certbotIssue(t, p.certs, "example.org", 2)
		}},
		{desc: "live symlinks swapped to files that already existed", setup: func(t *testing.T, p paths) {
			for _, k := range []string{"fullchain", "privkey"} {
				write(t, filepath.Join(p.certs, "archive", "example.org", k+"2.pem"), k+" generation 2\n")
			}
		}, change: func(t *testing.T, _ *recorder, p paths) {
			symlinkOver(t, "../../archive/example.org/fullchain2.pem", filepath.Join(p.certs, "live", "example.org", "fullchain.pem"))
			symlinkOver(t, "../../archive/example.org/privkey2.pem", filepath.Join(p.certs, "live", "example.org", "privkey.pem"))
		}},
		{desc: "archive file rewritten in place", change: func(t *testing.T, _ *recorder, p paths) {
			write(t, filepath.Join(p.certs, "archive", "example.org", "fullchain1.pem"), "edited\n")
		}},
		{desc: "flat pair created", change: func(t *testing.T, _ *recorder, p paths) {
			write(t, filepath.Join(p.certs, "shop.example.org.crt"), "crt\n")
			write(t, filepath.Join(p.certs, "shop.example.org.key"), "key\n")
		}},
		{desc: "flat pair renamed over", setup: func(t *testing.T, p paths) {
			write(t, filepath.Join(p.certs, "shop.crt"), "crt\n")
		}, change: func(t *testing.T, _ *recorder, p paths) {
			renameOver(t, filepath.Join(p.certs, "shop.crt"), "crt 2\n")
		}},
		{desc: "flat pair deleted", setup: func(t *testing.T, p paths) {
			write(t, filepath.Join(p.certs, "shop.crt"), "crt\n")
		}, change: func(t *testing.T, _ *recorder, p paths) {
			must(t, os.Remove(filepath.Join(p.certs, "shop.crt")))
		}},
		{desc: "new lineage, then its renewal", change: func(t *testing.T, r *recorder, p paths) {
			certbotIssue(t, p.certs, "new.example.org", 1)
			waitCalls(t, r, 1)
			n := quiet(r)
			// Only watches on the new archive/ and live/ directories see these.
			write(t, filepath.Join(p.certs, "archive", "new.example.org", "fullchain2.pem"), "renewed\n")
			waitCalls(t, r, n+1)
			n = quiet(r)
			symlinkOver(t, "../../archive/new.example.org/fullchain2.pem", filepath.Join(p.certs, "live", "new.example.org", "fullchain.pem"))
			waitCalls(t, r, n+1)
		}},
		{desc: "lineage directory copied in with mkdir -p, then edited", change: func(t *testing.T, r *recorder, p paths) {
			must(t, os.MkdirAll(filepath.Join(p.certs, "a", "b", "c"), 0o755))
			waitCalls(t, r, 1)
			n := quiet(r)
			write(t, filepath.Join(p.certs, "a", "b", "c", "fullchain.pem"), "x\n")
			waitCalls(t, r, n+1)
		}},
		{desc: "lineage directory moved in, then edited", change: func(t *testing.T, r *recorder, p paths) {
			write(t, filepath.Join(p.root, "staging", "b.example.org", "fullchain.pem"), "x\n")
			must(t, os.Rename(filepath.Join(p.root, "staging", "b.example.org"), filepath.Join(p.certs, "b.example.org")))
			waitCalls(t, r, 1)
			n := quiet(r)
			write(t, filepath.Join(p.certs, "b.example.org", "privkey.pem"), "k\n")
			waitCalls(t, r, n+1)
		}},
		{desc: "symlinked directory outside the tree, target edited", setup: func(t *testing.T, p paths) {
			write(t, filepath.Join(p.root, "letsencrypt", "live", "c.example.org", "fullchain.pem"), "x\n")
			must(t, os.Symlink(filepath.Join(p.root, "letsencrypt", "live", "c.example.org"), filepath.Join(p.certs, "c.example.org")))
		}, change: func(t *testing.T, _ *recorder, p paths) {
			write(t, filepath.Join(p.root, "letsencrypt", "live", "c.example.org", "fullchain.pem"), "y\n")
		}},
		{desc: "symlinked file outside the tree, target renamed over", setup: func(t *testing.T, p paths) {
			write(t, filepath.Join(p.root, "elsewhere", "d.pem"), "x\n")
			must(t, os.Symlink("../elsewhere/d.pem", filepath.Join(p.certs, "d.pem")))
		}, change: func(t *testing.T, _ *recorder, p paths) {
			renameOver(t, filepath.Join(p.root, "elsewhere", "d.pem"), "y\n")
		}},
		{desc: "lineage deleted", change: func(t *testing.T, _ *recorder, p paths) {
			must(t, os.RemoveAll(filepath.Join(p.certs, "live", "example.org")))
		}},
		{desc: "tree deleted, re-created, then written", change: func(t *testing.T, r *recorder, p paths) {
			must(t, os.RemoveAll(p.certs))
			waitCalls(t, r, 1)
			n := quiet(r)
			certbotIssue(t, p.certs, "example.org", 1)
			waitCalls(t, r, n+1)
			n = quiet(r)
			write(t, filepath.Join(p.certs, "archive", "example.org", "fullchain1.pem"), "edited\n")
			waitCalls(t, r, n+1)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			root := t.TempDir()
			p := paths{root: root, certs: filepath.Join(root, "certs")}
			certbotIssue(t, p.certs, "example.org", 1)
			if tc.setup != nil {
				tc.setup(t, p)
			}
			r := start(t, Options{Trees: []string{p.certs}}, nil)
			tc.change(t, r, p)
			waitCalls(t, r, 1)
		})
	}
}

// A renewal must be reported within 2 s with the production debounce, by
// fsnotify alone.
func TestCertbotRenewalWithinTwoSeconds(t *testing.T) {
	certs := filepath.Join(t.TempDir(), "certs")
	certbotIssue(t, certs, "example.org", 1)
	r := start(t, Options{Trees: []string{certs}, Debounce: DefaultDebounce}, nil)
	began := time.Now()
	certbotIssue(t, certs, "example.org", 2)
	waitCalls(t, r, 1)
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("renewal reported after %v", d)
	}
	if n := quiet(r); n > 2 {
		t.Fatalf("one renewal gave %d callbacks, want 1 or 2", n)
	}
}

func TestTreeIgnoresOutside(t *testing.T) {
	root := t.TempDir()
	certs := filepath.Join(root, "certs")
	certbotIssue(t, certs, "example.org", 1)
	r := start(t, Options{Trees: []string{certs}}, nil)
	write(t, filepath.Join(root, "neighbour", "x.pem"), "x")
	write(t, filepath.Join(root, "neighbour.txt"), "x")
	must(t, os.Chmod(filepath.Join(certs, "archive", "example.org", "privkey1.pem"), 0o600))
	if n := quiet(r); n != 0 {
		t.Fatalf("got %d callbacks for changes outside the tree and a chmod, want 0", n)
	}
}

func TestTreeDepthIsBounded(t *testing.T) {
	certs := t.TempDir()
	deep := certs
	for i := range TreeDepth + 1 {
		deep = filepath.Join(deep, "d"+strconv.Itoa(i))
	}
	write(t, filepath.Join(deep, "x.pem"), "x") // TreeDepth+1 levels down: not watched
	// A symlink loop must not make the walk or the fingerprint run for ever.
	must(t, os.Symlink("..", filepath.Join(certs, "d0", "up")))
	r := start(t, Options{Trees: []string{certs}, Rescan: 20 * time.Millisecond}, nil)

	write(t, filepath.Join(deep, "x.pem"), "changed")
	if n := quiet(r); n != 0 {
		t.Fatalf("got %d callbacks for a file below TreeDepth, want 0", n)
	}
	write(t, filepath.Join(filepath.Dir(deep), "y.pem"), "y") // TreeDepth levels down: watched
	waitCalls(t, r, 1)
}

func TestTreeRescanAloneSeesChanges(t *testing.T) {
	tests := []struct {
		desc   string
		setup  func(t *testing.T, certs string)
		change func(t *testing.T, certs string)
	}{
		{desc: "renewal", change: func(t *testing.T, certs string) {
			certbotIssue(t, certs, "example.org", 2)
		}},
		{desc: "new lineage", change: func(t *testing.T, certs string) {
			certbotIssue(t, certs, "new.example.org", 1)
		}},
		{desc: "file deep in the tree written", change: func(t *testing.T, certs string) {
			write(t, filepath.Join(certs, "archive", "example.org", "fullchain1.pem"), "a longer edit\n")
		}},
		{desc: "live symlink re-pointed to a file of the same size and mtime", setup: func(t *testing.T, certs string) {
			a := filepath.Join(certs, "archive", "example.org")
			write(t, filepath.Join(a, "fullchain2.pem"), "fullchain generation 1\n") // same size as generation 1
			mtime := time.Now().Add(-time.Hour)
			must(t, os.Chtimes(filepath.Join(a, "fullchain1.pem"), mtime, mtime))
			must(t, os.Chtimes(filepath.Join(a, "fullchain2.pem"), mtime, mtime))
		}, change: func(t *testing.T, certs string) {
			symlinkOver(t, "../../archive/example.org/fullchain2.pem", filepath.Join(certs, "live", "example.org", "fullchain.pem"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			certs := filepath.Join(t.TempDir(), "certs")
			certbotIssue(t, certs, "example.org", 1)
			if tc.setup != nil {
				tc.setup(t, certs)
			}
			r := start(t, Options{Trees: []string{certs}, Rescan: 20 * time.Millisecond},
				func(w *Watcher) { w.noNotify = true })
			tc.change(t, certs)
			waitCalls(t, r, 1)
		})
	}
}

func TestNewChecksTrees(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "file"), "")
	for _, tc := range []struct {
		desc string
		tree string
		want string
	}{
		{desc: "missing tree", tree: filepath.Join(dir, "absent"), want: "no such file"},
		{desc: "tree that is a file", tree: filepath.Join(dir, "file"), want: "is not a directory"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := New(nil, Options{Trees: []string{tc.tree}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := New(nil, Options{Trees: []string{dir}}); err != nil {
		t.Fatalf("New with a tree alone: %v", err)
	}
}
