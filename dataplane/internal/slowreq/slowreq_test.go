package slowreq_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/slowreq"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func d(v time.Duration) *durationpb.Duration { return durationpb.New(v) }

// seed is the configuration of the seeds' task #29.
var seed = &proxyv1.SlowRequest{Enabled: true, Warning: d(5 * time.Second), Critical: d(10 * time.Second),
	Timeout: d(30 * time.Second), AlertWebhook: true}

func mustNew(t testing.TB, cfg *proxyv1.SlowRequest) *slowreq.Policy {
	t.Helper()
	p, err := slowreq.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNew(t *testing.T) {
	testCases := []struct {
		desc    string
		cfg     *proxyv1.SlowRequest
		wantNil bool
		wantErr string
	}{
		{desc: "nil is no policy", cfg: nil, wantNil: true},
		{desc: "disabled is no policy", cfg: &proxyv1.SlowRequest{Warning: d(time.Second)}, wantNil: true},
		{desc: "the seed's example", cfg: seed},
		{desc: "warning only", cfg: &proxyv1.SlowRequest{Enabled: true, Warning: d(time.Second)}},
		{desc: "timeout only", cfg: &proxyv1.SlowRequest{Enabled: true, Timeout: d(time.Second)}},
		{desc: "critical not after warning", cfg: &proxyv1.SlowRequest{Enabled: true, Warning: d(10 * time.Second), Critical: d(5 * time.Second)},
			wantErr: "critical (5s) must be longer than warning (10s)"},
		{desc: "equal thresholds", cfg: &proxyv1.SlowRequest{Enabled: true, Warning: d(5 * time.Second), Critical: d(5 * time.Second)},
			wantErr: "critical (5s) must be longer than warning (5s)"},
		{desc: "timeout not after critical", cfg: &proxyv1.SlowRequest{Enabled: true, Critical: d(30 * time.Second), Timeout: d(30 * time.Second)},
			wantErr: "timeout (30s) must be longer than critical (30s)"},
		{desc: "timeout not after warning, critical unset", cfg: &proxyv1.SlowRequest{Enabled: true, Warning: d(time.Minute), Timeout: d(30 * time.Second)},
			wantErr: "timeout (30s) must be longer than warning (1m0s)"},
		{desc: "negative", cfg: &proxyv1.SlowRequest{Enabled: true, Warning: d(-time.Second)},
			wantErr: "warning must not be negative"},
		{desc: "invalid duration", cfg: &proxyv1.SlowRequest{Enabled: true, Timeout: &durationpb.Duration{Seconds: 1, Nanos: -1}},
			wantErr: "slow_request: timeout:"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := slowreq.New(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New: got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if (p == nil) != tc.wantNil {
				t.Errorf("policy %v, want nil: %v", p, tc.wantNil)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	p := mustNew(t, seed)
	warningOnly := mustNew(t, &proxyv1.SlowRequest{Enabled: true, Warning: d(time.Second)})
	criticalOnly := mustNew(t, &proxyv1.SlowRequest{Enabled: true, Critical: d(time.Second)})
	testCases := []struct {
		desc   string
		policy *slowreq.Policy
		d      time.Duration
		want   slowreq.Level
		event  string
	}{
		{desc: "fast", policy: p, d: time.Second, want: slowreq.LevelNone, event: ""},
		{desc: "just under warning", policy: p, d: 5*time.Second - 1, want: slowreq.LevelNone},
		{desc: "at warning", policy: p, d: 5 * time.Second, want: slowreq.LevelWarning, event: "warning"},
		{desc: "between", policy: p, d: 9 * time.Second, want: slowreq.LevelWarning, event: "warning"},
		{desc: "at critical", policy: p, d: 10 * time.Second, want: slowreq.LevelCritical, event: "critical"},
		{desc: "beyond timeout", policy: p, d: time.Hour, want: slowreq.LevelCritical, event: "critical"},
		{desc: "no policy", policy: nil, d: time.Hour, want: slowreq.LevelNone},
		{desc: "warning only", policy: warningOnly, d: time.Hour, want: slowreq.LevelWarning},
		{desc: "critical only", policy: criticalOnly, d: time.Hour, want: slowreq.LevelCritical},
		{desc: "critical only, fast", policy: criticalOnly, d: time.Millisecond, want: slowreq.LevelNone},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			got := tc.policy.Classify(tc.d)
			if got != tc.want {
				t.Fatalf("Classify(%v) = %v, want %v", tc.d, got, tc.want)
			}
			if got.String() != tc.event && tc.event != "" {
				t.Errorf("event %q, want %q", got.String(), tc.event)
			}
		})
	}
	if !p.AlertWebhook() || warningOnly.AlertWebhook() || (*slowreq.Policy)(nil).AlertWebhook() {
		t.Error("AlertWebhook does not follow alert_webhook")
	}
}

// proxyTo is the edge's shape: Start, a plain ReverseProxy, Responded when the response
// headers go out, Release at the end; a failure is 504 when TimedOut, else 502 (or 499).
func proxyTo(t *testing.T, p *slowreq.Policy, backend string) *httptest.Server {
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, dl := p.Start(r.Context())
		defer dl.Release()
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
			ModifyResponse: func(*http.Response) error {
				dl.Responded()
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				if slowreq.TimedOut(r.Context()) {
					w.Header().Set("X-Timeout", slowreq.TimeoutName)
					w.WriteHeader(http.StatusGatewayTimeout)
					return
				}
				w.WriteHeader(http.StatusBadGateway)
			},
		}
		rp.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	p := mustNew(t, &proxyv1.SlowRequest{Enabled: true, Timeout: d(timeout)})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hang": // never answers
			select {
			case <-r.Context().Done():
			case <-release:
			}
		case "/stream": // answers at once, then streams for longer than the timeout
			w.WriteHeader(http.StatusOK)
			for range 5 {
				_, _ = io.WriteString(w, "tick\n")
				http.NewResponseController(w).Flush()
				time.Sleep(timeout / 2)
			}
		default:
			_, _ = io.WriteString(w, "fast")
		}
	}))
	t.Cleanup(backend.Close)
	front := proxyTo(t, p, backend.URL)

	testCases := []struct {
		desc        string
		path        string
		wantStatus  int
		wantTimeout string
		wantBody    string
	}{
		{desc: "a hanging backend is cut with 504", path: "/hang", wantStatus: 504, wantTimeout: "slow_request"},
		{desc: "a fast backend is served", path: "/fast", wantStatus: 200, wantBody: "fast"},
		{desc: "a stream that started in time runs past the timeout", path: "/stream", wantStatus: 200,
			wantBody: strings.Repeat("tick\n", 5)},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			resp, err := front.Client().Get(front.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("reading body: %v", err)
			}
			if resp.StatusCode != tc.wantStatus || resp.Header.Get("X-Timeout") != tc.wantTimeout {
				t.Errorf("status %d, timeout %q; want %d, %q", resp.StatusCode, resp.Header.Get("X-Timeout"), tc.wantStatus, tc.wantTimeout)
			}
			if tc.wantBody != "" && string(body) != tc.wantBody {
				t.Errorf("body %q, want %q", body, tc.wantBody)
			}
		})
	}
}

func TestDeadline(t *testing.T) {
	p := mustNew(t, &proxyv1.SlowRequest{Enabled: true, Timeout: d(time.Hour)})

	t.Run("released: not a timeout", func(t *testing.T) {
		ctx, dl := p.Start(context.Background())
		dl.Release()
		if ctx.Err() == nil {
			t.Error("context still alive after Release")
		}
		if slowreq.TimedOut(ctx) {
			t.Error("Release taken for a timeout")
		}
	})
	t.Run("client gone: not a timeout", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		ctx, dl := p.Start(parent)
		defer dl.Release()
		cancel()
		if ctx.Err() == nil || slowreq.TimedOut(ctx) {
			t.Errorf("err %v, TimedOut %v", ctx.Err(), slowreq.TimedOut(ctx))
		}
	})
	t.Run("fired", func(t *testing.T) {
		short := mustNew(t, &proxyv1.SlowRequest{Enabled: true, Timeout: d(time.Millisecond)})
		ctx, dl := short.Start(context.Background())
		defer dl.Release()
		child, cancel := context.WithCancel(ctx) // as the transport derives its own
		defer cancel()
		<-child.Done()
		if !slowreq.TimedOut(ctx) || !slowreq.TimedOut(child) {
			t.Error("TimedOut false after the timeout fired")
		}
		if dl.Responded() {
			t.Error("Responded true after the timeout fired")
		}
	})
	t.Run("no timeout: the parent itself", func(t *testing.T) {
		parent := context.Background()
		for _, p := range []*slowreq.Policy{nil, mustNew(t, &proxyv1.SlowRequest{Enabled: true, Warning: d(time.Second)})} {
			ctx, dl := p.Start(parent)
			if ctx != parent || !dl.Responded() {
				t.Error("a policy without timeout changed the context")
			}
			dl.Release()
			if slowreq.TimedOut(ctx) {
				t.Error("TimedOut without a timeout")
			}
		}
	})
	if errors.Is(context.Canceled, slowreq.ErrTimeout) {
		t.Error("ErrTimeout must be distinct")
	}
}

func BenchmarkNoTimeout(b *testing.B) {
	p := mustNew(b, &proxyv1.SlowRequest{Enabled: true, Warning: d(5 * time.Second), Critical: d(10 * time.Second)})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, dl := p.Start(ctx)
		dl.Responded()
		dl.Release()
		if p.Classify(time.Millisecond) != slowreq.LevelNone || c != ctx {
			b.Fatal("slow")
		}
	}
}

func BenchmarkWithTimeout(b *testing.B) {
	p := mustNew(b, seed)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, dl := p.Start(ctx)
		dl.Responded()
		dl.Release()
		_ = p.Classify(time.Millisecond)
	}
}

func BenchmarkContextWithTimeout(b *testing.B) { // the reference the brief names
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, cancel := context.WithTimeout(ctx, 30*time.Second)
		cancel()
	}
}
