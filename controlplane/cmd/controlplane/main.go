// Command controlplane owns the configuration, the database and the admin surfaces, and pushes
// snapshots to the data planes.
//
//	controlplane [serve] [flags]      run (the default)
//	controlplane validate [flags]     check the configuration files and exit
//	controlplane health [flags]       ask a running control plane whether it is ready (HEALTHCHECK)
//	controlplane audit verify [-db]   check the audit log's hash chain; non-zero exit when broken
//	controlplane backup ...           list, run, verify and restore backups; make a key (backup.go)
//	controlplane version              print the version
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
	case "validate":
		err = validate(os.Stdout, args)
	case "healthcheck", "health": // health: the name the first images used
		err = healthcheck(context.Background(), os.Stdout, args)
	case "audit":
		err = audit(context.Background(), os.Stdout, args)
	case "backup":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		err = backupCommand(ctx, os.Stdout, args)
		stop()
	case "version":
		fmt.Println(version)
	default:
		err = fmt.Errorf("unknown command %q: want serve, validate, health, audit, backup or version", cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "controlplane: %v\n", err)
		os.Exit(1)
	}
}
