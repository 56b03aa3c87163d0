package main

import (
	"context"
	"fmt"
	"io"

	"github.com/proxy-manager/proxy-manager/pkg/envflag"
	"github.com/proxy-manager/proxy-manager/pkg/probe"
)

// healthcheck asks the running data plane's ops listener whether it is ready.
func healthcheck(out io.Writer, args []string) error {
	fs := envflag.New("dataplane health")
	var addr string
	fs.StringVar(&addr, "ops-addr", "PROXY_OPS_ADDR", "127.0.0.1:9901", "health probe address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body, err := probe.Ready(context.Background(), addr)
	fmt.Fprint(out, body)
	return err
}
