package watch

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Mounts change what a path shows without any event in its parent, so only
// the rescan notices them; it must then move the watch to the new
// directory. Needs CAP_SYS_ADMIN (root in a container), skipped otherwise.
func TestMountsAreFollowed(t *testing.T) {
	mount := func(t *testing.T, dir string) {
		t.Helper()
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
			t.Skipf("cannot mount tmpfs: %v", err)
		}
		t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	}
	tests := []struct {
		desc   string
		before func(t *testing.T, sites string)
		change func(t *testing.T, sites string)
	}{
		{desc: "mount goes away", before: func(t *testing.T, sites string) {
			mount(t, sites)
			write(t, filepath.Join(sites, "a.yaml"), "host: a\n")
		}, change: func(t *testing.T, sites string) {
			must(t, syscall.Unmount(sites, 0))
		}},
		{desc: "directory mounted over", change: func(t *testing.T, sites string) {
			mount(t, sites)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			sites := filepath.Join(t.TempDir(), "sites")
			write(t, filepath.Join(sites, "under.yaml"), "host: under\n")
			if tc.before != nil {
				tc.before(t, sites)
			}
			core, logs := observer.New(zapcore.DebugLevel)
			r := start(t, Options{Dirs: []string{sites}, Rescan: 20 * time.Millisecond},
				func(w *Watcher) { w.log = zap.New(core) })
			tc.change(t, sites)
			waitCalls(t, r, 1)

			// The rescan would notice this too; the event proves the watch moved.
			b := filepath.Join(sites, "b.yaml")
			write(t, b, "host: b\n")
			deadline := time.Now().Add(within)
			for logs.FilterMessage("config path changed").FilterField(zap.String("path", b)).Len() == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("no file event for %s within %v", b, within)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}
