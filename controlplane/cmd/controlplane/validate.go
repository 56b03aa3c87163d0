package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/proxy-manager/proxy-manager/pkg/config"
	"github.com/proxy-manager/proxy-manager/pkg/envflag"
)

// validate loads the configuration the way serve would and prints every problem with its file,
// line and column. It starts nothing and exits non-zero on any error. With --effective it
// prints the effective configuration of a site instead of the summary.
func validate(out io.Writer, args []string) error {
	fs := envflag.New("controlplane validate")
	var global, sites, effective string
	fs.StringVar(&global, "global", "PROXY_GLOBAL_CONFIG", "/etc/proxy/global.yaml", "global configuration file", "GLOBAL_CONFIG")
	fs.StringVar(&sites, "sites", "PROXY_SITES_DIR", "/etc/proxy/sites-available", "directory of site files", "SITES_PATH")
	fs.FlagSet.StringVar(&effective, "effective", "", "print the effective configuration of this site (its name, file name or path) as YAML, each value with where it comes from")
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
	if effective != "" {
		return printEffective(out, cfg, effective)
	}
	routes := 0
	for _, s := range cfg.Sites {
		routes += len(s.Routes)
	}
	fmt.Fprintf(out, "configuration OK: %d sites, %d routes (hash %s)\n", len(cfg.Sites), routes, cfg.Hash)
	return nil
}

// printEffective writes the effective configuration of the site named by arg: its name
// (service.name or the file name without extension), its file name, or its path.
func printEffective(out io.Writer, cfg *config.Config, arg string) error {
	var names []string
	for _, s := range cfg.Sites {
		names = append(names, s.Name)
		if s.Name != arg && filepath.Base(s.File) != arg && filepath.Clean(s.File) != filepath.Clean(arg) {
			continue
		}
		b, err := s.EffectiveYAML()
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	return fmt.Errorf("--effective %q: no such site (sites: %s)", arg, strings.Join(names, ", "))
}
