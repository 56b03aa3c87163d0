package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/backup"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	"github.com/proxy-manager/proxy-manager/pkg/envflag"
)

const backupUsage = `usage: controlplane backup list | run full|diff|incr | verify | restore --at TIME [--to PATH] | keygen --out FILE
  (with -global, -db and -backup-dir, or PROXY_GLOBAL_CONFIG, PROXY_DB_PATH and BACKUP_DIR, as the server)`

// errVerifyFailed makes "backup verify" exit non-zero when a backup cannot be restored.
var errVerifyFailed = errors.New("some backups cannot be restored")

// backupCommand runs "controlplane backup ...": the same backups the server's job takes, with
// the same configuration (the backup: section of the global file) and environment.
func backupCommand(ctx context.Context, out io.Writer, args []string) error {
	if len(args) == 0 {
		return errors.New(backupUsage)
	}
	sub, args := args[0], args[1:]
	var tier backup.Tier
	if sub == "run" {
		if len(args) == 0 {
			return errors.New("usage: controlplane backup run full|diff|incr")
		}
		t, err := backup.ParseTier(args[0])
		if err != nil {
			return err
		}
		tier, args = t, args[1:]
	}
	fs := envflag.New("controlplane backup " + sub)
	var global, db, dir, at, to, keyOut string
	fs.StringVar(&global, "global", "PROXY_GLOBAL_CONFIG", "/etc/proxy/global.yaml", "global configuration file", "GLOBAL_CONFIG")
	fs.StringVar(&db, "db", "PROXY_DB_PATH", "/data/proxy.db", "SQLite database file", "DB_PATH")
	fs.StringVar(&dir, "backup-dir", "PROXY_BACKUP_DIR", "/mnt/storagebox/backups/proxy", "backup directory when global.yaml's backup.dir is not set", "BACKUP_DIR")
	fs.FlagSet.StringVar(&at, "at", "", "restore: the point in time (RFC 3339); the newest backup at or before it is restored")
	fs.FlagSet.StringVar(&to, "to", "", "restore: the database file to write (default: -db, which needs the control plane stopped)")
	fs.FlagSet.StringVar(&keyOut, "out", "", "keygen: the identity file to create")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.FlagSet.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", fs.FlagSet.Args(), backupUsage)
	}
	if sub == "keygen" {
		if keyOut == "" {
			return errors.New("usage: controlplane backup keygen --out FILE")
		}
		rcpt, err := backup.GenerateKey(keyOut)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s (mode 0600); public recipient: %s\nkeep a copy off the host: without it no backup can be restored\n", keyOut, rcpt)
		return nil
	}
	b, err := backupConfig(global)
	if err != nil {
		return err
	}
	if b.Dir != "" {
		dir = b.Dir
	}
	if sub == "list" { // needs no key
		return backupList(out, dir)
	}
	e, err := backup.EngineFor(b, db, dir, time.Now, zap.NewNop())
	if err != nil {
		return err
	}
	switch sub {
	case "run":
		res, err := e.Run(ctx, tier)
		if err != nil {
			return err
		}
		switch {
		case res.Skipped:
			fmt.Fprintln(out, "incremental skipped: no page changed since the previous backup")
		default:
			if res.Note != "" {
				fmt.Fprintln(out, res.Note)
			}
			fmt.Fprintf(out, "%s backup %s: %d pages, %d bytes, %s\n", res.Tier, res.Name, res.Pages, res.Size, res.Duration.Round(time.Millisecond))
		}
		for _, r := range res.Removed {
			fmt.Fprintf(out, "removed by retention: %s\n", r)
		}
		return nil
	case "verify":
		rep, err := e.Verify(ctx, "")
		if err != nil {
			return err
		}
		for _, f := range rep.Failed {
			fmt.Fprintf(out, "FAILED %s\n", f.Err)
		}
		fmt.Fprintf(out, "%d backups checked, %d failed\n", rep.Checked, len(rep.Failed))
		if len(rep.Failed) > 0 {
			return fmt.Errorf("%w: %d of %d", errVerifyFailed, len(rep.Failed), rep.Checked)
		}
		return nil
	case "restore":
		if at == "" {
			return errors.New("usage: controlplane backup restore --at TIME [--to PATH] (TIME in RFC 3339, e.g. 2026-11-22T14:00:00+01:00)")
		}
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return fmt.Errorf("--at %q: want RFC 3339 (2026-11-22T14:00:00+01:00): %w", at, err)
		}
		if to == "" {
			to = db
		}
		res, err := e.Restore(ctx, t, to)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "restored %s as of %s from %v\n", res.Target, res.Backup.Format(time.RFC3339), res.Chain)
		if res.Previous != "" {
			fmt.Fprintf(out, "the previous database is kept at %s\n", res.Previous)
		}
		return nil
	}
	return fmt.Errorf("unknown backup command %q\n%s", sub, backupUsage)
}

// backupConfig reads the backup: section of the global file.
func backupConfig(global string) (*config.Backup, error) {
	data, err := os.ReadFile(global)
	if err != nil {
		return nil, fmt.Errorf("read the global configuration: %w", err)
	}
	g, err := config.ParseGlobal(global, data)
	if err != nil {
		return nil, err
	}
	if !g.Backup.Enabled {
		return nil, fmt.Errorf("%s: backups are not enabled (no backup: section, or enabled: false)", global)
	}
	return &g.Backup, nil
}

func backupList(out io.Writer, dir string) error {
	list, err := backup.List(dir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTIER\tTIME\tBASE\tBYTES")
	for _, in := range list {
		if in.Err != "" {
			fmt.Fprintf(tw, "%s\tDAMAGED\t%s\t\t%d\n", in.Name, in.Err, in.Size)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", in.Name, in.Tier, in.Time.Format(time.RFC3339), in.Base, in.Size)
	}
	return tw.Flush()
}
