package main

import (
	"context"
	"fmt"
	"io"

	"github.com/proxy-manager/proxy-manager/pkg/envflag"
	"github.com/proxy-manager/proxy-manager/pkg/probe"
)

// healthcheck asks the running control plane's admin surface whether it is ready.
func healthcheck(out io.Writer, args []string) error {
	fs := envflag.New("controlplane health")
	var addr string
	fs.StringVar(&addr, "admin-addr", "PROXY_ADMIN_ADDR", "127.0.0.1:8080", "admin HTTP address: host:port or unix:/path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body, err := probe.Ready(context.Background(), addr)
	fmt.Fprint(out, body)
	return err
}
