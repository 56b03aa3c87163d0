package alerts

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/certmon"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/healthcheck"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/ingest"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/reloader"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// The scenario tests cause each alert for real: a real reloader reads real files into a real
// fleet and store, a real health checker checks a backend that is stopped and started again, a
// real certificate monitor judges a generated certificate at a moved clock, event batches go
// through the real ingest service over gRPC on loopback, and a data plane's snapshot stream
// ends. The recorder stands where the webhook dispatcher will.

// Loopback ports of these tests (the range given to this package's author).
const (
	backendAddr = "127.0.0.1:19601"
)

type world struct {
	t     *testing.T
	dir   string
	st    *store.Store
	fl    *fleet.Fleet
	rl    *reloader.Reloader
	hc    *healthcheck.Checker
	cm    *certmon.Monitor
	al    *Alerts
	rec   *recorder
	clk   *clock
	grpc  string // address of the gRPC server (ingest and snapshot streams)
	ctx   context.Context
	route map[string]string // route id by host
}

const vaultSite = `host: vault.example.org
backend: http://` + backendAddr + `
health_check: {enabled: true, path: /health, interval: 10s, timeout: 2s}
logging: {mask_ip_method: prefix}
rate_limit:
  failed_logins: {paths: [/login], ban_after: 5, window: 5m, ban_duration: 1h, alert_webhook: true}
`

const panelSite = `host: gpanel.example.org
backend: http://127.0.0.1:19602
slow_request: {thresholds: {warning: 5s, critical: 30s}, alert_webhook: true}
`

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := zaptest.NewLogger(t)
	w := &world{t: t, dir: t.TempDir(), rec: newRecorder(), clk: &clock{t: time.Now()}, ctx: ctx, route: map[string]string{}}
	for _, d := range []string{"sites", "certs"} {
		if err := os.Mkdir(filepath.Join(w.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w.write("global.yaml", "alerts:\n  dataplane_disconnected: {after: 1m}\n")
	w.write("sites/vault.yaml", vaultSite)
	w.write("sites/panel.yaml", panelSite)
	writeCert(t, filepath.Join(w.dir, "certs"), "vault.example.org", time.Now().Add(-time.Hour), time.Now().Add(40*24*time.Hour))

	var err error
	if w.st, err = store.Open(ctx, filepath.Join(w.dir, "proxy.db"), log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.st.Close() })
	w.fl = fleet.New(log)
	if w.rl, err = reloader.New(ctx, log, filepath.Join(w.dir, "global.yaml"), filepath.Join(w.dir, "sites"), filepath.Join(w.dir, "certs"), w.st, w.fl); err != nil {
		t.Fatal(err)
	}
	if _, _, errs := w.rl.Reload(ctx, "startup"); errs != nil {
		t.Fatal(errs)
	}
	snap, _ := w.fl.Current()
	for _, r := range snap.GetRoutes() {
		w.route[r.GetHosts()[0]] = r.GetId()
	}
	w.hc = healthcheck.New(log, w.st, w.fl, healthcheck.Options{Now: w.clk.now})
	if w.cm, err = certmon.New(ctx, log, w.st, certmon.Options{Now: w.clk.now}); err != nil {
		t.Fatal(err)
	}
	w.al = New(log, w.rec, w.fl, w.fl, w.st, Options{Now: w.clk.now, Global: w.rl.Global, PollEvery: 20 * time.Millisecond})
	loop := w.al.Start(ctx, w.hc, w.cm, w.rl)
	done := make(chan struct{})
	go func() { defer close(done); _ = loop() }()
	t.Cleanup(func() { cancel(); <-done })

	// The control plane's gRPC services on loopback: events go through ingest to the store and
	// the detectors, snapshot streams register data planes in the fleet.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	proxyv1.RegisterEventServiceServer(srv, ingest.New(log, w.st, w.fl, w.al))
	proxyv1.RegisterSnapshotServiceServer(srv, w.fl.Service())
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	w.grpc = lis.Addr().String()
	return w
}

func (w *world) write(rel, content string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, rel), []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) conn() *grpc.ClientConn {
	w.t.Helper()
	cc, err := grpc.NewClient(w.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { cc.Close() })
	return cc
}

// sender streams event batches as a data plane does, each acknowledged after it is stored.
type sender struct {
	w      *world
	stream grpc.BidiStreamingClient[proxyv1.StreamEventsRequest, proxyv1.StreamEventsResponse]
	seq    uint64
}

func (w *world) events() *sender {
	s, err := proxyv1.NewEventServiceClient(w.conn()).StreamEvents(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return &sender{w: w, stream: s}
}

func (s *sender) send(reqs []*proxyv1.RequestEvent, sec []*proxyv1.SecurityEvent, circuits ...*proxyv1.CircuitEvent) {
	s.w.t.Helper()
	s.seq++
	b := &proxyv1.EventBatch{NodeId: "dp-1", BootId: "boot-1", Sequence: s.seq, Requests: reqs, Security: sec, Circuits: circuits}
	if err := s.stream.Send(&proxyv1.StreamEventsRequest{Batch: b}); err != nil {
		s.w.t.Fatal(err)
	}
	ack, err := s.stream.Recv()
	if err != nil || ack.GetAck().GetSequence() != s.seq {
		s.w.t.Fatalf("ack %v, %v", ack, err)
	}
}

// serveBackend serves the vault backend on its fixed address until the returned stop is called.
func serveBackend(t *testing.T) (stop func()) {
	t.Helper()
	var lis net.Listener
	var err error
	for range 50 { // the port of a backend just stopped may take a moment to be free again
		if lis, err = net.Listen("tcp", backendAddr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			srv.Close()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestScenarioBackendKilledAndBack(t *testing.T) {
	w := newWorld(t)
	id := w.route["vault.example.org"]
	stop := serveBackend(t)
	snap, _ := w.fl.Current()
	w.hc.SetRoutes(w.ctx, snap.GetRoutes(), nil)
	check := func() {
		t.Helper()
		w.clk.add(10 * time.Second)
		if err := w.hc.Check(w.ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		check()
	}
	if st := w.hc.Statuses(); len(st) != 1 || st[0].State != healthcheck.Healthy {
		t.Fatalf("statuses %+v", st)
	}
	stop() // kill the backend
	for range 4 {
		check()
	}
	down := w.rec.wait(t, alert.ServiceDown)
	if down.RouteID != id || down.Host != "vault.example.org" || down.Backend != "http://"+backendAddr || down.Severity != alert.Critical ||
		!strings.Contains(down.Sample, "connection refused") {
		t.Fatalf("service_down %+v", down)
	}
	serveBackend(t) // back on the same address
	for range 6 {
		check()
	}
	up := w.rec.wait(t, alert.ServiceRecovered)
	if up.RouteID != id || up.Severity != alert.Info || len(up.Fields) < 3 {
		t.Fatalf("service_recovered %+v", up)
	}
	for _, a := range w.rec.take() {
		if a.Type == alert.ServiceDown || a.Type == alert.ServiceRecovered {
			t.Fatalf("more than one alert per transition: %+v", a)
		}
	}
}

func TestScenarioCertificateExpires(t *testing.T) {
	w := newWorld(t)
	snap, _ := w.fl.Current()
	if len(snap.GetCertificates()) != 1 {
		t.Fatalf("certificates %v", snap.GetCertificates())
	}
	notAfter := snap.GetCertificates()[0].GetNotAfter().AsTime()
	for _, tc := range []struct {
		at   time.Duration // before not_after
		want alert.Type
	}{
		{29 * 24 * time.Hour, alert.CertExpiring30d},
		{13 * 24 * time.Hour, alert.CertExpiring14d},
		{6 * 24 * time.Hour, alert.CertExpiring7d},
		{-time.Minute, alert.CertExpired},
	} {
		w.clk.set(notAfter.Add(-tc.at))
		if err := w.cm.Evaluate(w.ctx, snap.GetCertificates()); err != nil {
			t.Fatal(err)
		}
		got := w.rec.wait(t, tc.want)
		if got.Host != "vault.example.org" || got.RouteID != w.route["vault.example.org"] ||
			!hasField(got, "Not after", notAfter.UTC().Format(time.RFC3339)) || !hasField(got, "Days left", fmt.Sprint(certmon.DaysLeft(notAfter, w.clk.now()))) {
			t.Fatalf("%s: %+v", tc.want, got)
		}
	}
}

func TestScenarioConfigRejected(t *testing.T) {
	w := newWorld(t)
	w.write("sites/vault.yaml", strings.Replace(vaultSite, "logging: {mask_ip_method: prefix}", "logging: {mask_ip_method: prefixx}", 1))
	if _, _, errs := w.rl.Reload(w.ctx, "file_watcher"); len(errs) != 1 {
		t.Fatalf("errors %v", errs)
	}
	got := w.rec.wait(t, alert.ConfigRejected)
	if got.Title != "Configuration rejected: vault.yaml:4" || !strings.Contains(got.Sample, "mask_ip_method") ||
		!strings.Contains(got.Description, "version 1 stays live") || len(got.Fields) != 1 || got.Fields[0].Name != "vault.yaml:4" {
		t.Fatalf("config_rejected %+v", got)
	}
}

func TestScenarioDataplaneDisconnected(t *testing.T) {
	w := newWorld(t)
	hello := func() context.CancelFunc {
		ctx, cancel := context.WithCancel(w.ctx)
		s, err := proxyv1.NewSnapshotServiceClient(w.conn()).StreamSnapshots(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(&proxyv1.StreamSnapshotsRequest{Kind: &proxyv1.StreamSnapshotsRequest_Hello{Hello: &proxyv1.Hello{NodeId: "dp-1", BinaryVersion: "test"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil { // the snapshot in force
			t.Fatal(err)
		}
		return cancel
	}
	waitConnected := func(want bool) {
		t.Helper()
		for range 250 {
			if d := w.fl.Dataplanes(); len(d) == 1 && d[0].GetConnected() == want {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("data plane connected is not %v", want)
	}
	end := hello()
	waitConnected(true)
	end() // the stream ends: the data plane is gone
	waitConnected(false)
	w.clk.add(30 * time.Second) // under alerts.dataplane_disconnected.after (1m in global.yaml)
	time.Sleep(100 * time.Millisecond)
	if got := w.rec.take(); len(got) != 0 {
		t.Fatalf("alerted before the configured time: %+v", got)
	}
	w.clk.add(40 * time.Second)
	got := w.rec.wait(t, alert.DataplaneDisconnected)
	if got.Severity != alert.Critical || !hasField(got, "Data plane", "dp-1") || !hasField(got, "Version", "test") {
		t.Fatalf("dataplane_disconnected %+v", got)
	}
	time.Sleep(100 * time.Millisecond) // polls while still gone raise nothing more
	if got := w.rec.take(); len(got) != 0 {
		t.Fatalf("alerted again while gone: %+v", got)
	}
	hello()
	waitConnected(true)
	w.clk.set(time.Now()) // the fleet stamps with the real clock: back in step with it
	back := w.rec.wait(t, alert.DataplaneDisconnected)
	if back.Severity != alert.Info || back.Title != "Data plane back: dp-1" {
		t.Fatalf("recovery %+v", back)
	}
}

func TestScenarioTrafficThroughIngest(t *testing.T) {
	w := newWorld(t)
	vault, panel := w.route["vault.example.org"], w.route["gpanel.example.org"]
	ev := w.events()
	now := w.clk.now()

	// A flood on the login path: failed logins from many clients, then a ban with alert_webhook.
	var logins []*proxyv1.SecurityEvent
	for i := range 12 {
		logins = append(logins, &proxyv1.SecurityEvent{Time: ts(now), Kind: proxyv1.SecurityKind_SECURITY_KIND_FAILED_LOGIN, RouteId: vault,
			ClientIp: fmt.Sprintf("203.0.113.%d", 10+i), Path: "/login", RequestId: fmt.Sprintf("login-%d", i), Action: "logged",
			Rule: "failed_logins", Count: 1, Reason: "login answered 401"})
	}
	ev.send(nil, logins)
	spike := w.rec.wait(t, alert.FailedLoginSpike)
	if spike.RouteID != vault || spike.RequestID != "login-11" || !hasField(spike, "Last client", "203.0.0.0/16") || strings.Contains(fmt.Sprint(spike), "203.0.113.") {
		t.Fatalf("failed_login_spike %+v", spike)
	}
	ev.send(nil, []*proxyv1.SecurityEvent{{Time: ts(now), Kind: proxyv1.SecurityKind_SECURITY_KIND_BANNED, RouteId: vault, ClientIp: "203.0.113.10",
		Path: "/login", RequestId: "login-ban", Action: "banned", Rule: "failed_logins", Count: 5, BanUntil: ts(now.Add(time.Hour)),
		Reason: "5 failed logins in 5m0s", AlertWebhook: true}})
	ban := w.rec.wait(t, alert.RateLimitBan)
	if ban.RequestID != "login-ban" || !hasField(ban, "Client", "203.0.0.0/16") {
		t.Fatalf("rate_limit_ban %+v", ban)
	}
	if bans, _, err := w.st.ActiveBans(w.ctx, now, 10); err != nil || len(bans) != 1 {
		t.Fatalf("the ban was not stored through ingest: %v %v", bans, err)
	}

	// WAF payloads, blocked, on the panel (default mask: last octet).
	var waf []*proxyv1.SecurityEvent
	for i := range 51 {
		waf = append(waf, &proxyv1.SecurityEvent{Time: ts(now), Kind: proxyv1.SecurityKind_SECURITY_KIND_WAF, RouteId: panel, ClientIp: "198.51.100.23",
			Path: "/search", RequestId: fmt.Sprintf("waf-%d", i), Action: "blocked", Rule: "sql_injection", Pattern: "s&1UE",
			Snippet: "' UNION SELECT password FROM users--", Reason: "query q"})
	}
	ev.send(nil, waf)
	wafAlert := w.rec.wait(t, alert.WAFBlockSpike)
	if wafAlert.RouteID != panel || !hasField(wafAlert, "Rule", "sql_injection") || !hasField(wafAlert, "Last client", "198.51.100.xxx") {
		t.Fatalf("waf_block_spike %+v", wafAlert)
	}

	// A login from an unusual country, as the data plane reports it.
	ev.send(nil, []*proxyv1.SecurityEvent{{Time: ts(now), Kind: proxyv1.SecurityKind_SECURITY_KIND_UNUSUAL_COUNTRY, RouteId: vault,
		ClientIp: "2001:db8:5:6::1", Path: "/login", RequestId: "geo-1", Action: "logged", Rule: "alert_on_unusual_country", Country: "BR",
		AlertWebhook: true, Reason: "first login from BR on this route since the data plane started"}})
	geo := w.rec.wait(t, alert.UnusualCountryLogin)
	if geo.RequestID != "geo-1" || !hasField(geo, "Client", "2001:db8:5::/48") || !hasField(geo, "Country", "BR") {
		t.Fatalf("unusual_country_login %+v", geo)
	}

	// Errors of the panel's backend: a circuit opens, the error rate crosses 5%, one request is
	// critically slow; then the circuit closes.
	var reqs []*proxyv1.RequestEvent
	for i := range 40 {
		r := &proxyv1.RequestEvent{Time: ts(now), RequestId: fmt.Sprintf("req-%d", i), RouteId: panel, Host: "gpanel.example.org", Method: "GET",
			Path: "/api/servers", Status: 200, Duration: durationpb.New(20 * time.Millisecond), ClientIp: "198.51.100.xxx", Backend: "http://127.0.0.1:19602"}
		if i%4 == 0 {
			r.Status, r.Error = 503, "circuit open"
		}
		if i == 7 {
			r.Duration, r.Slow = durationpb.New(31*time.Second), "critical"
		}
		reqs = append(reqs, r)
	}
	ev.send(reqs, nil, &proxyv1.CircuitEvent{Time: ts(now), Backend: "http://127.0.0.1:19602", From: "closed", To: "open", Failures: 5, Reason: "5 failures in 10s"})
	rate := w.rec.wait(t, alert.HighErrorRate)
	if rate.RouteID != panel || !hasField(rate, "Errors", "10 / 40") || rate.RequestID != "req-36" {
		t.Fatalf("high_error_rate %+v", rate)
	}
	if slow := w.rec.wait(t, alert.SlowRequestCritical); slow.RequestID != "req-7" || slow.RouteID != panel {
		t.Fatalf("slow_request_critical %+v", slow)
	}
	if open := w.rec.wait(t, alert.CircuitOpen); open.RouteID != panel || open.Backend != "http://127.0.0.1:19602" {
		t.Fatalf("circuit_open %+v", open)
	}
	ev.send(nil, nil, &proxyv1.CircuitEvent{Time: ts(now), Backend: "http://127.0.0.1:19602", From: "half-open", To: "closed"})
	if closed := w.rec.wait(t, alert.CircuitClosed); closed.Host != "gpanel.example.org" {
		t.Fatalf("circuit_closed %+v", closed)
	}

	// Nothing carries a raw client address.
	for _, a := range w.rec.take() {
		t.Errorf("unexpected alert %+v", a)
	}
}

// writeCert writes a self-signed certificate for name valid from notBefore to notAfter, and its
// key, as <name>.crt and <name>.key in dir.
func writeCert(t *testing.T, dir, name string, notBefore, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The ingest service calls the detectors with every stored batch (asserted here: importing ingest
// from the package itself would make a cycle through the admin API).
var _ ingest.Observer = (*Alerts)(nil)
