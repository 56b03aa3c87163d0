package store

import (
	"context"
	"testing"
	"time"
)

func TestAudit(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	t0 := time.Unix(1_800_000_000, 0)
	entries := []AuditEntry{
		{Time: t0, User: "system", Action: "config_reload", ResourceType: "config", ResourceID: "panel.yaml",
			OldValue: "version: 1", NewValue: "version: 2", Source: "file_watcher"},
		{Time: t0.Add(time.Second), User: "system", Action: "config_rejected", ResourceType: "config",
			ResourceID: "vault.yaml", Source: "file_watcher", Notes: "vault.yaml:3:5: unknown key \"bakend\""},
		{Time: t0.Add(2 * time.Second), User: "system", Action: "config_reload", ResourceType: "config"},
	}
	for _, e := range entries {
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}

	testCases := []struct {
		desc   string
		limit  int
		action string
		want   []AuditEntry
	}{
		{desc: "all, newest first", limit: 10, want: []AuditEntry{entries[2], entries[1], entries[0]}},
		{desc: "limit", limit: 1, want: []AuditEntry{entries[2]}},
		{desc: "by action", limit: 10, action: "config_rejected", want: []AuditEntry{entries[1]}},
		{desc: "unknown action", limit: 10, action: "nope"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := s.AuditEntries(ctx, tc.limit, tc.action)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d entries, want %d: %+v", len(got), len(tc.want), got)
			}
			for i := range got {
				if !got[i].Time.Equal(tc.want[i].Time) {
					t.Errorf("entry %d time %v, want %v", i, got[i].Time, tc.want[i].Time)
				}
				if got[i].ID == 0 || len(got[i].Hash) != 64 {
					t.Errorf("entry %d: id %d hash %q, want both set", i, got[i].ID, got[i].Hash)
				}
				got[i].Time, got[i].ID, got[i].Hash = tc.want[i].Time, 0, ""
				if got[i] != tc.want[i] {
					t.Errorf("entry %d\n got %+v\nwant %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestAuditRejectsIncompleteEntries(t *testing.T) {
	s, _ := openTestStore(t)
	testCases := []struct {
		desc  string
		entry AuditEntry
	}{
		{desc: "no user", entry: AuditEntry{Action: "config_reload", ResourceType: "config"}},
		{desc: "no action", entry: AuditEntry{User: "system", ResourceType: "config"}},
		{desc: "no resource type", entry: AuditEntry{User: "system", Action: "config_reload"}},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			if err := s.Audit(context.Background(), tc.entry); err == nil {
				t.Fatal("Audit accepted an incomplete entry")
			}
		})
	}
}

func TestAuditDefaultsTimeToNow(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	before := time.Now().Truncate(time.Second)
	if err := s.Audit(ctx, AuditEntry{User: "system", Action: "config_reload", ResourceType: "config"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AuditEntries(ctx, 1, "")
	if err != nil || len(got) != 1 {
		t.Fatalf("AuditEntries = %v, %v", got, err)
	}
	if got[0].Time.Before(before) || got[0].Time.After(time.Now()) {
		t.Errorf("time %v, want about now", got[0].Time)
	}
}

func TestReadLimitsMustBePositive(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	if _, err := s.AuditEntries(ctx, 0, ""); err == nil {
		t.Error("AuditEntries accepted limit 0")
	}
	if _, err := s.RequestLogs(ctx, -1); err == nil {
		t.Error("RequestLogs accepted limit -1")
	}
}
