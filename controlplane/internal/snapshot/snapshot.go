// Package snapshot translates a validated configuration into the snapshot the data planes
// enforce (proxy.v1.Snapshot).
//
// Every route of every enabled site becomes one proxy.v1.Route carrying its effective policy
// (built-in defaults, then the global defaults, then the site, then the route's own options:
// the merging is done by package config). A disabled site contributes nothing. The
// translation is pure: the same configuration, version and time give the same snapshot, so
// golden tests (testdata/*.golden.json, regenerated with -update) pin it down.
//
// Error pages travel as template sources (config.Load read and checked the files): the
// global file's top-level error_pages on the Snapshot, each route's on its Policy.
//
// The Edge settings come from the global file (tls:, acme:). Certificates come from the
// certificate directory, not from the configuration files: Build leaves them out and the
// reloader adds the current certificate set.
package snapshot

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Build returns the snapshot of cfg as version, created at now. Routes are in configuration
// order: sites by file name, routes as written.
func Build(cfg *config.Config, version uint64, now time.Time) (*proxyv1.Snapshot, error) {
	if cfg == nil {
		return nil, errors.New("snapshot: no configuration")
	}
	if version == 0 {
		return nil, errors.New("snapshot: version 0 means \"no snapshot\" and cannot be built")
	}
	snap := &proxyv1.Snapshot{
		Version:    version,
		CreatedAt:  timestamppb.New(now),
		ConfigHash: cfg.Hash,
		Edge:       edge(cfg.Global),
	}
	var err error
	if snap.ErrorPages, err = errorPages(cfg.Global.ErrorPages, cfg.Pages); err != nil {
		return nil, fmt.Errorf("snapshot: global error_pages: %w", err)
	}
	seen := map[string]string{}
	for _, s := range cfg.Sites {
		if !s.Enabled {
			continue
		}
		for _, r := range s.Routes {
			if len(r.Hosts) == 0 {
				return nil, fmt.Errorf("snapshot: a route of %s has no host", s.File)
			}
			id := RouteID(r.Hosts[0], r.Path)
			if prev, ok := seen[id]; ok {
				// config.Load rejects this; a Config built by hand may not.
				return nil, fmt.Errorf("snapshot: route %s is defined in %s and in %s", id, prev, s.File)
			}
			seen[id] = s.File
			pol := policy(r.Policy)
			if pol.ErrorPages, err = errorPages(r.Policy.ErrorPages, cfg.Pages); err != nil {
				return nil, fmt.Errorf("snapshot: route %s: error_pages: %w", id, err)
			}
			snap.Routes = append(snap.Routes, &proxyv1.Route{
				Id:         id,
				Site:       s.Name,
				SourceFile: s.File,
				Hosts:      slices.Clone(r.Hosts),
				PathPrefix: r.Path,
				BackendUrl: r.Backend,
				Policy:     pol,
			})
		}
	}
	if n := pageBytes(snap); n > MaxErrorPageBytes {
		return nil, fmt.Errorf("snapshot: the error pages take %d KiB in the snapshot (every route carries its own copy), more than %d KiB: "+
			"give fewer routes their own pages, or use the global file's top-level error_pages, which the snapshot carries once", n>>10, MaxErrorPageBytes>>10)
	}
	return snap, nil
}

// MaxErrorPageBytes bounds the error page sources of one snapshot, copies included, so that a
// page under global defaults on many routes cannot make a snapshot the gRPC stream refuses.
const MaxErrorPageBytes = 16 << 20

func pageBytes(snap *proxyv1.Snapshot) int {
	n := 0
	for _, src := range snap.GetErrorPages() {
		n += len(src)
	}
	for _, r := range snap.GetRoutes() {
		for _, src := range r.GetPolicy().GetErrorPages() {
			n += len(src)
		}
	}
	return n
}

// errorPages gives each status its template source, which config.Load read and checked: the
// data planes get templates, not paths of files they cannot read. nil for none.
func errorPages(pages config.ErrorPages, sources map[string]string) (map[int32]string, error) {
	if len(pages) == 0 {
		return nil, nil
	}
	out := make(map[int32]string, len(pages))
	for code, file := range pages {
		src, ok := sources[file]
		if !ok {
			// config.Load reads every page; a Config built by hand may lack one.
			return nil, fmt.Errorf("%d: page %s was not loaded", code, file)
		}
		out[int32(code)] = src
	}
	return out, nil
}

// edge translates the global file's tls:, acme: and geoip: sections, trusted_proxies and
// proxy_protocol. Certificates are not part of the configuration files: the reloader adds them
// from the certificate directory.
func edge(g *config.Global) *proxyv1.Edge {
	if g == nil {
		return &proxyv1.Edge{}
	}
	return &proxyv1.Edge{
		DefaultCertificate:    g.TLS.DefaultCertificate,
		Http3Disabled:         !g.TLS.HTTP3,
		AcmeChallengeBackend:  g.ACME.ChallengeBackend,
		HttpsRedirectDisabled: !g.TLS.RedirectHTTP,
		TrustedProxies:        prefixes(g.TrustedProxies),
		ProxyProtocol:         g.ProxyProtocol,
		GeoipDatabase:         g.GeoIP.Database,
		Whitelist:             prefixes(g.Whitelist),
	}
}

// prefixes writes networks as CIDRs ("10.0.0.0/8", "192.0.2.7/32"); nil for none.
func prefixes(l config.PrefixList) []string {
	var out []string
	for _, p := range l {
		out = append(out, p.String())
	}
	return out
}

// RouteID is the stable, human-readable id of a route: its first host and its path prefix
// ("gpanel.chilla55.de/", "gpanel.chilla55.de/api"). It is unique because a host and path
// belong to one route only, and stays the same while the route's first host and path do, so
// stored data (logs, roll-ups) keyed by it survives other edits of the site.
func RouteID(firstHost, path string) string {
	return firstHost + path
}
