package store

import (
	"context"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestSaveBatchStoresSecurityEvents(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	if err := s.SyncRoutes(ctx, []*proxyv1.Route{{Id: "vault", Hosts: []string{"vault.example.org"}, BackendUrl: "http://vault:80"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	b := &proxyv1.EventBatch{NodeId: "n1", BootId: "b1", Sequence: 1, Security: []*proxyv1.SecurityEvent{
		{Time: timestamppb.New(now), Kind: proxyv1.SecurityKind_SECURITY_KIND_WAF, RouteId: "vault", ClientIp: "203.0.113.7",
			Path: "/search", RequestId: "r1", Action: "blocked", Rule: "sql_injection", Pattern: "s&1c", Snippet: "1' OR 1=1--"},
		{Time: timestamppb.New(now), Kind: proxyv1.SecurityKind_SECURITY_KIND_BANNED, RouteId: "vault", ClientIp: "203.0.113.8",
			Path: "/identity/connect/token", Action: "banned", Rule: "failed_logins", Count: 5, BanUntil: timestamppb.New(now.Add(time.Hour))},
		{Time: timestamppb.New(now), Kind: proxyv1.SecurityKind_SECURITY_KIND_GEO_BLOCKED, ClientIp: "198.51.100.1", Country: "XX", Path: "/"},
	}}
	if stored, err := s.SaveBatch(ctx, b); err != nil || !stored {
		t.Fatalf("SaveBatch = %v, %v", stored, err)
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := s.read.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	for _, c := range []struct {
		q    string
		args []any
		want int
	}{
		{"SELECT count(*) FROM security_events", nil, 3},
		{"SELECT count(*) FROM security_events WHERE kind = 'waf' AND rule = 'sql_injection' AND client_ip = '203.0.113.7' AND route_id IS NOT NULL", nil, 1},
		{"SELECT count(*) FROM security_events WHERE kind = 'banned' AND ban_until = ? AND count = 5", []any{now.Add(time.Hour).Unix()}, 1},
		{"SELECT count(*) FROM security_events WHERE kind = 'geo_blocked' AND route_id IS NULL AND country = 'XX'", nil, 1},
		{"SELECT count(*) FROM waf_blocks WHERE rule_triggered = 'sql_injection' AND pattern_matched = 's&1c' AND action = 'blocked' AND request_snippet = '1'' OR 1=1--'", nil, 1},
		{"SELECT count(*) FROM rate_limit_violations WHERE ip_address = '203.0.113.8' AND action = 'banned' AND request_count = 5", nil, 1},
	} {
		if got := count(c.q, c.args...); got != c.want {
			t.Errorf("%s = %d, want %d", c.q, got, c.want)
		}
	}
}
