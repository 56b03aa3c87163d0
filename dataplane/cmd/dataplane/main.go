// Command dataplane serves the traffic. It holds no database and reads no YAML: everything it
// enforces arrives in snapshots from the control plane.
//
//	dataplane [serve] [flags]        run (the default)
//	dataplane healthcheck [flags]    ask a running data plane whether it is ready (HEALTHCHECK; alias health)
//	dataplane version                print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		err = serve(ctx, args)
		stop()
	case "healthcheck", "health": // health: the name the first images used
		err = healthcheck(context.Background(), os.Stdout, args)
	case "version":
		fmt.Println(version)
	default:
		err = fmt.Errorf("unknown command %q: want serve, healthcheck or version", cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dataplane: %v\n", err)
		os.Exit(1)
	}
}
