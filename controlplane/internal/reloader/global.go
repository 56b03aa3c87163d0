package reloader

import "github.com/proxy-manager/proxy-manager/pkg/config"

// Global returns the global configuration in force (read-only), or nil before one was accepted.
// It does not wait for a reload in progress.
func (r *Reloader) Global() *config.Global { return r.global.Load() }
