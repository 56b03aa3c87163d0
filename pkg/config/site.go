package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Site is one file of the sites directory.
type Site struct {
	// Name is service.name, or the file name without its extension.
	Name string
	// File is the path the site was read from.
	File string
	// Source is the file's content as read, for the audit trail.
	Source []byte
	// Enabled is false when the file says enabled: false: the site is loaded and validated,
	// but its routes are not served.
	Enabled bool
	// Routes in the order they are written; the flat form has one, at path "/".
	Routes []Route
	// Policy is the site's effective policy: built-in defaults, then the global defaults,
	// then the site's tier, then the site's own sections. Routes may override it.
	Policy Policy
	// Tier is the security tier the site says (tier:), or "" for none; see tier.go.
	Tier string
	// Audit is the audit level of the site's routes: audit:, or the tier's, or standard.
	Audit string

	nameAt *yaml.Node // where the name is written (nil: the file name)
	// For the effective configuration: where tier: and audit: are written, and the files
	// of the nodes that came from another layer.
	tierAt, auditAt *yaml.Node
	origin          map[*yaml.Node]string
	trees           []*yaml.Node // each route's policy as written, layers merged
}

// Route sends requests for some hosts under a path prefix to one backend.
type Route struct {
	// Hosts are lower-case names, "*.example.org" for any subdomain.
	Hosts []string
	// Path is a prefix matched on segment boundaries, without a trailing slash ("/" for all).
	Path string
	// Backend is an absolute http:// or https:// URL.
	Backend string
	// Policy is the route's effective policy: the site's, then the route's own options.
	Policy Policy
	// Line and Column are where the route is written (its host for the flat form).
	Line, Column int

	hostAt map[string]*yaml.Node // where each host is written
}

// siteFile is the schema of the top level of a site file, apart from the policy sections the
// flat form writes there.
type siteFile struct {
	Enabled *bool        `yaml:"enabled"`
	Service *serviceSpec `yaml:"service"`
	Host    Hosts        `yaml:"host"`
	Backend backendURL   `yaml:"backend"`
	Routes  []routeSpec  `yaml:"routes"`
	Options *yaml.Node   `yaml:"options"`
	Tier    string       `yaml:"tier"`
	Audit   string       `yaml:"audit"`
}

type serviceSpec struct {
	Name string `yaml:"name"`
}

type routeSpec struct {
	Domains Hosts      `yaml:"domains"`
	Path    string     `yaml:"path"`
	Backend backendURL `yaml:"backend"`
	Options *yaml.Node `yaml:"options"`

	node   *yaml.Node
	hostAt map[string]*yaml.Node
}

// backendURL is a backend URL, normalised when decoded.
type backendURL string

func (b *backendURL) decodeNode(d *decoder, n *yaml.Node, path string) {
	s, ok := d.scalar(n, path)
	if !ok {
		return
	}
	u, err := normalizeBackend(s)
	if err != nil {
		d.failf(n, path, "%v", err)
		return
	}
	*b = backendURL(u)
}

func (s *serviceSpec) check(sec *section) {
	switch {
	case !sec.has("name") || s.Name == "":
		sec.errorf("name", "missing name")
	case len(s.Name) > 100 || strings.ContainsFunc(s.Name, func(r rune) bool { return r <= ' ' || r == '/' || r == 0x7f }):
		sec.errorf("name", "%q is not a valid name (up to 100 characters, no spaces or /)", s.Name)
	}
}

func (r *routeSpec) check(s *section) {
	r.node = s.node
	var missing []string
	if !s.has("domains") {
		missing = append(missing, "domains")
	}
	if !s.has("backend") {
		missing = append(missing, "backend")
	}
	if len(missing) > 0 {
		s.errorf("", "missing %s", strings.Join(missing, " and "))
	}
	if !s.has("path") {
		r.Path = "/"
	} else if p, err := normalizeRoutePath(r.Path); err != nil {
		s.errorf("path", "%v", err)
	} else {
		r.Path = p
	}
	r.hostAt = hostNodes(s.vals["domains"])
}

func (r *routeSpec) hint(key string) string {
	switch {
	case key == "host" || key == "hosts" || key == "domain" || key == "server_name":
		return `; did you mean "domains"?`
	case contains(policyKeys(), key):
		return `; a route's policy sections go under "options"`
	}
	return ""
}

// hostNodes maps each host written at n (one name or a list) to its node.
func hostNodes(n *yaml.Node) map[string]*yaml.Node {
	m := map[string]*yaml.Node{}
	if n == nil {
		return m
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for _, item := range items {
		if h, err := normalizeHost(item.Value); err == nil && m[h] == nil {
			m[h] = item
		}
	}
	return m
}

func policyKeys() []string { return keysOf(Policy{}) }

// ParseSite parses and validates one site file under the built-in defaults only (no global
// file). file names the file in errors.
func ParseSite(file string, data []byte) (*Site, error) {
	errs := &errorSink{}
	g := emptyGlobal()
	s := parseSite(file, data, g, errs)
	if s != nil {
		checkRoutes([]*Site{s}, errs)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// parseSite parses a site file with g's defaults layer (built-in and global defaults, and the
// site's tier) under its policy. It reports into errs and returns what it could make of the
// file (nil if nothing).
func parseSite(file string, data []byte, g *Global, errs *errorSink) *Site {
	d := &decoder{file: file, root: "site", errs: errs, origin: g.origin}
	before := len(errs.list)
	root := parseDocument(d, data)
	if root == nil {
		if len(errs.list) == before {
			errs.add(Error{File: file, Line: 1, Column: 1, Msg: `empty site file: write "host" and "backend", or "routes"`})
		}
		return nil
	}
	if root.Kind != yaml.MappingNode {
		d.failf(root, "", "a site file is a mapping of keys such as host and backend, found %s", describe(root))
		return nil
	}

	// Split the top level: the flat form writes policy sections beside host and backend.
	siteKeys, pKeys := keysOf(siteFile{}), policyKeys()
	var sitePairs, policyPairs []*yaml.Node
	keyAt := map[string]*yaml.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			d.failf(k, "", "keys must be plain names, found %s", describe(k))
		case isExtensionKey(k.Value):
		case contains(siteKeys, k.Value):
			sitePairs = append(sitePairs, k, v)
			if !isNull(v) {
				keyAt[k.Value] = k
			}
		case contains(pKeys, k.Value):
			policyPairs = append(policyPairs, k, v)
		default:
			d.unknownKey(k, "site", append(append([]string{}, siteKeys...), pKeys...))
		}
	}
	var sf siteFile
	d.decode(mappingNode(root, sitePairs), "", &sf)

	s := &Site{File: file, Enabled: true, Tier: sf.Tier, Audit: sf.Audit, origin: g.origin,
		tierAt: valueOf(root, "tier"), auditAt: valueOf(root, "audit")}
	if !contains(tierNames, s.Tier) {
		s.Tier = "" // reported
	}
	if !contains(auditLevels, s.Audit) {
		s.Audit = TierAudit(s.Tier)
	}
	base := g.tierBase(s.Tier)
	if sf.Enabled != nil {
		s.Enabled = *sf.Enabled
	}
	s.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	if sf.Service != nil && sf.Service.Name != "" {
		s.Name = sf.Service.Name
		s.nameAt = valueOf(valueOf(root, "service"), "name")
	}

	// The policy: sections at the top level, or under options:, not both.
	var own *yaml.Node
	path := ""
	switch {
	case keyAt["options"] != nil && len(policyPairs) > 0:
		d.failf(keyAt["options"], "", "%q cannot be combined with policy sections at the top level (%q at line %d); put them all under options",
			"options", policyPairs[0].Value, policyPairs[0].Line)
	case keyAt["options"] != nil:
		own, path = sf.Options, "options"
	case len(policyPairs) > 0:
		own = mappingNode(root, policyPairs)
	}
	effective := overlay(base, own)
	d.decode(effective, path, &s.Policy)

	// The routes: host and backend (one route at /), or routes:, not both.
	switch {
	case keyAt["routes"] != nil && (keyAt["host"] != nil || keyAt["backend"] != nil):
		k := keyAt["host"]
		if k == nil {
			k = keyAt["backend"]
		}
		d.failf(k, "", "%q cannot be combined with %q; write hosts and backends in routes[].domains and routes[].backend", k.Value, "routes")
	case keyAt["routes"] != nil:
		if len(sf.Routes) == 0 {
			d.failf(valueOf(root, "routes"), "routes", "must list at least one route")
		}
		for i, rs := range sf.Routes {
			if rs.node == nil || len(rs.Domains) == 0 || rs.Backend == "" {
				continue // reported
			}
			r := Route{Hosts: rs.Domains, Path: rs.Path, Backend: string(rs.Backend), Policy: s.Policy,
				Line: rs.node.Line, Column: rs.node.Column, hostAt: rs.hostAt}
			tree := effective
			if !isNull(rs.Options) {
				r.Policy = Policy{}
				tree = overlay(effective, rs.Options)
				d.decode(tree, fmt.Sprintf("routes[%d].options", i), &r.Policy)
			}
			s.Routes = append(s.Routes, r)
			s.trees = append(s.trees, tree)
		}
	case keyAt["host"] != nil && keyAt["backend"] == nil:
		d.failf(keyAt["host"], "", "missing %q: the URL requests for this host are sent to, such as http://app:8080", "backend")
	case keyAt["backend"] != nil && keyAt["host"] == nil:
		d.failf(keyAt["backend"], "", "missing %q: the host name requests for this backend arrive for", "host")
	case keyAt["host"] != nil:
		if len(sf.Host) > 0 && sf.Backend != "" {
			hn := valueOf(root, "host")
			s.Routes = []Route{{Hosts: sf.Host, Path: "/", Backend: string(sf.Backend), Policy: s.Policy,
				Line: hn.Line, Column: hn.Column, hostAt: hostNodes(hn)}}
			s.trees = []*yaml.Node{effective}
		}
	default:
		d.failf(root, "", `no route: write "host" and "backend", or "routes"`)
	}
	return s
}

// valueOf returns the value of key in mapping n, or nil.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// isExtensionKey reports a top-level key starting with "x-": such keys are ignored, so that
// a file can hold YAML anchors to reuse (as in Docker Compose files).
func isExtensionKey(k string) bool { return strings.HasPrefix(k, "x-") }
