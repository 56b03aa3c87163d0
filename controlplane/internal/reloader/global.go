package reloader

import "github.com/proxy-manager/proxy-manager/pkg/config"

// Global returns the global configuration in force (read-only), or nil before one was accepted.
// It does not wait for a reload in progress.
func (r *Reloader) Global() *config.Global { return r.global.Load() }

// Config returns the configuration in force (read-only), or nil before one was accepted. It is
// stored before its snapshot is published, so whoever sees a new snapshot (fleet.Current) reads
// its configuration or a newer one here; Config().Hash is the snapshot's config_hash when they
// match.
func (r *Reloader) Config() *config.Config { return r.cfg.Load() }
