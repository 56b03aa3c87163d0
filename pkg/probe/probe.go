// Package probe asks a running process's health endpoint whether it is ready. Both binaries use it
// for their `health` subcommand, the containers' HEALTHCHECK (the images have no curl).
package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Ready GETs /health/ready at addr, which is "host:port", ":port" (loopback) or "unix:/path",
// and returns the body. Anything but 200 is an error.
func Ready(ctx context.Context, addr string) (string, error) {
	tr := &http.Transport{}
	host := addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		host = "localhost"
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	} else if strings.HasPrefix(addr, ":") {
		host = "127.0.0.1" + addr
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/health/ready", nil)
	if err != nil {
		return "", fmt.Errorf("health %s: %w", addr, err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", fmt.Errorf("health %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", fmt.Errorf("health %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("not ready (HTTP %d): %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}
