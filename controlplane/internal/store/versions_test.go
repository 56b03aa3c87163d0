package store

import (
	"context"
	"testing"
	"time"
)

func TestSnapshotVersions(t *testing.T) {
	s, path := openTestStore(t)
	ctx := context.Background()
	if v, h, err := s.LastSnapshot(ctx); err != nil || v != 0 || h != "" {
		t.Fatalf("empty store: %d %q %v, want 0", v, h, err)
	}
	now := time.Unix(1_800_000_000, 0)
	for _, v := range []uint64{1, 2, 3} {
		if err := s.SaveSnapshotVersion(ctx, v, "hash-"+string(rune('0'+v)), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveSnapshotVersion(ctx, 3, "hash-3", now); err != nil {
		t.Fatalf("saving a version twice: %v", err)
	}
	if v, h, err := s.LastSnapshot(ctx); err != nil || v != 3 || h != "hash-3" {
		t.Fatalf("LastSnapshot = %d %q %v, want 3 hash-3", v, h, err)
	}
	// Survives a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, path, s.log)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if v, _, err := s2.LastSnapshot(ctx); err != nil || v != 3 {
		t.Fatalf("after reopen: %d %v, want 3", v, err)
	}
}
