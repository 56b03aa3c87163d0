package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/proxy-manager/proxy-manager/pkg/config"
	"github.com/proxy-manager/proxy-manager/pkg/envflag"
)

// validate loads the configuration the way serve would and prints every problem with its file,
// line and column. It starts nothing and exits non-zero on any error.
func validate(out io.Writer, args []string) error {
	fs := envflag.New("controlplane validate")
	var global, sites string
	fs.StringVar(&global, "global", "PROXY_GLOBAL_CONFIG", "/etc/proxy/global.yaml", "global configuration file", "GLOBAL_CONFIG")
	fs.StringVar(&sites, "sites", "PROXY_SITES_DIR", "/etc/proxy/sites-available", "directory of site files", "SITES_PATH")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(global, sites)
	if err != nil {
		var n int
		var list interface{ Unwrap() []error }
		if errors.As(err, &list) {
			for _, e := range list.Unwrap() {
				fmt.Fprintln(out, e)
				n++
			}
		} else {
			fmt.Fprintln(out, err)
			n = 1
		}
		return fmt.Errorf("configuration invalid: %d error(s)", n)
	}
	routes := 0
	for _, s := range cfg.Sites {
		routes += len(s.Routes)
	}
	fmt.Fprintf(out, "configuration OK: %d sites, %d routes (hash %s)\n", len(cfg.Sites), routes, cfg.Hash)
	return nil
}
