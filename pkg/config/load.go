package config

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is one consistent view of the configuration files. Its values are read-only: routes
// of a site share their policy sections.
type Config struct {
	Global *Global
	// Sites sorted by file name, disabled ones included.
	Sites []*Site
	// Hash is the SHA-256 (hex) of the names and contents of the files read, so that an
	// unchanged directory gives the same hash.
	Hash string
	// Pages are the error page templates every error_pages names, by path: their source,
	// checked by pagetemplate.Check (pages.go).
	Pages map[string]string
}

// Load reads the global file and every site file of sitesDir, and validates them alone and
// together. globalPath may be "" or name a missing file: there is then no global
// configuration. sitesDir must exist.
//
// Site files are the entries of sitesDir whose names end in .yaml or .yml; names starting
// with "." (hidden files, editor lock files like .#site.yaml, Kubernetes' ..data) are
// ignored, and so are editor backups (site.yaml~, site.yaml.swp), which do not end in .yaml.
// Symbolic links are followed; subdirectories are not read.
//
// The error, if not nil, is an ErrorList holding every problem found; the Config is then nil.
func Load(globalPath, sitesDir string) (*Config, error) {
	errs := &errorSink{}
	h := sha256.New()
	g := emptyGlobal()
	if globalPath != "" {
		data, err := os.ReadFile(globalPath)
		switch {
		case err == nil:
			hashFile(h, "global:"+filepath.Base(globalPath), data)
			before := len(errs.list)
			g = parseGlobal(globalPath, data, errs)
			g.Source = data
			if len(errs.list) > before {
				// Judge the sites without the broken defaults, so that their own problems are
				// still reported, and only once.
				g = emptyGlobal()
				g.File = globalPath
			}
		case errors.Is(err, fs.ErrNotExist):
		default:
			errs.add(Error{File: globalPath, Msg: fmt.Sprintf("cannot read: %v", unwrapPathError(err))})
		}
	}

	entries, err := os.ReadDir(sitesDir)
	if err != nil {
		errs.add(Error{File: sitesDir, Msg: fmt.Sprintf("cannot read the sites directory: %v", unwrapPathError(err))})
		return nil, errs.err()
	}
	cfg := &Config{Global: g}
	for _, e := range entries {
		name := e.Name()
		if !isSiteFile(name) {
			continue
		}
		path := filepath.Join(sitesDir, name)
		info, err := os.Stat(path) // follows symbolic links
		if err != nil {
			errs.add(Error{File: path, Msg: fmt.Sprintf("cannot read: %v", unwrapPathError(err))})
			continue
		}
		if info.IsDir() {
			errs.add(Error{File: path, Msg: "is a directory, not a site file"})
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			errs.add(Error{File: path, Msg: fmt.Sprintf("cannot read: %v", unwrapPathError(err))})
			continue
		}
		hashFile(h, "site:"+name, data)
		if s := parseSite(path, data, g, errs); s != nil {
			s.Source = data
			cfg.Sites = append(cfg.Sites, s)
		}
	}
	sort.Slice(cfg.Sites, func(i, j int) bool { return cfg.Sites[i].File < cfg.Sites[j].File })

	checkRoutes(cfg.Sites, errs)
	checkSiteNames(cfg.Sites, errs)
	checkWebhookRoutes(g, cfg.Sites, errs)
	checkGeoIP(g, cfg.Sites, errs)
	cfg.Pages = loadErrorPages(g, cfg.Sites, h, errs)
	cfg.Hash = hex.EncodeToString(h.Sum(nil))
	if err := errs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func isSiteFile(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

func hashFile(h hash.Hash, name string, data []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(name)))
	h.Write(n[:])
	h.Write([]byte(name))
	binary.BigEndian.PutUint64(n[:], uint64(len(data)))
	h.Write(n[:])
	h.Write(data)
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// place formats where a node is, for messages that point at another place.
func place(file string, n *yaml.Node) string {
	return fmt.Sprintf("%s:%d:%d", file, n.Line, n.Column)
}

// checkRoutes reports a host and path that two routes claim: within a site always, across
// sites only between enabled sites (a disabled copy of a site is fine).
func checkRoutes(sites []*Site, errs *errorSink) {
	type claim struct {
		file string
		at   *yaml.Node
	}
	served := map[string]claim{}
	for _, s := range sites {
		local := map[string]claim{}
		for _, r := range s.Routes {
			for _, h := range r.Hosts {
				key := h + r.Path
				at := r.hostAt[h]
				if at == nil {
					continue
				}
				prev, ok := local[key]
				if !ok && s.Enabled {
					prev, ok = served[key]
				}
				if ok {
					errs.add(Error{File: s.File, Line: at.Line, Column: at.Column,
						Msg: fmt.Sprintf("host %q with path %q is already defined at %s", h, r.Path, place(prev.file, prev.at))})
					continue
				}
				local[key] = claim{s.File, at}
			}
		}
		if s.Enabled {
			for k, c := range local {
				served[k] = c
			}
		}
	}
}

// checkSiteNames reports two sites with one name.
func checkSiteNames(sites []*Site, errs *errorSink) {
	first := map[string]*Site{}
	for _, s := range sites {
		prev, ok := first[s.Name]
		if !ok {
			first[s.Name] = s
			continue
		}
		e := Error{File: s.File, Msg: fmt.Sprintf("site name %q is already used by %s", s.Name, prev.File)}
		if s.nameAt != nil {
			e.Line, e.Column = s.nameAt.Line, s.nameAt.Column
			e.Msg = "service.name: " + e.Msg
		}
		errs.add(e)
	}
}

// checkWebhookRoutes reports a webhook route that no site serves, which would silently never
// alert.
func checkWebhookRoutes(g *Global, sites []*Site, errs *errorSink) {
	var hosts []string
	for _, s := range sites {
		for _, r := range s.Routes {
			hosts = append(hosts, r.Hosts...)
		}
	}
	for i, w := range g.Webhooks {
		for _, h := range w.Routes {
			found := false
			for _, p := range hosts {
				if matchesHost(p, h) || p == h {
					found = true
					break
				}
			}
			at := w.hostAt[h]
			if found || at == nil {
				continue
			}
			errs.add(Error{File: g.File, Line: at.Line, Column: at.Column,
				Msg: fmt.Sprintf("webhooks[%d].routes: no site serves host %q%s", i, h, didYouMean(h, hosts))})
		}
	}
}

// checkGeoIP reports a route that filters or watches countries while no GeoIP database is
// configured: its allowed_countries would silently let everyone in.
func checkGeoIP(g *Global, sites []*Site, errs *errorSink) {
	if g.GeoIP.Database != "" {
		return
	}
	for _, s := range sites {
		for _, r := range s.Routes {
			if geo := r.Policy.GeoIP; s.Enabled && geo != nil && geo.Enabled && geo.at != nil {
				errs.add(Error{File: geo.file, Line: geo.at.Line, Column: geo.at.Column,
					Msg: "geoip is enabled but the global file names no geoip.database"})
			}
		}
	}
}
