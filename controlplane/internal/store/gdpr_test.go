package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/pkg/ipmask"
)

// The people of the fixture: the subject, a neighbour in the same /24, a stranger elsewhere.
const (
	subjectIP   = "203.0.113.7"
	neighbourIP = "203.0.113.8"
	strangerIP  = "198.51.100.9"
)

func req(id, ip, path, ua string) *proxyv1.RequestEvent {
	return &proxyv1.RequestEvent{Time: timestamppb.New(time.Now()), RequestId: id, RouteId: "vault",
		Host: "vault.example.org", Method: "GET", Path: path, Status: 200, Duration: durationpb.New(time.Millisecond),
		ClientIp: ip, UserAgent: ua, Protocol: "HTTP/2.0"}
}

func secEv(kind proxyv1.SecurityKind, ip, path string, at time.Time) *proxyv1.SecurityEvent {
	return &proxyv1.SecurityEvent{Time: timestamppb.New(at), Kind: kind, RouteId: "vault", ClientIp: ip, Path: path,
		RequestId: "sec-" + ip, Action: "blocked", Rule: "r", Count: 3}
}

// fillEveryTable stores, through SaveBatch as the data planes would, rows of every table that can
// hold a person's data, for the subject, the neighbour and the stranger.
func fillEveryTable(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	if err := s.SyncRoutes(ctx, []*proxyv1.Route{{Id: "vault", Hosts: []string{"vault.example.org"}, BackendUrl: "http://vault:80"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	masked := func(ip string) string { return ipmask.MaskString(ip, ipmask.LastOctet, nil) }
	waf := secEv(proxyv1.SecurityKind_SECURITY_KIND_WAF, subjectIP, "/search", now)
	waf.Snippet = "q=alice@example.org' OR 1=1--"
	oldBan := secEv(proxyv1.SecurityKind_SECURITY_KIND_BANNED, subjectIP, "/login", now.Add(-2*time.Hour))
	oldBan.BanUntil = timestamppb.New(now.Add(-time.Hour))
	activeBan := secEv(proxyv1.SecurityKind_SECURITY_KIND_BANNED, neighbourIP, "/login", now)
	activeBan.BanUntil = timestamppb.New(now.Add(time.Hour))
	b := &proxyv1.EventBatch{NodeId: "n1", BootId: "b1", Sequence: 1,
		Requests: []*proxyv1.RequestEvent{
			req("raw-subject", subjectIP, "/vault/login", "Firefox"),             // mask_ip_method none
			req("masked-subject", masked(subjectIP), "/vault/sync", "Firefox"),   // last_octet: shared
			req("raw-neighbour", neighbourIP, "/vault/login", "Chrome"),          // someone else
			req("stranger", masked(strangerIP), "/", "curl"),                     // elsewhere
			req("hashed", "a1b2c3d4e5f60718", "/", "curl"),                       // hash: nobody's
			req("email-path", strangerIP, "/reset/alice%40Example.org", "curl"),  // encoded @, other case
			req("email-ua", strangerIP, "/", "bot (contact: alice@example.org)"), // in the user agent
			req("user", strangerIP, "/u/alice_w/profile", "curl"),                // a user id
			req("not-user", strangerIP, "/u/alicexw/profile", "curl"),            // '_' is no wildcard
			req("v6", "2001:db8:1:2:xxxx:xxxx:xxxx:xxxx", "/", "curl"),           // an IPv6 /64
		},
		Security: []*proxyv1.SecurityEvent{
			waf,
			secEv(proxyv1.SecurityKind_SECURITY_KIND_THROTTLED, subjectIP, "/api", now),
			oldBan,
			secEv(proxyv1.SecurityKind_SECURITY_KIND_WAF, strangerIP, "/etc/passwd", now),
			activeBan,
		},
		Websockets: []*proxyv1.WebSocketEvent{
			{Kind: proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_OPEN, ConnectionId: "ws-1", RouteId: "vault",
				Host: "vault.example.org", Path: "/notifications/hub", ClientIp: subjectIP, ConnectedAt: timestamppb.New(now)},
			{Kind: proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_OPEN, ConnectionId: "ws-2", RouteId: "vault",
				Host: "vault.example.org", Path: "/notifications/hub", ClientIp: masked(subjectIP), ConnectedAt: timestamppb.New(now)},
			{Kind: proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_OPEN, ConnectionId: "ws-3", RouteId: "vault",
				Host: "vault.example.org", Path: "/notifications/hub", ClientIp: strangerIP, ConnectedAt: timestamppb.New(now)},
		},
	}
	if stored, err := s.SaveBatch(ctx, b); err != nil || !stored {
		t.Fatalf("SaveBatch = %v, %v", stored, err)
	}
}

// rowsOf returns the export's rows of table (own or shared), by their request_id or ip column.
func rowsOf(ex *Export, table string, shared bool) []map[string]any {
	for _, tr := range ex.Tables {
		if tr.Table == table && tr.Shared == shared {
			return tr.Rows
		}
	}
	return nil
}

func tableCounts(t *testing.T, s *Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"request_logs", "websocket_connections", "security_events", "waf_blocks", "rate_limit_violations", "rate_limits"} {
		var n int
		if err := s.read.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func TestExportThenEraseOneIP(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	fillEveryTable(t, s)
	before := tableCounts(t, s)
	subj := Subject{IP: subjectIP}

	ex, err := s.Export(ctx, subj, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"request_logs": 1, "websocket_connections": 1, "security_events": 3, "waf_blocks": 1,
		"rate_limit_violations": 2, "rate_limits": 1}
	for table, n := range want {
		if got := len(rowsOf(ex, table, false)); got != n {
			t.Errorf("export %s: %d rows, want %d", table, got, n)
		}
	}
	if got := rowsOf(ex, "request_logs", false); len(got) == 1 && got[0]["request_id"] != "raw-subject" {
		t.Errorf("export request_logs: %v, want the raw-subject row", got[0])
	}
	for _, tr := range ex.Tables {
		if tr.Shared && (len(tr.Rows) != 0 || tr.Withheld != 1 || !strings.Contains(tr.Note, "203.0.113.0/24")) {
			t.Errorf("shared %s: %d rows listed, %d withheld, note %q; want 0 listed, 1 withheld, the /24 named",
				tr.Table, len(tr.Rows), tr.Withheld, tr.Note)
		}
	}
	if len(ex.Kept.Rows) != 0 {
		t.Errorf("kept audit entries before the erasure: %v", ex.Kept.Rows)
	}
	if _, err := json.Marshal(ex); err != nil {
		t.Fatalf("the export does not encode: %v", err)
	}

	er, err := s.Erase(ctx, subj, "admin", "api", "ticket 42")
	if err != nil {
		t.Fatal(err)
	}
	for table, n := range want {
		if got := er.Deleted[table]; got != int64(n) {
			t.Errorf("erased %s: %d, want %d", table, got, n)
		}
	}

	after, err := s.Export(ctx, subj, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := after.Records(); n != 0 {
		t.Errorf("export after erasure lists %d records, want 0: %+v", n, after.Tables)
	}
	if len(after.Kept.Rows) != 1 || after.Kept.Rows[0]["action"] != "gdpr_erase" {
		t.Fatalf("kept for accountability after erasure: %v, want the erasure's entry", after.Kept.Rows)
	}

	// The others' rows, and the shared masked ones, remain.
	left := tableCounts(t, s)
	for table, n := range want {
		if left[table] != before[table]-n {
			t.Errorf("%s: %d rows left, want %d (%d before, %d erased)", table, left[table], before[table]-n, before[table], n)
		}
	}

	entries, err := s.AuditEntries(ctx, 10, "gdpr_erase")
	if err != nil || len(entries) != 1 {
		t.Fatalf("gdpr_erase audit entries = %v, %v; want one", entries, err)
	}
	e := entries[0]
	if e.User != "admin" || e.Source != "api" || e.ResourceID != "ip="+subjectIP || e.Notes != "ticket 42" {
		t.Errorf("audit entry %+v", e)
	}
	var recorded Erasure
	if err := json.Unmarshal([]byte(e.NewValue), &recorded); err != nil {
		t.Fatalf("audit new value %q: %v", e.NewValue, err)
	}
	if recorded.Subject.IP != subjectIP || recorded.Deleted["security_events"] != 3 || recorded.Deleted["request_logs"] != 1 {
		t.Errorf("recorded erasure %+v", recorded)
	}
	// Counts, not data: no path, user agent or snippet of the erased rows.
	for _, erased := range []string{"/vault/login", "Firefox", "1=1", "/notifications"} {
		if strings.Contains(e.NewValue+e.OldValue+e.Notes, erased) {
			t.Errorf("the audit entry holds erased data %q: %s", erased, e.NewValue)
		}
	}

	// Then the shared masked rows, asked for explicitly.
	er, err = s.Erase(ctx, Subject{IP: subjectIP, IncludeMasked: true}, "admin", "api", "")
	if err != nil {
		t.Fatal(err)
	}
	if er.DeletedShared["request_logs"] != 1 || er.DeletedShared["websocket_connections"] != 1 || er.Deleted["request_logs"] != 0 {
		t.Errorf("second erasure: %+v", er)
	}
	var n int
	if err := s.read.QueryRow("SELECT count(*) FROM request_logs WHERE client_ip = '198.51.100.xxx'").Scan(&n); err != nil || n != 1 {
		t.Errorf("the stranger's masked row: %d, %v; want it kept", n, err)
	}
}

func TestEraseKeepsActiveBans(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	fillEveryTable(t, s)
	subj := Subject{IP: neighbourIP}
	er, err := s.Erase(ctx, subj, "admin", "api", "")
	if err != nil {
		t.Fatal(err)
	}
	if er.Deleted["rate_limits"] != 0 || !hasKept(er, "rate_limits", 1) || !hasKept(er, "audit_log", 1) {
		t.Fatalf("erasure with a ban in force: %+v; want the ban kept", er)
	}
	if er.Deleted["request_logs"] != 1 || er.Deleted["security_events"] != 1 {
		t.Errorf("erasure %+v; want the neighbour's request log and security event", er)
	}
	if _, err := s.LiftBans(ctx, neighbourIP, "", time.Now(), AuditEntry{User: "admin", Source: "api"}); err != nil {
		t.Fatal(err)
	}
	if er, err = s.Erase(ctx, subj, "admin", "api", ""); err != nil || er.Deleted["rate_limits"] != 1 {
		t.Fatalf("erasure after the lift = %+v, %v; want the ban's row erased", er, err)
	}
	ex, err := s.Export(ctx, subj, 0)
	if err != nil || ex.Records() != 0 || len(ex.Kept.Rows) != 3 { // two erasures and the lift
		t.Fatalf("export after = %d records, %d kept, %v", ex.Records(), len(ex.Kept.Rows), err)
	}
}

func hasKept(er *Erasure, table string, n int64) bool {
	for _, k := range er.Kept {
		if k.Table == table && k.Rows == n {
			return true
		}
	}
	return false
}

func TestExportByEmailAndUser(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	fillEveryTable(t, s)
	testCases := []struct {
		desc string
		subj Subject
		want map[string][]string // table → request ids (request_logs) or paths
	}{
		{
			desc: "an e-mail address, percent-encoded in a path, in a user agent, in a WAF snippet",
			subj: Subject{Email: "alice@example.org"},
			want: map[string][]string{"request_logs": {"email-path", "email-ua"}, "security_events": {"/search"}, "waf_blocks": {"/search"}},
		},
		{
			desc: "a user identifier whose '_' is not a wildcard",
			subj: Subject{User: "alice_w"},
			want: map[string][]string{"request_logs": {"user"}},
		},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			ex, err := s.Export(ctx, tc.subj, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, tr := range ex.Tables {
				var got []string
				for _, r := range tr.Rows {
					if id, ok := r["request_id"].(string); ok && tr.Table == "request_logs" {
						got = append(got, id)
					} else {
						got = append(got, fmt.Sprint(r["path"]))
					}
				}
				if strings.Join(got, ",") != strings.Join(tc.want[tr.Table], ",") {
					t.Errorf("%s: %v, want %v", tr.Table, got, tc.want[tr.Table])
				}
			}
		})
	}
}

func TestEraseInBatches(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	const n = 2*eraseBatch + 7
	b := testBatch("n1", "b1", 1, n, "panel")
	for i, r := range b.Requests {
		if i%2 == 0 {
			r.ClientIp = subjectIP
		}
	}
	if _, err := s.SaveBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	er, err := s.Erase(ctx, Subject{IP: subjectIP}, "admin", "api", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64((n + 1) / 2); er.Deleted["request_logs"] != want {
		t.Errorf("deleted %d, want %d", er.Deleted["request_logs"], want)
	}
	if left, _ := s.CountRequestLogs(ctx); left != n/2 {
		t.Errorf("%d rows left, want %d", left, n/2)
	}
	if entries, _ := s.AuditEntries(ctx, 10, "gdpr_erase"); len(entries) != 1 {
		t.Errorf("%d audit entries for one erasure, want 1", len(entries))
	}
}

func TestEraseRecordsAnIncompleteErasure(t *testing.T) {
	s, _ := openTestStore(t)
	fillEveryTable(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Erase(ctx, Subject{IP: subjectIP}, "admin", "api", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("Erase with an ended context: %v", err)
	}
	entries, err := s.AuditEntries(context.Background(), 10, "gdpr_erase")
	if err != nil || len(entries) != 1 || !strings.Contains(entries[0].Notes, "incomplete") {
		t.Fatalf("audit entries %+v, %v; want one incomplete erasure", entries, err)
	}
}

func TestSubjectValidation(t *testing.T) {
	testCases := []struct {
		desc string
		subj Subject
		ok   bool
	}{
		{"nothing", Subject{}, false},
		{"two selectors", Subject{IP: subjectIP, Email: "a@b.c"}, false},
		{"not an address", Subject{IP: "203.0.113.x"}, false},
		{"IPv6", Subject{IP: "2001:db8::1"}, true},
		{"IPv4-mapped", Subject{IP: "::ffff:203.0.113.7"}, true},
		{"not an e-mail", Subject{Email: "alice"}, false},
		{"two @", Subject{Email: "a@b@c"}, false},
		{"user too short", Subject{User: "al"}, false},
		{"spaces", Subject{User: "alice w"}, false},
		{"include_masked with a user", Subject{User: "alice", IncludeMasked: true}, false},
		{"too long", Subject{User: strings.Repeat("a", maxValueLen+1)}, false},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := tc.subj.targets()
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadSubject)) {
				t.Fatalf("targets(%+v) = %v, want ok=%v", tc.subj, err, tc.ok)
			}
		})
	}
}

// The forms searched are the ones pkg/ipmask writes, for IPv4 and IPv6 alike.
func TestIPFormsFollowIPMask(t *testing.T) {
	for _, ip := range []string{"203.0.113.7", "2001:db8:1:2:3:4:5:6", "::ffff:203.0.113.7", "2001:db8::1"} {
		f, err := parseIPForms(ip)
		if err != nil {
			t.Fatal(err)
		}
		a := netip.MustParseAddr(ip)
		if none := ipmask.Mask(a, ipmask.None, nil); f.raw[0] != none {
			t.Errorf("%s: raw %q, ipmask none %q", ip, f.raw[0], none)
		}
		if lo := ipmask.Mask(a, ipmask.LastOctet, nil); f.masked != lo {
			t.Errorf("%s: masked %q, ipmask last_octet %q", ip, f.masked, lo)
		}
		if !f.network.Contains(a.Unmap()) {
			t.Errorf("%s: network %s does not contain it", ip, f.network)
		}
	}
}

// personalColumn is a column name that could hold something about a person.
var personalColumn = regexp.MustCompile(`(^|_)(ip|ips|address|addr|path|url|uri|query|agent|user|email|mail|snippet|pattern|error|message|header|headers|cookie|referer|referrer|body)(_|$)`)

// Every table of the schema, after every migration: a column that looks personal must be in
// subjectColumns or in notSubjectColumns with a reason. This is the test that fails when a new
// migration adds such a column and forgets the rights of the people in it.
func TestSubjectColumnsCoverTheSchema(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	listed := map[string]bool{}
	for _, c := range subjectColumns {
		listed[c.table+"."+c.column] = true
	}
	tables, err := s.read.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		if err := tables.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := closeRows(tables); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, table := range names {
		cols, err := s.read.QueryContext(ctx, "SELECT name, upper(type) FROM pragma_table_info(?)", table)
		if err != nil {
			t.Fatal(err)
		}
		for cols.Next() {
			var col, typ string
			if err := cols.Scan(&col, &typ); err != nil {
				t.Fatal(err)
			}
			key := table + "." + col
			seen[key] = true
			// Numbers (error_count) hold no text; untyped columns could hold anything.
			text := typ == "" || strings.Contains(typ, "TEXT") || strings.Contains(typ, "CHAR") || strings.Contains(typ, "BLOB")
			if !text || !personalColumn.MatchString(col) || listed[key] {
				continue
			}
			if _, ok := notSubjectColumns[key]; !ok {
				t.Errorf("%s may hold a person's data: add it to subjectColumns (gdpr.go), or to notSubjectColumns with the reason it does not", key)
			}
		}
		if err := closeRows(cols); err != nil {
			t.Fatal(err)
		}
	}
	for key := range listed {
		if !seen[key] {
			t.Errorf("subjectColumns names %s, which the schema does not have", key)
		}
	}
	for key := range notSubjectColumns {
		if !seen[key] {
			t.Errorf("notSubjectColumns names %s, which the schema does not have", key)
		}
	}
	// Erasure walks tables by rowid.
	for _, c := range subjectColumns {
		if _, err := s.read.ExecContext(ctx, "SELECT rowid FROM "+c.table+" LIMIT 1"); err != nil {
			t.Errorf("%s has no rowid: %v", c.table, err)
		}
	}
}
