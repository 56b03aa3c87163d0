package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveReady answers /health/ready on a Unix socket with status and a two-line body.
func serveReady(t *testing.T, status int, delay time.Duration) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "ops.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(status)
		w.Write([]byte("{\"status\":\"starting\",\n \"reason\":\"no snapshot yet\"}\n"))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "unix:" + sock
}

func TestHealthcheck(t *testing.T) {
	ready := serveReady(t, http.StatusOK, 0)
	notReady := serveReady(t, http.StatusServiceUnavailable, 0)
	slow := serveReady(t, http.StatusOK, time.Minute)
	tests := []struct {
		desc    string
		env     string // PROXY_OPS_ADDR, as the server reads it
		args    []string
		timeout time.Duration
		wantErr string
	}{
		{desc: "env address as the server's", env: ready},
		{desc: "flag wins over env", env: notReady, args: []string{"-ops-addr", ready}},
		{desc: "not ready", env: notReady, wantErr: "not ready (HTTP 503)"},
		{desc: "nothing listening", env: ready + ".gone", wantErr: "no such file"},
		{desc: "no answer in time", env: slow, timeout: 200 * time.Millisecond, wantErr: "deadline exceeded"},
		{desc: "bad setting", env: ready, args: []string{"-shutdown-timeout", "soon"}, wantErr: "invalid value"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Setenv("PROXY_OPS_ADDR", tc.env)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			var out bytes.Buffer
			start := time.Now()
			err := healthcheck(ctx, &out, tc.args)
			if elapsed := time.Since(start); elapsed > healthTimeout+time.Second {
				t.Errorf("took %v, want under %v", elapsed, healthTimeout)
			}
			if tc.wantErr == "" {
				if err != nil || !strings.HasPrefix(out.String(), "ready (unix:") {
					t.Fatalf("healthcheck = %v, output %q; want ready", err, out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("healthcheck = %v, want error containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("reason spans lines: %q", err.Error())
			}
		})
	}
}
