package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
)

// browserWatch collects what the page must not do: write errors to the console, throw, or
// request anything from a host other than the admin listener.
type browserWatch struct {
	admin    string   // host:port of the admin listener
	failures []string // URL suffixes whose failed loads are expected (the browser logs them)
	mu       sync.Mutex
	problems []string
	requests int
}

func (b *browserWatch) event(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.problems = append(b.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
	case *cdplog.EventEntryAdded:
		expected := slices.ContainsFunc(b.failures, func(s string) bool { return strings.HasSuffix(ev.Entry.URL, s) })
		if ev.Entry.Level == cdplog.EntryLevelError && !(ev.Entry.Source == cdplog.EntrySourceNetwork && expected) {
			b.problems = append(b.problems, fmt.Sprintf("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
		}
	case *network.EventRequestWillBeSent:
		u, err := url.Parse(ev.Request.URL)
		switch {
		case err != nil:
			b.problems = append(b.problems, "unparsable request URL "+ev.Request.URL)
		case u.Scheme == "data":
		case u.Host != b.admin || u.Scheme != "http":
			b.problems = append(b.problems, "request to another origin: "+ev.Request.URL)
		default:
			b.requests++
		}
	}
}

// selfCheck makes the page write a console error and throw, and checks the watch saw both, so
// that a watch that hears nothing cannot pass for a clean page. It then forgets them.
func (b *browserWatch) selfCheck(t *testing.T, ctx context.Context) {
	t.Helper()
	const marker = "watch-self-check"
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`console.error('`+marker+`'); setTimeout(() => { throw new Error('`+marker+`'); }); 1`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the watch to hear the page", func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		var heard []string
		for _, p := range b.problems {
			if strings.Contains(p, marker) {
				heard = append(heard, p)
			}
		}
		if len(heard) != 2 {
			return fmt.Errorf("heard %q", heard)
		}
		b.problems = slices.DeleteFunc(b.problems, func(p string) bool { return strings.Contains(p, marker) })
		return nil
	})
}

func (b *browserWatch) requestCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests
}

func (b *browserWatch) check(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.requests == 0 {
		t.Error("no request to the admin listener seen: the network events did not arrive")
	}
	for _, p := range b.problems {
		t.Error(p)
	}
}

// startBrowser starts Debian's Chromium headless with a fresh profile. It fails the test (it
// does not skip it) when Chromium is missing or does not start.
func startBrowser(t *testing.T, w *browserWatch) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (%v): run scripts/install-chromium.sh (make test does)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithListener(w.event))
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return bctx
}

// jsUntil evaluates a JavaScript expression until it returns a string containing every one of
// want, and returns the last value.
func jsUntil(t *testing.T, ctx context.Context, timeout time.Duration, expr string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got string
	var err error
	for {
		got, err = chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		missing := ""
		for _, w := range want {
			if !strings.Contains(got, w) {
				missing = w
				break
			}
		}
		if err == nil && missing == "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: missing %q after %v (err %v); got:\n%s", expr, missing, timeout, err, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func viewText(id string) string {
	return `document.getElementById(` + fmt.Sprintf("%q", id) + `).innerText`
}

// screenshot saves the whole page (or only what the screen shows) as PNG into dir.
func screenshot(t *testing.T, ctx context.Context, dir, name string, full bool) {
	t.Helper()
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Checked by 1 (issue 9): the dashboard in headless Chromium against a control plane fed with
// real traffic through a data plane: every view shows that traffic, Lift ends the ban the
// traffic caused (and the audit log shows it), Send test reaches a webhook, with no console
// error and no request to another host. Screenshots go to $DASHBOARD_SCREENSHOTS (default: a
// temporary directory), light, dark and phone-sized.
func TestDashboardInBrowser(t *testing.T) {
	var hooks sync.WaitGroup
	hooks.Add(1)
	var hookOnce sync.Once
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hookOnce.Do(hooks.Done)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	app, wsBackend := backend(t, "A"), httpAndWSBackend(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // nothing listens there: 502
	global := fmt.Sprintf("webhooks:\n  - {name: ops, url: '%s/hook', format: discord, events: [service_down]}\n", rcv.URL)
	cl := newCluster(t, global, map[string]string{
		"app.yaml":  flatSite("app.test", app.URL) + "slow_request:\n  thresholds:\n    warning: 50ms\n    critical: 100ms\n",
		"dead.yaml": flatSite("dead.test", deadURL),
		"ws.yaml":   flatSite("ws.test", wsBackend.URL),
		"vault.yaml": flatSite("vault.test", app.URL) + `rate_limit:
  per_ip: 1000
  paths:
    - path: /auth/*
      per_ip: 2
      ban_after: 2
      ban_duration: 1h
`,
	})
	// A certificate of a host without a route: the routes above stay on plain HTTP (a route
	// with a certificate redirects to HTTPS).
	ca := newTestCA(t)
	crt, key := ca.issue(t, 9, "secure.test")
	certbotLineage(t, filepath.Join(cl.dir, "certs"), "secure.test", 1, crt, key)
	cl.startCP()
	cl.startDP("node-1")

	// Real traffic: 10 pages and 2 slow requests on app.test, 3 bad gateways, a WebSocket left
	// open, and logins on vault.test until the client (127.0.0.1) is banned there.
	for i := range 10 {
		if s, _ := statusOf(t, cl.client, cl.httpAddr, "app.test", fmt.Sprintf("/page/%d", i)); s != 200 {
			t.Fatalf("app.test page %d: %d", i, s)
		}
	}
	for range 2 {
		if s, _ := statusOf(t, cl.client, cl.httpAddr, "app.test", "/slow?sleep_ms=150"); s != 200 {
			t.Fatalf("app.test slow: %d", s)
		}
	}
	for i := range 3 {
		if s, _ := statusOf(t, cl.client, cl.httpAddr, "dead.test", "/", "X-Request-ID", fmt.Sprintf("dash-502-%d", i)); s != 502 {
			t.Fatalf("dead.test: %d, want 502", s)
		}
	}
	wsCtx, wsCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wsCancel()
	ws, _, err := websocket.Dial(wsCtx, "ws://"+cl.httpAddr+"/chat", &websocket.DialOptions{Host: "ws.test"})
	if err != nil {
		t.Fatalf("WebSocket to ws.test: %v", err)
	}
	defer ws.CloseNow()
	var logins []int
	for range 4 {
		s, _ := statusOf(t, cl.client, cl.httpAddr, "vault.test", "/auth/login")
		logins = append(logins, s)
	}
	if fmt.Sprint(logins) != "[200 200 429 429]" {
		t.Fatalf("logins on vault.test: %v, want [200 200 429 429]", logins)
	}
	admin := "http://" + cl.adminAddr
	eventually(t, 15*time.Second, "the traffic in the control plane", func() error {
		var r struct {
			Routes []struct {
				ID          string `json:"id"`
				Requests24h int    `json:"requests_24h"`
			} `json:"routes"`
		}
		if err := getJSON(cl.client, admin+"/api/routes", 200, &r); err != nil {
			return err
		}
		got := map[string]int{}
		for _, x := range r.Routes {
			got[x.ID] = x.Requests24h
		}
		if got["app.test/"] != 12 || got["dead.test/"] != 3 || got["vault.test/"] != 4 {
			return fmt.Errorf("requests per route %v", got)
		}
		var w struct{ Active int }
		if err := getJSON(cl.client, admin+"/api/websockets", 200, &w); err != nil || w.Active != 1 {
			return fmt.Errorf("websockets active %d (%v)", w.Active, err)
		}
		return nil
	})

	watch := &browserWatch{admin: cl.adminAddr}
	ctx := startBrowser(t, watch)
	shots := os.Getenv("DASHBOARD_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshots in %s", shots)
	if err := chromedp.Do(ctx, chromedp.Navigate(admin+"/dashboard/")); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	jsUntil(t, ctx, 15*time.Second, `document.body.dataset.loaded || ''`, "1")
	watch.selfCheck(t, ctx)

	// Every view shows the traffic above.
	const wait = 10 * time.Second
	jsUntil(t, ctx, wait, `document.getElementById('status').innerText`, "ready")
	var stats struct {
		Requests int `json:"requests_24h"`
		Errors   int `json:"errors_24h"`
	}
	if err := getJSON(cl.client, admin+"/api/stats", 200, &stats); err != nil || stats.Requests < 19 {
		t.Fatalf("/api/stats: %+v (%v), want at least the 19 requests sent", stats, err)
	}
	total := fmt.Sprint(stats.Requests)
	jsUntil(t, ctx, wait, `[...document.querySelectorAll('#stats .tile')].map(x => x.innerText.replace(/\s+/g, ' ')).join('|')`,
		total+" requests 24 h", fmt.Sprint(stats.Errors)+" errors 24 h", "1 data planes connected", "1 WebSockets open")
	row := func(route string) string {
		return `[...document.querySelectorAll('#routes-body tr')].filter(r => r.cells[0].innerText === '` + route + `').map(r => [...r.cells].map(c => c.innerText).join('|')).join('')`
	}
	jsUntil(t, ctx, wait, row("app.test/"), "app.test/|app.test|"+app.URL+"|unknown|", "|12|")
	jsUntil(t, ctx, wait, row("dead.test/"), "|3|", "|100.0 %")
	jsUntil(t, ctx, wait, row("vault.test/"), "|4|")
	jsUntil(t, ctx, wait, viewText("traffic"), total+" requests", "User agents", "api", "Countries", "unknown")
	jsUntil(t, ctx, wait, `String(document.querySelectorAll('#chart-heatmap rect').length) + ' ' + String(document.querySelectorAll('#chart-status rect').length > 0) + ' ' + String(document.querySelectorAll('#chart-latency path.line').length)`,
		"168 true 2")
	jsUntil(t, ctx, wait, viewText("errors"), "in 24 h)", "502: 3", "dead.test/", "dash-502-2")
	jsUntil(t, ctx, wait, viewText("security"), "bans in force", "127.0.0.1", "vault.test/", "Lift")
	jsUntil(t, ctx, wait, viewText("certs"), "secure.test", "critical")
	jsUntil(t, ctx, wait, `[...document.querySelectorAll('#ws-tiles .tile')].map(x => x.innerText.replace(/\s+/g, ' ')).join('|')`, "1 open now")
	jsUntil(t, ctx, wait, viewText("slow"), "app.test/", "GET /slow", "2")
	jsUntil(t, ctx, wait, viewText("dataplanes"), "node-1", "connected")
	jsUntil(t, ctx, wait, viewText("mnt-body"), "no maintenance scheduled")
	jsUntil(t, ctx, wait, viewText("audit"), "Audit log")
	screenshot(t, ctx, shots, "dashboard-light.png", true)

	// Send test, by keyboard: the name and Enter submit the form.
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.ID("wh-name")), chromedp.SendKeys(chromedp.ID("wh-name"), "ops\r")); err != nil {
		t.Fatal(err)
	}
	hooks.Wait()
	jsUntil(t, ctx, wait, viewText("webhooks"), "ops", "test", "204")
	jsUntil(t, ctx, wait, viewText("notice"), "Test message to ops delivered.")
	jsUntil(t, ctx, wait, viewText("audit"), "webhook_test", "webhook ops")

	// Lift the ban the logins caused: gone from the view, in the audit log, and the data plane
	// serves the client on vault.test again.
	// The token the page holds is stale (as after a control-plane restart): the refused DELETE
	// (403, logged by the browser) is sent again with a fresh one.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`csrf = '0'.repeat(64); true`)); err != nil {
		t.Fatal(err)
	}
	watch.mu.Lock()
	watch.failures = append(watch.failures, "/api/bans/127.0.0.1?route=vault.test%2F")
	watch.mu.Unlock()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#bans-body tr[data-ip="127.0.0.1"] button`))); err != nil {
		t.Fatalf("click Lift: %v", err)
	}
	jsUntil(t, ctx, wait, viewText("bans-body"), "no bans in force")
	jsUntil(t, ctx, wait, `[...document.querySelectorAll('#audit-body tr[data-action="ban_lifted"]')].map(r => r.innerText).join('\n')`, "ban_lifted", "127.0.0.1")
	jsUntil(t, ctx, wait, viewText("notice"), "Lifted 1 ban(s) on 127.0.0.1")
	var bans struct{ Bans []any }
	if err := getJSON(cl.client, admin+"/api/bans", 200, &bans); err != nil || len(bans.Bans) != 0 {
		t.Errorf("/api/bans after Lift: %+v (%v), want none", bans, err)
	}
	eventually(t, 5*time.Second, "vault.test served again", func() error {
		if s, _ := statusOf(t, cl.client, cl.httpAddr, "vault.test", "/"); s != 200 {
			return fmt.Errorf("status %d", s)
		}
		return nil
	})

	// Copy AI context: to the clipboard, or (headless may refuse it) into the fallback textarea.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("copy-ai"))); err != nil {
		t.Fatal(err)
	}
	got := jsUntil(t, ctx, wait, `!$('ai-fallback').hidden ? 'done fallback ' + $('ai-text').value.slice(0, 4000) :
		$('notice').innerText.includes('AI context') ? 'done ' + $('notice').innerText : ''`, "done")
	if !strings.Contains(got, "AI context copied") && !(strings.HasPrefix(got, "done fallback ") && strings.Contains(got, "app.test")) {
		t.Errorf("Copy AI context: %q, want the copied notice or the context in the fallback", got)
	}

	// The period selector reloads the charts for 7 days: the same traffic, a daily scale.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`$('period').value = '7d'; $('period').dispatchEvent(new Event('change'))`)); err != nil {
		t.Fatal(err)
	}
	jsUntil(t, ctx, wait, `String(document.querySelectorAll('#chart-status rect').length >= 1) + ' ' + $('traffic-summary').innerText`, "true "+total+" requests")

	// A hidden tab stops polling; shown again, it refreshes at once and polls again.
	setHidden := func(hidden bool) {
		t.Helper()
		js := fmt.Sprintf(`Object.defineProperty(document, 'hidden', {value: %t, configurable: true}); document.dispatchEvent(new Event('visibilitychange')); true`, hidden)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err != nil {
			t.Fatal(err)
		}
	}
	setHidden(true)
	jsUntil(t, ctx, wait, viewText("live"), "paused while hidden")
	time.Sleep(time.Second) // a refresh under way when the tab was hidden ends
	before := watch.requestCount()
	time.Sleep(6 * time.Second)
	if n := watch.requestCount() - before; n != 0 {
		t.Errorf("%d requests in 6 s while the tab was hidden, want none", n)
	}
	setHidden(false)
	jsUntil(t, ctx, wait, viewText("live"), "live, every 5 s")
	eventually(t, 3*time.Second, "a refresh once shown", func() error {
		if watch.requestCount() == before {
			return fmt.Errorf("no request")
		}
		return nil
	})

	// Maintenance on for app.test/ from the form (now, no end): listed as active, the data plane
	// answers 503 with the page, and the audit log has it; End turns it off again.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`$('mnt-route').value = 'app.test/'; true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#mnt-form button`))); err != nil {
		t.Fatalf("click maintenance on: %v", err)
	}
	jsUntil(t, ctx, wait, viewText("mnt-body"), "app.test/", "active", "End")
	eventually(t, 5*time.Second, "app.test in maintenance", func() error {
		if s, body := statusOf(t, cl.client, cl.httpAddr, "app.test", "/"); s != 503 || !strings.Contains(body, "maintenance") {
			return fmt.Errorf("status %d", s)
		}
		return nil
	})
	jsUntil(t, ctx, wait, `[...document.querySelectorAll('#audit-body tr[data-action="maintenance_on"]')].map(r => r.innerText).join('\n')`, "maintenance_on", "app.test/")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#mnt-body button`))); err != nil {
		t.Fatalf("click End: %v", err)
	}
	jsUntil(t, ctx, wait, viewText("mnt-body"), "no maintenance scheduled")
	eventually(t, 5*time.Second, "app.test served after maintenance", func() error {
		if s, _ := statusOf(t, cl.client, cl.httpAddr, "app.test", "/"); s != 200 {
			return fmt.Errorf("status %d", s)
		}
		return nil
	})

	// Reload configuration: unchanged files keep their version, and the audit log has the request
	// with the caller. (A changed file is reloaded by the watcher at once, so the new-version
	// answer is tested with a real reloader in adminhttp's TestAdminReload.)
	var status struct{ Version int }
	if err := getJSON(cl.client, admin+"/api/status", 200, &status); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("reload"))); err != nil {
		t.Fatalf("click Reload: %v", err)
	}
	jsUntil(t, ctx, wait, viewText("notice"), fmt.Sprintf("Configuration unchanged: version %d stays live.", status.Version))
	jsUntil(t, ctx, wait, `[...document.querySelectorAll('#audit-body tr[data-action="config_unchanged"]')].map(r => r.innerText).join('\n')`, "config_unchanged", "from 127.0.0.1")

	// Dark mode and a phone's width: the page fits the screen (tables scroll inside their cards).
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	bg := jsUntil(t, ctx, wait, `getComputedStyle(document.body).backgroundColor`, "rgb(")
	if bg != "rgb(21, 23, 26)" {
		t.Errorf("dark mode background %s, want rgb(21, 23, 26)", bg)
	}
	screenshot(t, ctx, shots, "dashboard-dark.png", true)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	jsUntil(t, ctx, wait, `document.documentElement.scrollWidth <= window.innerWidth ? 'fits' : 'overflows: ' + document.documentElement.scrollWidth + ' > ' + window.innerWidth`, "fits")
	screenshot(t, ctx, shots, "dashboard-phone.png", false)

	watch.check(t)
}
