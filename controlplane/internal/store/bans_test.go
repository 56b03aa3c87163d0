package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// banEvent is a BANNED event of ip on route, decided at at, until until.
func banEvent(ip, route string, at, until time.Time, reason string) *proxyv1.SecurityEvent {
	return &proxyv1.SecurityEvent{Time: timestamppb.New(at), Kind: proxyv1.SecurityKind_SECURITY_KIND_BANNED,
		RouteId: route, ClientIp: ip, Path: "/login", Action: "banned", Rule: "/login", Count: 3,
		BanUntil: timestamppb.New(until), Reason: reason}
}

func TestSaveBanMergesAndLifts(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	type report struct {
		node string
		ev   *proxyv1.SecurityEvent
	}
	type lift struct {
		ip, route string
		want      int
	}
	tests := []struct {
		desc    string
		reports []report
		lift    *lift
		late    []report // reported after the lift
		want    map[string]time.Time
		rows    int
		banNo   int // highest ban_count, when checked
	}{
		{
			desc:    "one ban",
			reports: []report{{"n1", banEvent("203.0.113.7", "vault", t0, t0.Add(time.Hour), "5 failed logins")}},
			want:    map[string]time.Time{"203.0.113.7 vault": t0.Add(time.Hour)},
			rows:    1,
		},
		{
			desc: "the same ban from two data planes is one, ending at the later expiry",
			reports: []report{
				{"n1", banEvent("203.0.113.7", "vault", t0, t0.Add(time.Hour), "a")},
				{"n2", banEvent("203.0.113.7", "vault", t0.Add(time.Second), t0.Add(2*time.Hour), "b")},
				{"n1", banEvent("203.0.113.7", "vault", t0, t0.Add(time.Hour), "a")},
			},
			want: map[string]time.Time{"203.0.113.7 vault": t0.Add(2 * time.Hour)},
			rows: 1,
		},
		{
			desc: "other routes, other addresses and every route are other bans",
			reports: []report{
				{"n1", banEvent("203.0.113.7", "vault", t0, t0.Add(time.Hour), "")},
				{"n1", banEvent("203.0.113.7", "panel", t0, t0.Add(time.Hour), "")},
				{"n1", banEvent("203.0.113.7", "", t0, t0.Add(time.Hour), "")},
				{"n1", banEvent("203.0.113.8", "", t0, t0.Add(time.Hour), "")},
			},
			want: map[string]time.Time{"203.0.113.7 vault": t0.Add(time.Hour), "203.0.113.7 panel": t0.Add(time.Hour),
				"203.0.113.7 ": t0.Add(time.Hour), "203.0.113.8 ": t0.Add(time.Hour)},
			rows: 4,
		},
		{
			desc:    "addresses are canonical: an IPv4-mapped IPv6 address is its IPv4 address",
			reports: []report{{"n1", banEvent("::ffff:203.0.113.7", "vault", t0, t0.Add(time.Hour), "")}, {"n1", banEvent("2001:DB8::1", "vault", t0, t0.Add(time.Hour), "")}},
			want:    map[string]time.Time{"203.0.113.7 vault": t0.Add(time.Hour), "2001:db8::1 vault": t0.Add(time.Hour)},
			rows:    2,
		},
		{
			desc: "an expired ban is kept as history, not active; a new one after it is the second",
			reports: []report{
				{"n1", banEvent("203.0.113.7", "vault", t0.Add(-2*time.Hour), t0.Add(-time.Hour), "")},
				{"n1", banEvent("203.0.113.7", "vault", t0, t0.Add(time.Hour), "")},
			},
			want:  map[string]time.Time{"203.0.113.7 vault": t0.Add(time.Hour)},
			rows:  2,
			banNo: 2,
		},
		{
			desc: "not a ban: bad address, no end, ends before it starts",
			reports: []report{
				{"n1", banEvent("203.0.113.999", "vault", t0, t0.Add(time.Hour), "")},
				{"n1", &proxyv1.SecurityEvent{Kind: proxyv1.SecurityKind_SECURITY_KIND_BANNED, ClientIp: "203.0.113.7", RouteId: "vault"}},
				{"n1", banEvent("203.0.113.7", "vault", t0, t0.Add(-time.Second), "")},
			},
			want: map[string]time.Time{},
		},
		{
			desc:    "a lift of one route keeps the others",
			reports: []report{{"n1", banEvent("203.0.113.7", "vault", t0, t0.Add(time.Hour), "")}, {"n1", banEvent("203.0.113.7", "panel", t0, t0.Add(time.Hour), "")}},
			lift:    &lift{"203.0.113.7", "vault", 1},
			want:    map[string]time.Time{"203.0.113.7 panel": t0.Add(time.Hour)},
			rows:    2,
		},
		{
			desc:    "a lift without a route ends every ban of the address; a late report of them stays lifted",
			reports: []report{{"n1", banEvent("203.0.113.7", "vault", t0, t0.Add(time.Hour), "")}, {"n1", banEvent("203.0.113.7", "", t0, t0.Add(time.Hour), "")}},
			lift:    &lift{"203.0.113.7", "", 2},
			late:    []report{{"n2", banEvent("203.0.113.7", "vault", t0, t0.Add(3*time.Hour), "")}},
			want:    map[string]time.Time{},
			rows:    2,
		},
		{
			desc:    "a ban decided after a lift is a new ban",
			reports: []report{{"n1", banEvent("203.0.113.7", "vault", t0.Add(-time.Minute), t0.Add(time.Hour), "")}},
			lift:    &lift{"203.0.113.7", "", 1},
			late:    []report{{"n1", banEvent("203.0.113.7", "vault", t0.Add(time.Minute), t0.Add(2*time.Hour), "")}},
			want:    map[string]time.Time{"203.0.113.7 vault": t0.Add(2 * time.Hour)},
			rows:    2,
		},
		{
			desc:    "lifting an address without bans lifts nothing",
			reports: []report{{"n1", banEvent("203.0.113.7", "vault", t0, t0.Add(time.Hour), "")}},
			lift:    &lift{"203.0.113.8", "", 0},
			want:    map[string]time.Time{"203.0.113.7 vault": t0.Add(time.Hour)},
			rows:    1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			ctx := context.Background()
			s, _ := openTestStore(t)
			if err := s.SyncRoutes(ctx, []*proxyv1.Route{{Id: "vault", Hosts: []string{"vault.test"}}, {Id: "panel", Hosts: []string{"panel.test"}}}, t0); err != nil {
				t.Fatal(err)
			}
			seq := uint64(0)
			send := func(rs []report) {
				for _, r := range rs {
					seq++
					if _, err := s.SaveBatch(ctx, &proxyv1.EventBatch{NodeId: r.node, BootId: "b", Sequence: seq, Security: []*proxyv1.SecurityEvent{r.ev}}); err != nil {
						t.Fatal(err)
					}
				}
			}
			send(tc.reports)
			if tc.lift != nil {
				lifted, err := s.LiftBans(ctx, tc.lift.ip, tc.lift.route, t0, AuditEntry{User: "admin", Source: "test"})
				if err != nil || len(lifted) != tc.lift.want {
					t.Fatalf("LiftBans = %d bans, %v; want %d", len(lifted), err, tc.lift.want)
				}
				entries, err := s.AuditEntries(ctx, 10, "ban_lifted")
				if err != nil {
					t.Fatal(err)
				}
				if tc.lift.want == 0 && len(entries) != 0 {
					t.Fatalf("a lift of nothing was audited: %v", entries)
				}
				if tc.lift.want > 0 {
					var old []map[string]any
					if len(entries) != 1 || entries[0].Source != "test" || json.Unmarshal([]byte(entries[0].OldValue), &old) != nil || len(old) != tc.lift.want {
						t.Fatalf("audit entries after the lift: %+v", entries)
					}
				}
			}
			send(tc.late)

			bans, total, err := s.ActiveBans(ctx, t0, 100)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]time.Time{}
			for _, b := range bans {
				got[b.GetClientIp()+" "+b.GetRouteId()] = b.GetExpiresAt().AsTime()
			}
			if len(got) != len(tc.want) || total != len(tc.want) || len(bans) != len(tc.want) {
				t.Fatalf("active bans %v (%d in all), want %v", got, total, tc.want)
			}
			for k, until := range tc.want {
				if !got[k].Equal(until) {
					t.Errorf("ban %q ends %v, want %v", k, got[k], until)
				}
			}
			var rows int
			if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM rate_limits").Scan(&rows); err != nil || rows != tc.rows {
				t.Fatalf("rate_limits rows = %d (%v), want %d", rows, err, tc.rows)
			}
			var banNo int
			if err := s.read.QueryRowContext(ctx, "SELECT COALESCE(MAX(ban_count), 0) FROM rate_limits").Scan(&banNo); err != nil || (tc.banNo > 0 && banNo != tc.banNo) {
				t.Fatalf("highest ban_count = %d (%v), want %d", banNo, err, tc.banNo)
			}
		})
	}
}

func TestBanRowHoldsWhatTheListNeeds(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	t0 := time.Now().Truncate(time.Second)
	b := &proxyv1.EventBatch{NodeId: "n1", BootId: "b", Sequence: 1, Security: []*proxyv1.SecurityEvent{
		banEvent("203.0.113.7", "vault", t0, t0.Add(time.Hour), "rate limit on /login: 3 violations")}}
	if _, err := s.SaveBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	var (
		start, until, count, banCount int64
		reason, node                  string
	)
	err := s.read.QueryRowContext(ctx, `SELECT window_start, banned_until, request_count, ban_count, reason, node_id
FROM rate_limits WHERE ip_address = '203.0.113.7'`).Scan(&start, &until, &count, &banCount, &reason, &node)
	if err != nil || start != t0.Unix() || until != t0.Add(time.Hour).Unix() || count != 3 || banCount != 1 || reason != "rate limit on /login: 3 violations" || node != "n1" {
		t.Fatalf("row = %d %d %d %d %q %q, %v", start, until, count, banCount, reason, node, err)
	}
	bans, _, err := s.ActiveBans(ctx, t0, 10)
	if err != nil || len(bans) != 1 {
		t.Fatalf("ActiveBans = %v, %v", bans, err)
	}
	if g := bans[0]; g.GetRouteId() != "vault" || !g.GetBannedAt().AsTime().Equal(t0) || g.GetReason() != "rate limit on /login: 3 violations" {
		t.Fatalf("ban = %v", g)
	}
	if _, err := s.LiftBans(ctx, "not-an-ip", "", t0, AuditEntry{User: "admin"}); err == nil {
		t.Fatal("LiftBans accepted an address that is not one")
	}
}

func TestActiveBansLimitKeepsThoseEndingLast(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	t0 := time.Now().Truncate(time.Second)
	b := &proxyv1.EventBatch{NodeId: "n1", BootId: "b", Sequence: 1}
	for i := range 5 {
		b.Security = append(b.Security, banEvent("203.0.113."+string(rune('1'+i)), "", t0, t0.Add(time.Duration(i+1)*time.Minute), ""))
	}
	if _, err := s.SaveBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	bans, total, err := s.ActiveBans(ctx, t0, 2)
	if err != nil || total != 5 || len(bans) != 2 || bans[0].GetClientIp() != "203.0.113.5" || bans[1].GetClientIp() != "203.0.113.4" {
		t.Fatalf("ActiveBans(limit 2) = %v (total %d), %v", bans, total, err)
	}
}

// A database migrated before 0006 keeps its rate_limits rows, and afterwards takes bans on every
// route (route_id NULL).
func TestMigration0006KeepsSeedRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "proxy.db")
	before := fstest.MapFS{}
	ms, err := fs.Glob(migrationsFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ms {
		if strings.HasPrefix(filepath.Base(name), "0006") {
			break
		}
		body, err := fs.ReadFile(migrationsFS, name)
		if err != nil {
			t.Fatal(err)
		}
		before[name] = &fstest.MapFile{Data: body}
	}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db, before, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"INSERT INTO routes (route_id, route_key, domain, created_at, updated_at) VALUES (1, 'vault', 'vault.test', 0, 0)",
		"INSERT INTO rate_limits (ip_address, route_id, window_start, request_count, banned_until, ban_count) VALUES ('203.0.113.7', 1, 100, 7, 200, 1)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ip string
	var count, until int64
	if err := s.read.QueryRowContext(ctx, "SELECT ip_address, request_count, banned_until FROM rate_limits WHERE route_id = 1 AND window_start = 100").Scan(&ip, &count, &until); err != nil || ip != "203.0.113.7" || count != 7 || until != 200 {
		t.Fatalf("seed row after 0006: %s %d %d, %v", ip, count, until, err)
	}
	now := time.Now()
	b := &proxyv1.EventBatch{NodeId: "n", BootId: "b", Sequence: 1, Security: []*proxyv1.SecurityEvent{banEvent("203.0.113.7", "", now, now.Add(time.Hour), "")}}
	if _, err := s.SaveBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	if bans, _, err := s.ActiveBans(ctx, now, 10); err != nil || len(bans) != 1 || bans[0].GetRouteId() != "" {
		t.Fatalf("ActiveBans after 0006 = %v, %v; want the ban on every route only (the seed row ended long ago)", bans, err)
	}
}
