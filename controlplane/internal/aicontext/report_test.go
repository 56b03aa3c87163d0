package aicontext

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/reloader"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata")

// The secrets planted in the configuration: none may reach the report.
const (
	discordToken   = "PLANTED-discord-token-Zq81"
	hmacSecret     = "PLANTED-hmac-secret-0x5eed-and-long-enough"
	rejectedSecret = "PLANTED-rejected-password-31"
)

// rawIPs are every client or backend address seeded, none of which may appear in the report.
var rawIPs = []string{"203.0.113.7", "203.0.113.9", "198.51.100.4", "2001:db8::42", "10.0.0.5", "192.0.2.55",
	"10.1.2.3", "162.159.128.233"}

// fixedNow is the clock of the seeded database and the report.
var fixedNow = time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)

// nodes is the fleet's view of the data planes; the rest of the fleet (the snapshot in force)
// is the real one the reloader publishes to. Data planes reach a fleet only over a gRPC stream,
// so their state here is given as the fleet would report it.
type nodes struct {
	*fleet.Fleet
	dps []*proxyv1.Dataplane
}

func (n nodes) Dataplanes() []*proxyv1.Dataplane { return n.dps }

// seeded builds the sources of a report over a real store, reloader and fleet: two routes (api
// failing and slow, blog healthy), errors with addresses in their messages, security events from
// raw addresses, a WebSocket, certificates, health states, an open circuit, a failed webhook
// delivery, a rejected configuration and a NACK. dir is the configuration directory.
func seeded(t *testing.T) (src Sources, dir string) {
	t.Helper()
	ctx := context.Background()
	log := zaptest.NewLogger(t)
	dir = t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("secrets/hmac", hmacSecret+"\n")
	write("global.yaml", `webhooks:
  - name: discord-ops
    url: https://discord.com/api/webhooks/123456/`+discordToken+`
    events: [service_down, high_error_rate]
  - name: generic-siem
    url: https://siem.example.org/hook
    format: generic
    secret_file: `+filepath.Join(dir, "secrets/hmac")+`
    events: [waf_block_spike]
`)
	write("sites/api.yaml", "host: api.example.org\nbackend: http://api:8080\n")
	write("sites/blog.yaml", "host: blog.example.org\nbackend: http://blog:80\n")
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "proxy.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.SetClock(func() time.Time { return fixedNow })
	fl := fleet.New(log)
	rl, err := reloader.New(ctx, log, filepath.Join(dir, "global.yaml"), filepath.Join(dir, "sites"), filepath.Join(dir, "certs"), st, fl)
	if err != nil {
		t.Fatal(err)
	}
	if _, v, errs := rl.Reload(ctx, "startup"); len(errs) > 0 || v != 1 {
		t.Fatalf("first load: version %d, %v", v, errs)
	}
	// A broken edit: rejected with file:line, and the configuration's error quotes the password
	// of the backend URL.
	write("sites/blog.yaml", "host: blog.example.org\nbackend: http://blog:80\ntimeouts:\n  conect: 5s\n")
	write("sites/api.yaml", "host: api.example.org\nbackend: \"http://svc:"+rejectedSecret+"@api:8080\"\n")
	if _, _, errs := rl.Reload(ctx, "file_watcher"); len(errs) == 0 {
		t.Fatal("the broken edit was accepted")
	}
	snap, _ := fl.Current()
	routeOf := map[string]string{}
	for _, r := range snap.GetRoutes() {
		routeOf[r.GetHosts()[0]] = r.GetId()
	}
	api, blog := routeOf["api.example.org"], routeOf["blog.example.org"]

	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(fixedNow.Add(d)) }
	var reqs []*proxyv1.RequestEvent
	req := func(d time.Duration, id, route, host, path string, status int32, took time.Duration, errMsg, slow string) {
		reqs = append(reqs, &proxyv1.RequestEvent{Time: at(d), RequestId: id, RouteId: route, Host: host, Method: "GET",
			Path: path, Status: status, Duration: durationpb.New(took), ClientIp: "192.0.2.55", Backend: "http://api:8080",
			Protocol: "HTTP/2.0", Error: errMsg, Slow: slow, BytesOut: 512})
	}
	for i := range 20 {
		req(-time.Duration(60-i)*time.Minute, "req-api-"+twoDigits(i), api, "api.example.org", "/v1/orders", 502, 30*time.Millisecond,
			"dial tcp 10.0.0.5:8080: connect: connection refused", "")
	}
	for i := range 10 {
		req(-time.Duration(30-i)*time.Minute, "req-slow-"+twoDigits(i), api, "api.example.org", "/v1/orders/"+twoDigits(i+10), 200,
			2500*time.Millisecond, "", "critical")
	}
	req(-5*time.Minute, "req-api-timeout", api, "api.example.org", "/v1/report", 504, 30*time.Second, "backend timeout after 30s", "")
	for i := range 25 {
		req(-time.Duration(120-i)*time.Minute, "req-blog-"+twoDigits(i), blog, "blog.example.org", "/", 200, 20*time.Millisecond, "", "")
	}
	req(-3*time.Minute, "req-blog-404", blog, "blog.example.org", "/missing", 404, 5*time.Millisecond, "", "")

	sec := func(d time.Duration, kind proxyv1.SecurityKind, route, ip string) *proxyv1.SecurityEvent {
		return &proxyv1.SecurityEvent{Time: at(d), Kind: kind, RouteId: route, ClientIp: ip, Path: "/login", RequestId: "req-sec"}
	}
	var security []*proxyv1.SecurityEvent
	for i := range 25 {
		e := sec(-time.Duration(i+1)*time.Minute, proxyv1.SecurityKind_SECURITY_KIND_WAF, api, "203.0.113.7")
		e.Rule, e.Action, e.Pattern = "sqli-union", "blocked", "union select"
		if i%5 == 0 {
			e.Rule, e.ClientIp = "xss-script", "2001:db8::42"
		}
		security = append(security, e)
	}
	logged := sec(-90*time.Minute, proxyv1.SecurityKind_SECURITY_KIND_WAF, blog, "203.0.113.9")
	logged.Rule, logged.Action = "scanner-ua", "logged"
	ban := sec(-10*time.Minute, proxyv1.SecurityKind_SECURITY_KIND_BANNED, api, "203.0.113.7")
	ban.BanUntil, ban.Reason, ban.Count = at(time.Hour), "rate limit on /login: 3 violations", 3
	security = append(security, logged, ban)
	for i := range 4 {
		security = append(security, sec(-time.Duration(i+2)*time.Minute, proxyv1.SecurityKind_SECURITY_KIND_FAILED_LOGIN, blog, "198.51.100.4"))
	}

	batches := []*proxyv1.EventBatch{{NodeId: "node-1", BootId: "boot-1", Sequence: 1, DroppedEvents: 7, Requests: reqs,
		Security: security,
		Websockets: []*proxyv1.WebSocketEvent{{Kind: proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_OPEN, ConnectionId: "c1",
			RequestId: "req-ws-1", RouteId: blog, Host: "blog.example.org", Path: "/live", ClientIp: "192.0.2.55", ConnectedAt: at(-20 * time.Minute)}},
		Circuits: []*proxyv1.CircuitEvent{{Time: at(-15 * time.Minute), Backend: "http://api:8080", From: "closed", To: "open",
			Failures: 5, Reason: "5 failures in 60s"}},
		System: &proxyv1.SystemMetrics{Time: at(-10 * time.Second), Uptime: durationpb.New(26 * time.Hour), ActiveConnections: 17,
			Goroutines: 42, HeapBytes: 48 << 20, RssBytes: 96 << 20, RequestsTotal: 123456, EventsDroppedTotal: 7,
			EventQueueLength: 3, EventQueueCapacity: 10000, WebsocketsActive: 1, SnapshotVersion: 1, SnapshotAppliedAt: at(-time.Hour)},
	},
		// node-3 reported two hours ago and has not connected since the control plane started.
		{NodeId: "node-3", BootId: "boot-3", Sequence: 1, System: &proxyv1.SystemMetrics{Time: at(-2 * time.Hour),
			Uptime: durationpb.New(50 * time.Hour), ActiveConnections: 2, Goroutines: 30, HeapBytes: 20 << 20, RssBytes: 60 << 20,
			EventQueueCapacity: 10000, SnapshotVersion: 1}},
		// node-4 reported two days ago: long gone, not listed.
		{NodeId: "node-4", BootId: "boot-4", Sequence: 1, System: &proxyv1.SystemMetrics{Time: at(-48 * time.Hour),
			EventQueueCapacity: 10000}},
	}
	for _, b := range batches {
		if stored, err := st.SaveBatch(ctx, b); err != nil || !stored {
			t.Fatalf("SaveBatch: %v %v", stored, err)
		}
	}

	check := func(route string, ok bool, state string, ratio float64, errMsg string) {
		t.Helper()
		c := store.HealthCheck{RouteID: route, Time: fixedNow.Add(-time.Minute), Success: ok, ResponseTime: 20 * time.Millisecond, Error: errMsg}
		s := store.HealthState{RouteID: route, State: state, SuccessRatio: ratio, Since: fixedNow.Add(-40 * time.Minute),
			LastCheck: c.Time, LastError: errMsg}
		if err := st.SaveHealthCheck(ctx, c, s); err != nil {
			t.Fatal(err)
		}
	}
	check(api, false, "down", 0, "dial tcp 10.0.0.5:8080: connect: connection refused")
	check(blog, true, "healthy", 1, "")

	if err := st.SaveCertificates(ctx, []store.Certificate{
		{Domain: "blog.example.org", CertPath: "/certs/blog.pem", KeyPath: "/certs/blog.key", NotBefore: fixedNow.Add(-80 * 24 * time.Hour),
			ExpiresAt: fixedNow.Add(10*24*time.Hour + time.Hour), Issuer: "R11", Level: "urgent", LastChecked: fixedNow},
		{Domain: "api.example.org", CertPath: "/certs/api.pem", KeyPath: "/certs/api.key", NotBefore: fixedNow.Add(-10 * 24 * time.Hour),
			ExpiresAt: fixedNow.Add(80 * 24 * time.Hour), Issuer: "R11", Level: "ok", LastChecked: fixedNow},
	}); err != nil {
		t.Fatal(err)
	}
	for i, d := range []store.WebhookDelivery{
		{MessageID: "m1", Time: fixedNow.Add(-19 * time.Minute), Webhook: "discord-ops", Event: "service_down", Attempt: 2,
			Error: `Post "https://discord.com/api/webhooks/123456/` + discordToken + `": dial tcp 162.159.128.233:443: i/o timeout`},
		{MessageID: "m1", Time: fixedNow.Add(-20 * time.Minute), Webhook: "discord-ops", Event: "service_down", Attempt: 1,
			StatusCode: 503, Error: "503 Service Unavailable"},
		{MessageID: "m2", Time: fixedNow.Add(-18 * time.Minute), Webhook: "generic-siem", Event: "waf_block_spike", Attempt: 1, StatusCode: 204},
	} {
		if err := st.SaveWebhookDelivery(ctx, d); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}

	fleetView := nodes{Fleet: fl, dps: []*proxyv1.Dataplane{
		{NodeId: "node-2", BinaryVersion: "1.8.0", Connected: true, AppliedVersion: 0, Lag: 1, NackVersion: 1,
			NackReason: "route " + api + ": listen 10.1.2.3:443: address already in use", PeerAddress: "10.1.2.3:51000"},
		{NodeId: "node-1", BinaryVersion: "1.8.0", Connected: true, AppliedVersion: 1, LastAckTime: at(-time.Hour),
			LastSeen: at(-5 * time.Second), PeerAddress: "192.0.2.55:40000", EventsDropped: 7},
	}}
	return Sources{Store: st, Fleet: fleetView, Config: rl, Version: "1.8.0-test", StartedAt: fixedNow.Add(-3 * time.Hour),
		Now: func() time.Time { return fixedNow }}, dir
}

func twoDigits(i int) string { return string([]byte{byte('0' + i/10%10), byte('0' + i%10)}) }

// render builds and renders the seeded report, with the configuration directory (a temporary
// one) written as $CONFIG so that the golden files do not depend on it.
func render(t *testing.T, src Sources, dir, format string, maxBytes int) []byte {
	t.Helper()
	rep, err := Build(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(rep, format, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(out, []byte(dir), []byte("$CONFIG"))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test -update rewrites it); got:\n%s", path, got)
	}
}

func TestReportGolden(t *testing.T) {
	src, dir := seeded(t)
	md := render(t, src, dir, Markdown, 0)
	golden(t, "report.md.golden", md)
	js := render(t, src, dir, JSON, 0)
	golden(t, "report.json.golden", js)
	var decoded Report
	if err := json.Unmarshal(js, &decoded); err != nil {
		t.Fatalf("the JSON report does not decode: %v", err)
	}
	// Deterministic: a second build of the same database gives the same bytes.
	if again := render(t, src, dir, Markdown, 0); !bytes.Equal(again, md) {
		t.Error("two reports of the same database differ")
	}
}

// TestReportHasNoRawIPOrSecret reads every format and size of the report for each raw address
// seeded and each secret planted in the configuration.
func TestReportHasNoRawIPOrSecret(t *testing.T) {
	src, dir := seeded(t)
	secrets := []string{discordToken, hmacSecret, rejectedSecret, "api/webhooks/123456"}
	for _, format := range []string{Markdown, JSON} {
		for _, size := range []int{MinMaxBytes, 0, MaxMaxBytes} {
			out := string(render(t, src, dir, format, size))
			for _, s := range append(append([]string{}, rawIPs...), secrets...) {
				if strings.Contains(out, s) {
					t.Errorf("%s report of %d bytes contains %q", format, size, s)
				}
			}
			for i := 0; i < len(out); {
				if !addrByte(out[i]) {
					i++
					continue
				}
				j := i
				for j < len(out) && addrByte(out[j]) {
					j++
				}
				if _, _, addr, ok := findAddr(out[i:j]); ok {
					t.Errorf("%s report of %d bytes has the address %s in %q", format, size, addr, out[i:j])
				}
				i = j
			}
		}
	}
}
