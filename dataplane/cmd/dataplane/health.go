package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/proxy-manager/proxy-manager/pkg/probe"
)

// healthTimeout stays under the image's HEALTHCHECK --timeout (3s), so a slow answer ends with
// our one-line reason rather than Docker killing the probe.
const healthTimeout = 2 * time.Second

// healthcheck asks the running data plane's ops listener whether it is ready. It parses the
// server's own settings (same flags, same PROXY_* environment), so it probes the address the
// server listens on.
func healthcheck(ctx context.Context, out io.Writer, args []string) error {
	s, err := parseSettings(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	return probeReady(ctx, out, s.opsAddr)
}

// probeReady prints "ready" and returns nil when addr answers ready; otherwise an error on one
// line (Docker shows the probe's output in `docker inspect`).
func probeReady(ctx context.Context, out io.Writer, addr string) error {
	if _, err := probe.Ready(ctx, addr); err != nil {
		return fmt.Errorf("healthcheck: %s", strings.Join(strings.Fields(err.Error()), " "))
	}
	_, err := fmt.Fprintf(out, "ready (%s)\n", addr)
	return err
}
