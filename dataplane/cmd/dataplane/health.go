package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/proxy-manager/proxy-manager/pkg/envflag"
)

// healthcheck asks the running data plane's ops listener whether it is ready: the container
// HEALTHCHECK, which has no curl.
func healthcheck(out io.Writer, args []string) error {
	fs := envflag.New("dataplane health")
	var addr string
	fs.StringVar(&addr, "ops-addr", "PROXY_OPS_ADDR", "127.0.0.1:9901", "health probe address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	cl := &http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get("http://" + addr + "/health/ready")
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
