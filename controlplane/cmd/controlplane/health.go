package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/proxy-manager/proxy-manager/pkg/envflag"
)

// healthcheck asks the running control plane's admin surface whether it is ready: the container
// HEALTHCHECK, which has no curl and may have to go through a Unix socket.
func healthcheck(out io.Writer, args []string) error {
	fs := envflag.New("controlplane health")
	var addr string
	fs.StringVar(&addr, "admin-addr", "PROXY_ADMIN_ADDR", "127.0.0.1:8080", "admin HTTP address: host:port or unix:/path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tr := &http.Transport{}
	host := addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		host = "localhost"
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	}
	cl := &http.Client{Transport: tr, Timeout: 3 * time.Second}
	resp, err := cl.Get("http://" + host + "/health/ready")
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprint(out, string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready (HTTP %d)", resp.StatusCode)
	}
	return nil
}
