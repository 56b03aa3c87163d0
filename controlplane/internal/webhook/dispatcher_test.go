package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/config"
)

// receiver is a local webhook endpoint: it records what it is sent and answers 204, or what
// answer says (n counts the requests to a path from 1).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	calls  map[string]int
	answer func(path string, n int, w http.ResponseWriter)
}

type received struct {
	path   string
	header http.Header
	body   []byte
	at     time.Time
}

func newReceiver(t *testing.T, answer func(path string, n int, w http.ResponseWriter)) *receiver {
	r := &receiver{calls: map[string]int{}, answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			t.Errorf("receiver: %v", err)
		}
		r.mu.Lock()
		r.got = append(r.got, received{path: req.URL.Path, header: req.Header.Clone(), body: body, at: time.Now()})
		r.calls[req.URL.Path]++
		n := r.calls[req.URL.Path]
		r.mu.Unlock()
		if r.answer != nil {
			r.answer(req.URL.Path, n, w)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns what reached path once n requests did.
func (r *receiver) wait(t *testing.T, path string, n int) []received {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		var out []received
		for _, g := range r.got {
			if g.path == path {
				out = append(out, g)
			}
		}
		r.mu.Unlock()
		if len(out) >= n || time.Now().After(deadline) {
			if len(out) != n {
				t.Fatalf("%s: %d requests, want %d", path, len(out), n)
			}
			return out
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// configs is the configuration in force, swapped like the reloader's.
type configs struct{ g atomic.Pointer[config.Global] }

func (c *configs) Global() *config.Global { return c.g.Load() }

// global parses a global file, as the reloader does.
func global(t *testing.T, yaml string) *config.Global {
	t.Helper()
	g, err := config.ParseGlobal("global.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// fakeClock is the throttle's clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	st   *store.Store
	cfg  *configs
	d    *Dispatcher
	stop func()
}

// start runs a dispatcher on a real store in a temporary directory.
func start(t *testing.T, g *config.Global, opts Options) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "proxy.db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, cfg: &configs{}}
	f.cfg.g.Store(g)
	if opts.Backoff == 0 {
		opts.Backoff = 10 * time.Millisecond
	}
	f.d = New(zaptest.NewLogger(t), f.cfg, st, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.d.Run(ctx) }()
	var once sync.Once
	f.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(func() {
		f.stop()
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

// deliveries waits until the store holds n attempts of webhook, and returns them oldest first.
func (f *fixture) deliveries(t *testing.T, webhook string, n int) []store.WebhookDelivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, err := f.st.WebhookDeliveries(context.Background(), store.WebhookDeliveryQuery{Webhook: webhook, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) >= n || time.Now().After(deadline) {
			if len(ds) != n {
				t.Fatalf("%s: %d deliveries recorded, want %d: %+v", webhook, len(ds), n, ds)
			}
			slices.Reverse(ds)
			return ds
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func writeSecret(t *testing.T, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "webhook_secret")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// verify is what docs/alerts.md tells a receiver to do: recompute the HMAC of
// timestamp + "." + body, compare in constant time, and refuse a timestamp over 5 minutes off.
func verify(secret []byte, h http.Header, body []byte, now time.Time) error {
	ts, err := strconv.ParseInt(h.Get("X-Webhook-Timestamp"), 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp: %w", err)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("too old: a replay")
	}
	mac := hmac.New(sha256.New, secret)
	fmt.Fprintf(mac, "%d.", ts)
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(h.Get("X-Signature-256"))) {
		return errors.New("bad signature")
	}
	return nil
}

// TestEveryEventReachesEachFormat: one alert of every type, each to a Discord, a Slack and a
// generic webhook: every payload is well formed, every generic one signed, every attempt
// recorded.
func TestEveryEventReachesEachFormat(t *testing.T) {
	rcv := newReceiver(t, nil)
	secret := writeSecret(t, "s3cret-key")
	events := strings.Join(config.WebhookEvents(), ", ")
	g := global(t, fmt.Sprintf(`
webhooks:
  - {name: discord, url: '%[1]s/discord', format: discord, events: [%[2]s]}
  - {name: slack, url: '%[1]s/slack', format: slack, events: [%[2]s]}
  - {name: generic, url: '%[1]s/generic', events: [%[2]s], secret_file: %[3]s}
`, rcv.srv.URL, events, secret))
	f := start(t, g, Options{})
	types := alert.Types()
	for i, ty := range types {
		a := longAlert(ty)
		a.Severity = alert.Severity(i % 3)
		a.Title = fmt.Sprintf("alert %d", i)
		f.d.Send(a)
	}
	discord := rcv.wait(t, "/discord", len(types))
	slack := rcv.wait(t, "/slack", len(types))
	generic := rcv.wait(t, "/generic", len(types))
	for i, ty := range types {
		a := longAlert(ty)
		a.Severity = alert.Severity(i % 3)
		a.Title = fmt.Sprintf("alert %d", i)
		checkDiscord(t, discord[i].body, message{alert: a})
		checkSlack(t, slack[i].body, message{alert: a})
		for _, r := range []received{discord[i], slack[i]} {
			if r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Signature-256") != "" {
				t.Errorf("%s %s: headers %v", r.path, ty, r.header)
			}
		}

		r := generic[i]
		if err := verify([]byte("s3cret-key"), r.header, r.body, time.Now()); err != nil {
			t.Errorf("generic %s: %v", ty, err)
		}
		if err := verify([]byte("s3cret-key"), r.header, r.body, time.Now().Add(6*time.Minute)); err == nil {
			t.Errorf("generic %s: a replay 6 minutes later verified", ty)
		}
		tampered := bytes.Replace(r.body, []byte(`"critical"`), []byte(`"info"`), 1)
		tampered = bytes.Replace(tampered, []byte(`"warning"`), []byte(`"info"`), 1)
		if err := verify([]byte("s3cret-key"), r.header, append(tampered, ' '), time.Now()); err == nil {
			t.Errorf("generic %s: a changed body verified", ty)
		}
		var got genericMessage
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("generic %s: %v", ty, err)
		}
		if got.Type != string(ty) || got.Title != a.Title || got.Description != a.Description || got.Sample != a.Sample ||
			got.Host != a.Host || got.Severity != a.Severity.String() || len(got.Fields) != len(a.Fields) || got.Webhook != "generic" ||
			len(got.ID) != 32 || got.Time != "2026-11-22T09:00:00Z" {
			t.Errorf("generic %s: %+v", ty, got)
		}
	}
	for _, name := range []string{"discord", "slack", "generic"} {
		ds := f.deliveries(t, name, len(types))
		for i, d := range ds {
			if d.Event != string(types[i]) || d.Attempt != 1 || d.StatusCode != 204 || d.Error != "" || d.Host != "gpanel.chilla55.de" {
				t.Errorf("%s delivery %d: %+v", name, i, d)
			}
		}
	}
}

// TestThrottleReportsSuppressed: within the throttle period, alerts of one type to one webhook
// are held back and counted; the next message of the type says how many.
func TestThrottleReportsSuppressed(t *testing.T) {
	rcv := newReceiver(t, nil)
	clock := &fakeClock{t: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	f := start(t, global(t, fmt.Sprintf(`
webhooks:
  - {name: ops, url: '%s/ops', format: discord, events: [waf_block_spike, service_down], throttle: 300}
`, rcv.srv.URL)), Options{Now: clock.Now})
	spike := alert.Alert{Type: alert.WAFBlockSpike, Severity: alert.Warning, Title: "WAF block spike", Host: "vault.chilla55.de"}
	f.d.Send(spike) // 09:00: sent
	rcv.wait(t, "/ops", 1)
	for range 7 {
		clock.Add(30 * time.Second) // 09:00:30 ... 09:03:30: held back
		f.d.Send(spike)
	}
	f.d.Send(alert.Alert{Type: alert.ServiceDown, Severity: alert.Critical, Title: "down"}) // another type: not throttled
	rcv.wait(t, "/ops", 2)
	clock.Add(2 * time.Minute) // 09:05:30: 5m30s after the last message
	f.d.Send(spike)
	got := rcv.wait(t, "/ops", 3)

	fieldsOf := func(r received) map[string]string {
		var msg discordMessage
		if err := json.Unmarshal(r.body, &msg); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, f := range msg.Embeds[0].Fields {
			out[f.Name] = f.Value
		}
		return out
	}
	if _, ok := fieldsOf(got[0])["Suppressed"]; ok {
		t.Errorf("first message reports suppressed alerts: %s", got[0].body)
	}
	if s, ok := fieldsOf(got[1])["Suppressed"]; ok {
		t.Errorf("service_down counted the WAF spikes: %s", s)
	}
	if s := fieldsOf(got[2])["Suppressed"]; s != "7 similar alerts in the last 6m" {
		t.Errorf("third message: Suppressed = %q, want 7 similar alerts in the last 6m (5m30s rounded)", s)
	}
	ds := f.deliveries(t, "ops", 3)
	if ds[0].Suppressed != 0 || ds[2].Suppressed != 7 || ds[2].Event != "waf_block_spike" {
		t.Errorf("recorded suppressed counts: %+v", ds)
	}
}

// TestFailingReceiverIsRetriedAndRecorded: server errors are retried with backoff until the
// attempts run out, a 429's Retry-After is honoured, a 4xx is not retried, and every attempt is
// recorded with its status and error; the webhook URL (a credential) appears in no error.
func TestFailingReceiverIsRetriedAndRecorded(t *testing.T) {
	rcv := newReceiver(t, func(path string, n int, w http.ResponseWriter) {
		switch {
		case path == "/flaky" && n < 3:
			http.Error(w, "upstream overloaded\nsecond line", http.StatusServiceUnavailable)
		case path == "/down":
			http.Error(w, "internal error", http.StatusInternalServerError)
		case path == "/limited" && n == 1:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"message": "You are being rate limited.", "retry_after": 0.3, "global": false}`)
		case path == "/gone":
			http.Error(w, "Unknown Webhook", http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL + "/api/webhooks/123/tok3n-secret"
	closed.Close()
	f := start(t, global(t, fmt.Sprintf(`
webhooks:
  - {name: flaky, url: '%[1]s/flaky', format: slack, events: [backup_failed]}
  - {name: down, url: '%[1]s/down', format: discord, events: [backup_failed]}
  - {name: limited, url: '%[1]s/limited', format: discord, events: [backup_failed]}
  - {name: gone, url: '%[1]s/gone', format: discord, events: [backup_failed]}
  - {name: refused, url: '%[2]s', format: discord, events: [backup_failed]}
`, rcv.srv.URL, closedURL)), Options{})
	f.d.Send(alert.Alert{Type: alert.BackupFailed, Severity: alert.Critical, Title: "Backup failed", Description: "disk full"})

	summary := func(ds []store.WebhookDelivery) string {
		var s []string
		for _, d := range ds {
			s = append(s, fmt.Sprintf("%d:%d:%s", d.Attempt, d.StatusCode, d.Error))
		}
		return strings.Join(s, " | ")
	}
	tests := []struct {
		name     string
		attempts int
		want     string
	}{
		{"flaky", 3, "1:503:HTTP 503 Service Unavailable: upstream overloaded | 2:503:HTTP 503 Service Unavailable: upstream overloaded | 3:204:"},
		{"down", 3, "1:500:HTTP 500 Internal Server Error: internal error | 2:500:HTTP 500 Internal Server Error: internal error | 3:500:HTTP 500 Internal Server Error: internal error"},
		{"limited", 2, `1:429:HTTP 429 Too Many Requests: {"message": "You are being rate limited.", "retry_after": 0.3, "global": false} | 2:204:`},
		{"gone", 1, "1:404:HTTP 404 Not Found: Unknown Webhook"},
	}
	for _, tc := range tests {
		ds := f.deliveries(t, tc.name, tc.attempts)
		if got := summary(ds); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		for _, d := range ds {
			if d.MessageID != ds[0].MessageID || d.Event != "backup_failed" {
				t.Errorf("%s: attempts of one message: %+v", tc.name, d)
			}
		}
	}
	refused := f.deliveries(t, "refused", 3)
	for _, d := range refused {
		if d.StatusCode != 0 || !strings.Contains(d.Error, "connection refused") || strings.Contains(d.Error, "tok3n") {
			t.Errorf("refused: %+v", d)
		}
	}
	limited := rcv.wait(t, "/limited", 2)
	if gap := limited[1].at.Sub(limited[0].at); gap < 300*time.Millisecond {
		t.Errorf("retried %s after a 429 asking for 0.3s", gap)
	}
}

// TestRoutesFilter: a webhook with routes: takes the alerts of those hosts and the alerts about
// no route, not those of other routes.
func TestRoutesFilter(t *testing.T) {
	rcv := newReceiver(t, nil)
	f := start(t, global(t, fmt.Sprintf(`
webhooks:
  - {name: panel, url: '%s/panel', format: discord, events: [service_down, config_rejected], routes: [gpanel.chilla55.de, '*.game.example.org'], throttle: 0}
`, rcv.srv.URL)), Options{})
	for _, host := range []string{"vault.chilla55.de", "gpanel.chilla55.de", "eu.game.example.org", "game.example.org"} {
		f.d.Send(alert.Alert{Type: alert.ServiceDown, Title: "down " + host, Host: host})
	}
	f.d.Send(alert.Alert{Type: alert.ConfigRejected, Title: "rejected"})
	f.d.Send(alert.Alert{Type: alert.CertExpired, Title: "not subscribed", Host: "gpanel.chilla55.de"})
	got := f.deliveries(t, "panel", 3)
	var hosts []string
	for _, d := range got {
		hosts = append(hosts, d.Event+"@"+d.Host)
	}
	if s := strings.Join(hosts, " "); s != "service_down@gpanel.chilla55.de service_down@eu.game.example.org config_rejected@" {
		t.Errorf("delivered %s", s)
	}
}

// TestSendNeverBlocks: with nothing routing, Send returns at once; what overflows the queue is
// counted.
func TestSendNeverBlocks(t *testing.T) {
	d := New(zaptest.NewLogger(t), &configs{}, nil, Options{QueueSize: 4})
	start := time.Now()
	for range 1000 {
		d.Send(alert.Alert{Type: alert.WAFBlockSpike})
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("1000 Sends took %s", el)
	}
	if n := d.Dropped(); n != 996 {
		t.Errorf("dropped %d, want 996", n)
	}
}

// TestReloadKeepsQueuedAlerts: alerts queued before a reload are delivered with the webhooks of
// the new configuration (here: a changed URL), none lost.
func TestReloadKeepsQueuedAlerts(t *testing.T) {
	rcv := newReceiver(t, nil)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "proxy.db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg := &configs{}
	hook := "webhooks:\n  - {name: ops, url: '%s/%s', format: slack, events: [circuit_open], throttle: 0}\n"
	cfg.g.Store(global(t, fmt.Sprintf(hook, rcv.srv.URL, "old")))
	d := New(zaptest.NewLogger(t), cfg, st, Options{})
	for i := range 5 {
		d.Send(alert.Alert{Type: alert.CircuitOpen, Title: fmt.Sprint("open ", i)})
	}
	cfg.g.Store(global(t, fmt.Sprintf(hook, rcv.srv.URL, "new"))) // the reload, before any was routed
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	rcv.wait(t, "/new", 5)
	rcv.wait(t, "/old", 0)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestTestWebhook: POST /api/webhooks/test's delivery: at once, whatever the throttle and the
// events, answered with the outcome; an unknown name is an error.
func TestTestWebhook(t *testing.T) {
	rcv := newReceiver(t, nil)
	f := start(t, global(t, fmt.Sprintf(`
webhooks:
  - {name: ops, url: '%s/ops', format: discord, events: [service_down], throttle: 1h}
`, rcv.srv.URL)), Options{})
	for range 2 {
		res, err := f.d.Test(context.Background(), "ops")
		if err != nil {
			t.Fatal(err)
		}
		if !res.Delivered || len(res.Attempts) != 1 || res.Attempts[0].StatusCode != 204 || res.Webhook != "ops" {
			t.Errorf("result %+v", res)
		}
	}
	got := rcv.wait(t, "/ops", 2)
	checkDiscord(t, got[1].body, message{alert: alert.Alert{Type: alert.Test, Severity: alert.Info}})
	if ds := f.deliveries(t, "ops", 2); ds[0].Event != "test" {
		t.Errorf("recorded %+v", ds[0])
	}
	if _, err := f.d.Test(context.Background(), "nope"); !errors.Is(err, ErrUnknownWebhook) {
		t.Errorf("unknown webhook: %v", err)
	}
}

// TestMissingSecretIsRecorded: a generic webhook whose secret_file cannot be read sends
// nothing unsigned; the failure is recorded.
func TestMissingSecretIsRecorded(t *testing.T) {
	rcv := newReceiver(t, nil)
	f := start(t, global(t, fmt.Sprintf(`
webhooks:
  - {name: gen, url: '%s/gen', events: [security_incident], secret_file: /nonexistent/secret}
`, rcv.srv.URL)), Options{})
	f.d.Send(alert.Alert{Type: alert.SecurityIncident, Severity: alert.Critical, Title: "breach"})
	ds := f.deliveries(t, "gen", 1)
	if !strings.Contains(ds[0].Error, "secret_file") || ds[0].StatusCode != 0 {
		t.Errorf("recorded %+v", ds[0])
	}
	rcv.wait(t, "/gen", 0)
}

// TestEventNamesMatchAlertTypes: the events global.yaml accepts are exactly the alert types.
func TestEventNamesMatchAlertTypes(t *testing.T) {
	var types []string
	for _, ty := range alert.Types() {
		types = append(types, string(ty))
	}
	if got := config.WebhookEvents(); !slices.Equal(got, types) {
		t.Errorf("config.WebhookEvents() = %v\nalert.Types()         = %v", got, types)
	}
}

// BenchmarkSend is what raising an alert costs its caller (a detector): a queue push.
func BenchmarkSend(b *testing.B) {
	d := New(zaptest.NewLogger(b), &configs{}, nil, Options{QueueSize: 1 << 20})
	a := alert.Alert{Type: alert.WAFBlockSpike, Title: "spike"}
	b.ReportAllocs()
	for b.Loop() {
		d.Send(a)
	}
}
