package watch

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// maxHops bounds symlink chains, as the kernel does (ELOOP).
const maxHops = 40

// scope is what one resync decided: which directories fsnotify watches and
// which event paths concern the caller. It is rebuilt on every resync
// because symlinks are re-pointed and directories come and go.
//
// All watched directories are canonical (symlinks resolved), so one inode
// is never watched under two names, and fsnotify names events after them.
type scope struct {
	dirs    map[string]bool   // canonical directories to watch
	names   map[string]bool   // paths, lexical and canonical, whose events count
	parents map[string]bool   // directories in which every entry counts (Options.Dirs and Trees)
	tree    map[string]bool   // the canonical directories of Options.Trees, whose new subdirectories are watched at once
	canon   map[string]string // memo of canonical
}

func newScope(files, dirs, trees []string) *scope {
	s := &scope{dirs: map[string]bool{}, names: map[string]bool{}, parents: map[string]bool{},
		tree: map[string]bool{}, canon: map[string]string{}}
	for _, f := range files {
		for _, hop := range s.linkChain(f) {
			s.track(hop)
		}
	}
	for _, d := range dirs {
		s.track(d)
		if c := s.canonical(d); isDir(c) {
			s.dirs[c] = true
			s.parents[c] = true
		}
		entries, _ := os.ReadDir(d) // a missing Dir is tracked above until it returns
		for _, e := range entries {
			if e.Type()&os.ModeSymlink != 0 {
				// nginx habit: sites-enabled/x -> ../sites-available/x is
				// edited where it points, outside this directory.
				for _, hop := range s.linkChain(filepath.Join(d, e.Name()))[1:] {
					s.track(hop)
				}
			}
		}
	}
	for _, t := range trees {
		s.track(t)
		s.walkTree(t, 0)
	}
	return s
}

// walkTree watches d and its subdirectories down to TreeDepth levels below
// a tree's root, following symlinked directories but watching each
// directory once, and tracks where symlinked entries lead.
func (s *scope) walkTree(d string, depth int) {
	c := s.canonical(d)
	if s.tree[c] || !isDir(c) {
		return
	}
	s.dirs[c], s.parents[c], s.tree[c] = true, true, true
	entries, _ := os.ReadDir(c)
	for _, e := range entries {
		p := filepath.Join(c, e.Name())
		if e.Type()&os.ModeSymlink != 0 {
			// live/<name>/fullchain.pem -> ../../archive/<name>/fullchain2.pem,
			// or a target outside the tree.
			for _, hop := range s.linkChain(p)[1:] {
				s.track(hop)
			}
		}
		if depth < TreeDepth && (e.IsDir() || e.Type()&os.ModeSymlink != 0 && isDir(p)) {
			s.walkTree(p, depth+1)
		}
	}
}

// matters reports whether an event about path may change the configuration.
func (s *scope) matters(path string) bool {
	return s.names[path] || s.parents[path] || s.parents[filepath.Dir(path)]
}

// track makes events about p, or about any directory on the way to it,
// count (replacing .../..data replaces everything below it), and watches
// the nearest existing directory above p, so a missing p or a deleted
// parent is noticed when it comes back.
func (s *scope) track(p string) {
	for a := p; ; a = filepath.Dir(a) {
		s.names[a] = true
		s.names[filepath.Join(s.canonical(filepath.Dir(a)), filepath.Base(a))] = true
		if filepath.Dir(a) == a {
			break
		}
	}
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		if c := s.canonical(d); isDir(c) {
			s.dirs[c] = true
			return
		}
		if filepath.Dir(d) == d {
			return
		}
	}
}

// linkChain returns p followed by every symlink hop to its final target:
// global.yaml, ..data/global.yaml for a Kubernetes ConfigMap.
func (s *scope) linkChain(p string) []string {
	chain := []string{p}
	for range maxHops {
		t, err := os.Readlink(p)
		if err != nil {
			break // not a symlink, or missing
		}
		if !filepath.IsAbs(t) {
			// The kernel resolves a relative target from the link's
			// physical directory, which matters for "..".
			t = filepath.Join(s.canonical(filepath.Dir(p)), t)
		}
		p = t
		chain = append(chain, p)
	}
	return chain
}

// canonical resolves every symlink in p; a missing p stays as it is.
func (s *scope) canonical(p string) string {
	if c, ok := s.canon[p]; ok {
		return c
	}
	c, err := filepath.EvalSymlinks(p)
	if err != nil {
		c = p
	}
	s.canon[p] = c
	return c
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// fingerprint summarises the watched paths without reading their contents:
// names, sizes, modification times and where symlinks lead. It exists
// because fsnotify is silent on some filesystems we are deployed on: Docker
// bind mounts whose source is replaced on the host, NFS/CIFS/FUSE mounts
// (inotify only sees changes made through this kernel), and overlay setups
// where a mount is swapped underneath the watch. Comparing it every Rescan
// turns those missed events into a late callback instead of none.
func (w *Watcher) fingerprint() [32]byte {
	h := sha256.New()
	for _, f := range w.files {
		stamp(h, f)
	}
	for _, d := range w.dirs {
		stamp(h, d)
		entries, _ := os.ReadDir(d) // sorted by name
		for _, e := range entries {
			stamp(h, filepath.Join(d, e.Name()))
		}
	}
	for _, t := range w.trees {
		stamp(h, t)
		stampTree(h, t, 0, map[string]bool{})
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// stampTree stamps every entry below d down to TreeDepth, each directory
// once however many symlinks lead to it.
func stampTree(w io.Writer, d string, depth int, seen map[string]bool) {
	c, err := filepath.EvalSymlinks(d)
	if err != nil || seen[c] {
		return
	}
	seen[c] = true
	entries, _ := os.ReadDir(d) // sorted by name
	for _, e := range entries {
		p := filepath.Join(d, e.Name())
		stamp(w, p)
		if depth < TreeDepth && (e.IsDir() || e.Type()&os.ModeSymlink != 0 && isDir(p)) {
			stampTree(w, p, depth+1, seen)
		}
	}
}

// stamp writes p's identity as far as a cheap stat can tell. The resolved
// path catches a ConfigMap's ..data swap even when the new file has the
// same size and modification time as the old one.
func stamp(w io.Writer, p string) {
	fmt.Fprintf(w, "%s\x00", p)
	if t, err := filepath.EvalSymlinks(p); err == nil && t != p {
		fmt.Fprintf(w, "-> %s\x00", t)
	}
	fi, err := os.Stat(p)
	if err != nil {
		fmt.Fprint(w, "missing\x00")
		return
	}
	fmt.Fprintf(w, "%d %d\x00", fi.Size(), fi.ModTime().UnixNano())
}
