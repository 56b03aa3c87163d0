package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 8, checked by 2: every alert caused for real through the binaries arrives at a local
// receiver: a backend killed and revived, certificates near their end and one that expires, a
// login path flooded and failed logins, WAF payloads, a critically slow request, a failing
// backend (error rate and circuit breaker), a data plane gone and back, a broken site file, the
// admin's test message and breach notification. The receiver verifies the generic signature as
// docs/alerts.md tells a receiver to, and checks the Discord embeds against Discord's limits.
// No delivered body carries the client's raw address (127.0.0.1); the backends listen on
// 127.0.0.2, so that their addresses in service_down are not mistaken for it.
// unusual_country_login needs an hour of warm-up and backup_failed a backup job: the detectors'
// unit tests cover them.
func TestAlertsReachTheWebhooks(t *testing.T) {
	hooks := newHookReceiver(t)
	app := newKillableBackend(t)
	be := loopback2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/signin" {
			http.Error(w, "wrong password", http.StatusUnauthorized)
			return
		}
		if ms, _ := strconv.Atoi(r.URL.Query().Get("sleep_ms")); ms > 0 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		io.WriteString(w, "ok")
	}))
	var failing atomic.Bool // the flaky backend answers 503 while set
	flaky := loopback2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))

	keyFile := filepath.Join(t.TempDir(), "webhook_key")
	writeFile(t, keyFile, hex.EncodeToString(hooks.key)+"\n") // the trailing newline is not part of the key
	global := fmt.Sprintf(`webhooks:
  - name: e2e-generic
    url: %[1]s/generic
    events: [%[2]s]
    throttle: 0
    secret_file: %[3]s
  - name: e2e-discord
    url: %[1]s/discord
    format: discord
    events: [service_down, service_recovered, cert_expired, waf_block_spike, rate_limit_ban, circuit_closed, config_rejected, security_incident]
    throttle: 0
alerts:
  dataplane_disconnected:
    after: 10s
`, hooks.srv.URL, strings.Join(alertTypes, ", "), keyFile)
	cl := newCluster(t, global, map[string]string{
		"app.yaml": flatSite("app.test", app.url) + "health_check:\n  interval: 1s\n  timeout: 500ms\n  path: /health\n",
		"vault.yaml": flatSite("vault.test", be.URL) + `rate_limit:
  paths:
    - path: /login
      per_ip: 2
      ban_after: 2
      ban_duration: 1h
      alert_webhook: true
`,
		"auth.yaml": flatSite("auth.test", be.URL) + `rate_limit:
  failed_logins:
    paths: [/signin]
    ban_after: 12
    window: 1m
    ban_duration: 1h
    alert_webhook: true
`,
		"shop.yaml": flatSite("shop.test", be.URL) + "waf:\n  mode: block\n",
		// A certificate of a host redirects its plain HTTP to HTTPS: the expiring one has its own.
		"cert.yaml":  flatSite("cert.test", be.URL),
		"slow.yaml":  flatSite("slow.test", be.URL) + "slow_request:\n  thresholds:\n    warning: 50ms\n    critical: 100ms\n  alert_webhook: true\n",
		"quiet.yaml": flatSite("quiet.test", be.URL) + "slow_request:\n  thresholds:\n    warning: 50ms\n    critical: 100ms\n",
		"flaky.yaml": flatSite("flaky.test", flaky.URL) + `circuit_breaker:
  failure_threshold: 3
  success_threshold: 1
  timeout: 1s
  window: 60s
`,
	})
	cl.startCP()
	cl.startDP("node-1")
	admin := "http://" + cl.adminAddr

	// The scenarios touch different routes and run side by side; config_rejected comes after
	// them, since a broken site file refuses every reload (the certificate's among them).
	t.Run("scenarios", func(t *testing.T) {
		t.Run("service_down and service_recovered", func(t *testing.T) {
			t.Parallel()
			eventually(t, 15*time.Second, "app.test/ healthy", func() error {
				return routeHealth(cl, "app.test/", "healthy")
			})
			app.kill(t)
			// Down is under 50% of the last minute's checks: after up to a minute of successes
			// (the cluster's age when the backend dies, longer under load), up to 31 failures.
			down := hooks.await(t, 45*time.Second, "service_down of app.test", func(a hookAlert) bool {
				return a.Type == "service_down" && a.Host == "app.test"
			})
			wantAlert(t, down, "critical", "app.test/", "app.test")
			if down.Backend != app.url || down.Sample == "" || down.field("Checks passed") == "" {
				t.Errorf("service_down: backend %q sample %q fields %+v, want %s, the check's error and the share passed", down.Backend, down.Sample, down.Fields, app.url)
			}
			hooks.awaitDiscord(t, 10*time.Second, "🚨 Service down: app.test", 15158332)

			app.revive(t)
			up := hooks.await(t, 45*time.Second, "service_recovered of app.test", func(a hookAlert) bool {
				return a.Type == "service_recovered" && a.Host == "app.test"
			})
			wantAlert(t, up, "info", "app.test/", "app.test")
			if up.field("Down for") == "" {
				t.Errorf("service_recovered: no Down for field: %+v", up.Fields)
			}
			hooks.awaitDiscord(t, 10*time.Second, "✅ Service recovered: app.test", 3066993)
		})

		t.Run("cert_expiring and cert_expired", func(t *testing.T) {
			t.Parallel()
			// Certificates of hosts no site serves with 20 and 10 days left, and one of cert.test
			// with a few seconds left: critical (under 7 days) when it is loaded, expired a
			// moment later, without anything else happening.
			ca, certs := newTestCA(t), filepath.Join(cl.dir, "certs")
			for i, name := range []string{"thirty.test", "fourteen.test"} {
				crt, key := issueUntil(t, ca, int64(82+i), time.Now().Add(time.Duration(20-10*i)*24*time.Hour), name)
				certbotLineage(t, certs, name, 1, crt, key)
			}
			notAfter := time.Now().Add(10 * time.Second).Truncate(time.Second)
			crt, key := issueUntil(t, ca, 81, notAfter, "cert.test")
			certbotLineage(t, certs, "cert.test", 1, crt, key)
			for _, c := range []struct {
				typ, host string
				days      int
			}{{"cert_expiring_30d", "thirty.test", 19}, {"cert_expiring_14d", "fourteen.test", 9}} {
				a := hooks.await(t, 10*time.Second, c.typ+" of "+c.host, func(a hookAlert) bool { return a.Type == c.typ && a.Host == c.host })
				wantAlert(t, a, "warning", "", c.host)
				if n, err := strconv.Atoi(a.field("Days left")); err != nil || n < c.days || n > c.days+1 {
					t.Errorf("%s: days left %q, want %d or %d", c.typ, a.field("Days left"), c.days, c.days+1)
				}
			}
			soon := hooks.await(t, 10*time.Second, "cert_expiring_7d of cert.test", func(a hookAlert) bool {
				return a.Type == "cert_expiring_7d" && a.Host == "cert.test"
			})
			wantAlert(t, soon, "critical", "cert.test/", "cert.test")
			if soon.field("Days left") != "0" || soon.field("Not after") != notAfter.UTC().Format(time.RFC3339) {
				t.Errorf("cert_expiring_7d fields %+v, want 0 days left, not after %s", soon.Fields, notAfter.UTC().Format(time.RFC3339))
			}
			expired := hooks.await(t, 20*time.Second, "cert_expired of cert.test", func(a hookAlert) bool {
				return a.Type == "cert_expired" && a.Host == "cert.test"
			})
			wantAlert(t, expired, "critical", "cert.test/", "cert.test")
			if at, err := time.Parse(time.RFC3339, expired.Time); err != nil || at.Before(notAfter) {
				t.Errorf("cert_expired at %q (%v), want after %s", expired.Time, err, notAfter.Format(time.RFC3339))
			}
			hooks.awaitDiscord(t, 10*time.Second, "🚨 Certificate expired: cert.test", 15158332)
		})

		t.Run("rate_limit_ban", func(t *testing.T) {
			t.Parallel()
			var got []int
			for i := range 4 {
				s, _ := statusOf(t, cl.client, cl.httpAddr, "vault.test", "/login", "X-Request-ID", fmt.Sprintf("e2e-ban-%d", i+1))
				got = append(got, s)
			}
			if fmt.Sprint(got) != "[200 200 429 429]" {
				t.Fatalf("logins on vault.test: %v, want [200 200 429 429]", got)
			}
			ban := hooks.await(t, 10*time.Second, "rate_limit_ban on vault.test", func(a hookAlert) bool {
				return a.Type == "rate_limit_ban" && a.Host == "vault.test"
			})
			wantAlert(t, ban, "warning", "vault.test/", "vault.test")
			if ban.field("Client") != "127.0.0.xxx" || ban.RequestID != "e2e-ban-4" || ban.Sample != "/login" || ban.field("Until") == "" {
				t.Errorf("rate_limit_ban: client %q request %q sample %q fields %+v, want 127.0.0.xxx, e2e-ban-4, /login and an end",
					ban.field("Client"), ban.RequestID, ban.Sample, ban.Fields)
			}
			hooks.awaitDiscord(t, 10*time.Second, "⚠️ Client banned: 127.0.0.xxx on vault.test", 15105570)
		})

		t.Run("failed_login_spike", func(t *testing.T) {
			t.Parallel()
			for i := range 12 {
				if s, _ := statusOf(t, cl.client, cl.httpAddr, "auth.test", "/signin", "X-Request-ID", fmt.Sprintf("e2e-login-%02d", i+1)); s != 401 {
					t.Fatalf("failed login %d on auth.test: %d, want the backend's 401", i+1, s)
				}
			}
			spike := hooks.await(t, 10*time.Second, "failed_login_spike on auth.test", func(a hookAlert) bool {
				return a.Type == "failed_login_spike" && a.Host == "auth.test"
			})
			wantAlert(t, spike, "warning", "auth.test/", "auth.test")
			if n, _ := strconv.Atoi(spike.field("Count")); n <= 10 || spike.field("Last client") != "127.0.0.xxx" ||
				spike.field("Last path") != "/signin" || !strings.HasPrefix(spike.RequestID, "e2e-login-") {
				t.Errorf("failed_login_spike: %+v, want more than 10, client 127.0.0.xxx, /signin and one of the requests", spike)
			}
			// The twelfth failure banned the client, and failed_logins.alert_webhook reports it.
			ban := hooks.await(t, 10*time.Second, "rate_limit_ban on auth.test", func(a hookAlert) bool {
				return a.Type == "rate_limit_ban" && a.Host == "auth.test"
			})
			if ban.field("Rule") != "failed_logins" || ban.field("Client") != "127.0.0.xxx" || ban.RequestID != "e2e-login-12" {
				t.Errorf("the failed logins' ban: %+v, want rule failed_logins, client 127.0.0.xxx, request e2e-login-12", ban)
			}
		})

		t.Run("waf_block_spike", func(t *testing.T) {
			t.Parallel()
			attack := "/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--"
			for i := range 51 {
				if s, _ := statusOf(t, cl.client, cl.httpAddr, "shop.test", attack, "X-Request-ID", fmt.Sprintf("e2e-waf-%02d", i+1)); s != 403 {
					t.Fatalf("attack %d on shop.test: %d, want 403", i+1, s)
				}
			}
			spike := hooks.await(t, 10*time.Second, "waf_block_spike on shop.test", func(a hookAlert) bool {
				return a.Type == "waf_block_spike" && a.Host == "shop.test"
			})
			wantAlert(t, spike, "warning", "shop.test/", "shop.test")
			if n, _ := strconv.Atoi(spike.field("Count")); n <= 50 || spike.field("Rule") != "sql_injection" ||
				spike.field("Last client") != "127.0.0.xxx" || spike.field("Last path") != "/search" ||
				!strings.HasPrefix(spike.RequestID, "e2e-waf-") || spike.Sample != "sql_injection /search from 127.0.0.xxx" {
				t.Errorf("waf_block_spike: %+v, want more than 50 sql_injection blocks of /search from 127.0.0.xxx", spike)
			}
			hooks.awaitDiscord(t, 10*time.Second, "⚠️ WAF blocks spike: shop.test", 15105570)
		})

		t.Run("slow_request_critical", func(t *testing.T) {
			t.Parallel()
			// quiet.test has the same thresholds without alert_webhook: its slow request is
			// logged, not alerted. It goes first, so its alert would come first.
			for _, host := range []string{"quiet.test", "slow.test"} {
				if s, _ := statusOf(t, cl.client, cl.httpAddr, host, "/report?sleep_ms=150", "X-Request-ID", "e2e-slow-"+host); s != 200 {
					t.Fatalf("%s: %d, want 200", host, s)
				}
			}
			slow := hooks.await(t, 10*time.Second, "slow_request_critical of slow.test", func(a hookAlert) bool {
				return a.Type == "slow_request_critical" && a.Host == "slow.test"
			})
			wantAlert(t, slow, "warning", "slow.test/", "slow.test")
			if slow.RequestID != "e2e-slow-slow.test" || slow.Sample != "GET /report" || slow.Backend != be.URL || slow.field("Client") != "127.0.0.xxx" {
				t.Errorf("slow_request_critical: %+v, want the request, GET /report, the backend and client 127.0.0.xxx", slow)
			}
			if quiet := hooks.received("slow_request_critical", "quiet.test"); quiet != 0 {
				t.Errorf("%d slow_request_critical alerts of quiet.test, whose slow_request has no alert_webhook", quiet)
			}
		})

		t.Run("high_error_rate, circuit_open and circuit_closed", func(t *testing.T) {
			t.Parallel()
			// 20 requests (alerts.error_rate.min_requests) to a failing backend: three 503s of
			// its own open the circuit, the rest are the breaker's 503s.
			failing.Store(true)
			for i := range 20 {
				if s, _ := statusOf(t, cl.client, cl.httpAddr, "flaky.test", "/", "X-Request-ID", fmt.Sprintf("e2e-flaky-%02d", i+1)); s != 503 {
					t.Fatalf("request %d to flaky.test: %d, want 503", i+1, s)
				}
			}
			open := hooks.await(t, 10*time.Second, "circuit_open of flaky.test", func(a hookAlert) bool {
				return a.Type == "circuit_open" && a.Host == "flaky.test"
			})
			wantAlert(t, open, "critical", "flaky.test/", "flaky.test")
			if open.Backend != flaky.URL || open.field("Data plane") != "node-1" || open.field("Failures") != "3" {
				t.Errorf("circuit_open: %+v, want the backend, node-1 and 3 failures", open)
			}
			high := hooks.await(t, 10*time.Second, "high_error_rate of flaky.test", func(a hookAlert) bool {
				return a.Type == "high_error_rate" && a.Host == "flaky.test"
			})
			wantAlert(t, high, "critical", "flaky.test/", "flaky.test")
			if high.field("Errors") != "20 / 20" || !strings.HasPrefix(high.RequestID, "e2e-flaky-") || !strings.HasPrefix(high.Sample, "GET / → 503") {
				t.Errorf("high_error_rate: %+v, want 20 / 20 errors with a failed request as sample", high)
			}

			// Back: after the breaker's timeout (1s) a probe passes and closes it.
			failing.Store(false)
			eventually(t, 10*time.Second, "flaky.test served again", func() error {
				if s, _ := statusOf(t, cl.client, cl.httpAddr, "flaky.test", "/"); s != 200 {
					return fmt.Errorf("status %d", s)
				}
				return nil
			})
			closed := hooks.await(t, 10*time.Second, "circuit_closed of flaky.test", func(a hookAlert) bool {
				return a.Type == "circuit_closed" && a.Host == "flaky.test"
			})
			wantAlert(t, closed, "info", "flaky.test/", "flaky.test")
			hooks.awaitDiscord(t, 10*time.Second, "✅ Circuit closed: flaky.test", 3066993)
		})

		t.Run("dataplane_disconnected", func(t *testing.T) {
			t.Parallel()
			// A second data plane, silent for more than alerts.dataplane_disconnected.after
			// (10s; the detector looks every 10s), then back.
			ops, tlsAddr := freeAddr(t), freeTCPUDPAddr(t)
			env := []string{"PROXY_CONTROLPLANE_ADDR=" + cl.grpcAddr, "PROXY_GRPC_TOKEN_FILE=" + cl.token, "PROXY_NODE_ID=node-2",
				"PROXY_LISTEN_ADDR=" + freeAddr(t), "PROXY_OPS_ADDR=" + ops, "PROXY_TLS_ADDR=" + tlsAddr, "PROXY_H3_ADDR=" + tlsAddr,
				"PROXY_SHUTDOWN_TIMEOUT=1s", "LOG_LEVEL=info", "LOG_FORMAT=json"}
			ready := func() {
				eventually(t, 20*time.Second, "node-2 ready", func() error { return httpStatus(cl.client, "http://"+ops+"/health/ready", 200) })
			}
			dp2 := start(t, "dataplane-node-2", bins.dataplane, env)
			ready()
			dp2.kill()
			gone := hooks.await(t, 30*time.Second, "dataplane_disconnected of node-2", func(a hookAlert) bool {
				return a.Type == "dataplane_disconnected" && a.Severity == "critical"
			})
			if gone.Title != "Data plane disconnected: node-2" || gone.field("Data plane") != "node-2" || gone.Host != "" {
				t.Errorf("dataplane_disconnected: %+v, want node-2", gone)
			}
			start(t, "dataplane-node-2", bins.dataplane, env)
			ready()
			back := hooks.await(t, 25*time.Second, "node-2 back", func(a hookAlert) bool {
				return a.Type == "dataplane_disconnected" && a.Severity == "info"
			})
			if back.Title != "Data plane back: node-2" {
				t.Errorf("dataplane back: %+v, want node-2", back)
			}
		})

		t.Run("test message, deliveries and security_incident", func(t *testing.T) {
			t.Parallel()
			var res struct {
				MessageID string `json:"message_id"`
				Delivered bool   `json:"delivered"`
				Attempts  []struct {
					StatusCode int `json:"status_code"`
				} `json:"attempts"`
			}
			if err := postAdmin(cl.client, admin+"/api/webhooks/test?name=e2e-generic", "", 200, &res); err != nil {
				t.Fatal(err)
			}
			if !res.Delivered || len(res.Attempts) != 1 || res.Attempts[0].StatusCode != 200 {
				t.Errorf("test message: %+v, want delivered at the first attempt", res)
			}
			msg := hooks.await(t, 5*time.Second, "the test message", func(a hookAlert) bool { return a.Type == "test" })
			if msg.ID != res.MessageID || msg.Webhook != "e2e-generic" {
				t.Errorf("test message %+v, want id %s from e2e-generic", msg, res.MessageID)
			}
			if err := postAdmin(cl.client, admin+"/api/webhooks/test?name=e2e-discord", "", 200, nil); err != nil {
				t.Error(err)
			}
			if err := postAdmin(cl.client, admin+"/api/webhooks/test?name=nope", "", 404, nil); err != nil {
				t.Error(err)
			}
			eventually(t, 5*time.Second, "the test message in /api/webhooks/deliveries", func() error {
				ds, err := webhookDeliveries(cl, "?webhook=e2e-generic&event=test")
				if err != nil {
					return err
				}
				if len(ds) != 1 || ds[0].MessageID != res.MessageID || ds[0].StatusCode != 200 || ds[0].Attempt != 1 || ds[0].Error != "" {
					return fmt.Errorf("%+v, want the one delivered attempt of %s", ds, res.MessageID)
				}
				return nil
			})

			incident := `{"summary": "Admin token leaked in a public paste", "details": "Rotated at 10:42; sessions revoked.", "affected": ["vault.test"]}`
			if err := postAdmin(cl.client, admin+"/api/alerts/security-incident", incident, 201, nil); err != nil {
				t.Fatal(err)
			}
			inc := hooks.await(t, 5*time.Second, "security_incident", func(a hookAlert) bool { return a.Type == "security_incident" })
			wantAlert(t, inc, "critical", "", "")
			if inc.Title != "Security incident: Admin token leaked in a public paste" || inc.Description != "Rotated at 10:42; sessions revoked." ||
				inc.field("Affected") != "vault.test" || inc.field("Declared by") != "127.0.0.xxx" {
				t.Errorf("security_incident: %+v, want the summary, details, affected and the masked caller", inc)
			}
			hooks.awaitDiscord(t, 5*time.Second, "🚨 Security incident: Admin token leaked in a public paste", 15158332)
		})
	})

	t.Run("config_rejected", func(t *testing.T) {
		broken := filepath.Join(cl.sites, "broken.yaml")
		writeFile(t, broken, "host: broken.test\nbackend: "+be.URL+"\ntimeouts:\n  connect: soon\n")
		rej := hooks.await(t, 10*time.Second, "config_rejected", func(a hookAlert) bool { return a.Type == "config_rejected" })
		wantAlert(t, rej, "warning", "", "")
		if !strings.HasPrefix(rej.Title, "Configuration rejected: broken.yaml:4") || !strings.HasPrefix(rej.Sample, "broken.yaml:4") ||
			rej.field("broken.yaml:4") == "" || !strings.Contains(rej.Sample, "connect") {
			t.Errorf("config_rejected: %+v, want broken.yaml:4 and the reason naming connect", rej)
		}
		hooks.awaitDiscord(t, 5*time.Second, "⚠️ Configuration rejected: broken.yaml:4", 15105570)
		if err := os.Remove(broken); err != nil {
			t.Fatal(err)
		}
	})

	// Every attempt was recorded as delivered at the first try, every type above among them.
	want := []string{"service_down", "service_recovered", "cert_expiring_30d", "cert_expiring_14d", "cert_expiring_7d", "cert_expired", "rate_limit_ban",
		"failed_login_spike", "waf_block_spike", "slow_request_critical", "high_error_rate", "circuit_open", "circuit_closed",
		"dataplane_disconnected", "config_rejected", "security_incident", "test"}
	eventually(t, 5*time.Second, "every delivery in /api/webhooks/deliveries", func() error {
		ds, err := webhookDeliveries(cl, "?limit=1000")
		if err != nil {
			return err
		}
		if got, sent := len(ds), hooks.count(); got != sent {
			return fmt.Errorf("%d deliveries recorded, %d received", got, sent)
		}
		seen := map[string]bool{}
		for _, d := range ds {
			if d.Attempt != 1 || d.Error != "" || (d.StatusCode != 200 && d.StatusCode != 204) {
				return fmt.Errorf("delivery %+v, want delivered at the first attempt", d)
			}
			seen[d.Event] = true
		}
		for _, e := range want {
			if !seen[e] {
				return fmt.Errorf("no delivery of %s", e)
			}
		}
		return nil
	})
	hooks.check(t)
}

// alertTypes are the event names a webhook can subscribe to (docs/alerts.md, "Events").
var alertTypes = []string{"service_down", "service_recovered", "cert_expiring_30d", "cert_expiring_14d", "cert_expiring_7d",
	"cert_expired", "high_error_rate", "failed_login_spike", "waf_block_spike", "rate_limit_ban", "unusual_country_login",
	"slow_request_critical", "circuit_open", "circuit_closed", "config_rejected", "dataplane_disconnected", "backup_failed",
	"security_incident"}

// wantAlert checks what every generic message of a scenario carries.
func wantAlert(t *testing.T, a hookAlert, severity, routeID, host string) {
	t.Helper()
	if a.Severity != severity || a.RouteID != routeID || a.Host != host || a.Webhook != "e2e-generic" || a.Suppressed != 0 {
		t.Errorf("%s: severity %q route %q host %q webhook %q suppressed %d, want %q, %q, %q, e2e-generic, 0",
			a.Type, a.Severity, a.RouteID, a.Host, a.Webhook, a.Suppressed, severity, routeID, host)
	}
	if _, err := time.Parse(time.RFC3339, a.Time); err != nil {
		t.Errorf("%s: time %q: %v", a.Type, a.Time, err)
	}
}

// killableBackend is a health-checked backend on a fixed address of 127.0.0.2 that can be
// stopped (connections refused) and started again on the same address.
type killableBackend struct {
	url, addr string
	srv       *http.Server
}

func newKillableBackend(t *testing.T) *killableBackend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	k := &killableBackend{addr: l.Addr().String()}
	k.url = "http://" + k.addr
	k.serve(l)
	t.Cleanup(func() { k.srv.Close() })
	return k
}

func (k *killableBackend) serve(l net.Listener) {
	k.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }),
		ReadHeaderTimeout: 5 * time.Second}
	go k.srv.Serve(l)
}

func (k *killableBackend) kill(t *testing.T) {
	t.Helper()
	if err := k.srv.Close(); err != nil {
		t.Fatal(err)
	}
}

func (k *killableBackend) revive(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", k.addr)
	if err != nil {
		t.Fatal(err)
	}
	k.serve(l)
}

// loopback2Server is an httptest server on 127.0.0.2.
func loopback2Server(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// issueUntil is testCA.issue with a chosen end of validity.
func issueUntil(t *testing.T, ca *testCA, serial int64, notAfter time.Time, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, DNSNames: names,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
}

// routeHealth checks a route's state in /api/health.
func routeHealth(cl *cluster, routeID, want string) error {
	var h struct {
		Routes []struct {
			RouteID string `json:"route_id"`
			State   string `json:"state"`
		} `json:"routes"`
	}
	if err := getJSON(cl.client, "http://"+cl.adminAddr+"/api/health", 200, &h); err != nil {
		return err
	}
	for _, r := range h.Routes {
		if r.RouteID == routeID {
			if r.State != want {
				return fmt.Errorf("%s is %s", routeID, r.State)
			}
			return nil
		}
	}
	return fmt.Errorf("%s not in %+v", routeID, h.Routes)
}

type webhookDelivery struct {
	MessageID  string `json:"message_id"`
	Webhook    string `json:"webhook"`
	Event      string `json:"event"`
	Host       string `json:"host"`
	Attempt    int    `json:"attempt"`
	StatusCode int    `json:"status_code"`
	Error      string `json:"error"`
}

func webhookDeliveries(cl *cluster, query string) ([]webhookDelivery, error) {
	var d struct {
		Deliveries []webhookDelivery `json:"deliveries"`
	}
	err := getJSON(cl.client, "http://"+cl.adminAddr+"/api/webhooks/deliveries"+query, 200, &d)
	return d.Deliveries, err
}

// postAdmin POSTs body to url, requires status want and decodes the answer into v.
func postAdmin(cl *http.Client, url, body string, want int, v any) error {
	res, err := cl.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("POST %s: %d, want %d: %s", url, res.StatusCode, want, b)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("POST %s: %w: %s", url, err, b)
	}
	return nil
}
