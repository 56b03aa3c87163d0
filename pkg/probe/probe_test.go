package probe

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func serve(t *testing.T, network, addr string, status int) string {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health/ready" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		w.Write([]byte(`{"status":"x"}`))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func TestReady(t *testing.T) {
	tcpOK := serve(t, "tcp", "127.0.0.1:0", 200)
	tcpBad := serve(t, "tcp", "127.0.0.1:0", 503)
	sock := filepath.Join(t.TempDir(), "admin.sock")
	serve(t, "unix", sock, 200)
	_, port, _ := net.SplitHostPort(tcpOK)
	tests := []struct {
		desc, addr, wantErr string
	}{
		{desc: "tcp ready", addr: tcpOK},
		{desc: "port only means loopback", addr: ":" + port},
		{desc: "unix socket", addr: "unix:" + sock},
		{desc: "not ready", addr: tcpBad, wantErr: "HTTP 503"},
		{desc: "nothing listening", addr: "unix:" + sock + ".missing", wantErr: "health unix:"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Ready(context.Background(), tc.addr)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Ready(%s) = %v, want error containing %q", tc.addr, err, tc.wantErr)
			}
		})
	}
}
