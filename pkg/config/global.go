package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Global is the global file (/etc/proxy/global.yaml).
type Global struct {
	// File is the path the global file was read from ("" when there is none).
	File string
	// Source is the file's content as read (nil when there is none), for the audit trail.
	Source []byte
	// Defaults is the policy every route starts from: the built-in defaults with the file's
	// defaults: on top. A site's tier and own values win over it, key by key.
	Defaults Policy
	// TrustedProxies are the networks whose X-Forwarded-For and PROXY protocol headers are
	// believed when finding a client's address.
	TrustedProxies PrefixList
	// ProxyProtocol makes the data planes' TCP listeners expect a PROXY protocol (v1 or v2)
	// header on every connection, from TrustedProxies only (a load balancer in front).
	ProxyProtocol bool
	// Whitelist are client networks never rate limited nor banned, on every route.
	Whitelist PrefixList
	// Webhooks receive alerts.
	Webhooks []Webhook
	// GeoIP names the GeoIP database (geoip: at the top level of the global file).
	GeoIP GeoIPDatabase
	// Backup schedules the backups of the control plane's database.
	Backup Backup
	// Retention schedules the job that deletes data older than its data_retention period.
	Retention Retention
	// TLS sets how the data planes serve HTTPS; its zero-configuration value (no tls:
	// section) has HTTP3 and RedirectHTTP on.
	TLS TLS
	// ACME passes certificate challenges on the HTTP port to an external ACME client.
	ACME ACME
	// Alerts tunes the thresholds of the alert detectors (alerts.go).
	Alerts Alerts
	// ErrorPages are the global error pages (error_pages: at the top level): the pages of
	// routes that have none of their own for a status, and of requests no route matches.
	// defaults: error_pages are a route's own pages, on every route.
	ErrorPages ErrorPages
	// Maintenance holds the clients that reach routes in maintenance (maintenance.go).
	Maintenance Maintenance

	defaults *yaml.Node            // the defaults layer: built-in, then defaults:
	origin   map[*yaml.Node]string // nodes of defaults that come from the global file
	tiers    map[string]*yaml.Node // each tier's layer over defaults, made when a site asks (tier.go)
}

// globalFile is the schema of the global file.
type globalFile struct {
	Defaults       *yaml.Node     `yaml:"defaults"`
	TrustedProxies PrefixList     `yaml:"trusted_proxies"`
	ProxyProtocol  bool           `yaml:"proxy_protocol"`
	Whitelist      PrefixList     `yaml:"whitelist"`
	Webhooks       []Webhook      `yaml:"webhooks"`
	GeoIP          *GeoIPDatabase `yaml:"geoip"`
	Backup         *Backup        `yaml:"backup"`
	Retention      *Retention     `yaml:"retention"`
	TLS            *TLS           `yaml:"tls"`
	ACME           *ACME          `yaml:"acme"`
	Alerts         *Alerts        `yaml:"alerts"`
	ErrorPages     ErrorPages     `yaml:"error_pages"`
	Maintenance    Maintenance    `yaml:"maintenance"`
}

// TLS is the tls: section: settings of the HTTPS listeners, shared by every site. The
// certificates themselves are read from the certificate directory (PROXY_CERTS_DIR).
type TLS struct {
	// DefaultCertificate names the certificate served when none matches the name a client
	// asks for (SNI), or when it asks for none: a certbot lineage or a file name without its
	// extension ("example.org" for live/example.org/ or example.org.crt). Empty: such
	// handshakes fail. Whether it exists is known once the certificate directory is read, so
	// it is checked then, not here.
	DefaultCertificate string `yaml:"default_certificate"`
	// HTTP3 serves HTTP/3 (QUIC) and advertises it with Alt-Svc; default true.
	HTTP3 bool `yaml:"http3"`
	// RedirectHTTP answers plain HTTP with a 308 redirect to HTTPS for hosts that have a
	// certificate (ACME challenges excepted); default true.
	RedirectHTTP bool `yaml:"redirect_http"`
}

// ACME is the acme: section. The proxy does not request certificates itself: an external
// client (certbot, lego, acme.sh) does, and writes them to the certificate directory.
type ACME struct {
	// ChallengeBackend is the absolute http:// or https:// URL that requests for
	// /.well-known/acme-challenge/ on the HTTP port are proxied to (a certbot container in
	// --webroot or --standalone mode). Empty: they are answered 404.
	ChallengeBackend string `yaml:"challenge_backend"`
}

// defaultTLS is the TLS setting without a tls: section.
var defaultTLS = TLS{HTTP3: true, RedirectHTTP: true}

func (t *TLS) check(s *section) {
	setDefault(s, "http3", &t.HTTP3, true)
	setDefault(s, "redirect_http", &t.RedirectHTTP, true)
	if !s.has("default_certificate") {
		return
	}
	name := t.DefaultCertificate
	switch {
	case strings.TrimSpace(name) == "":
		s.errorf("default_certificate", "must name a certificate")
	case strings.ContainsRune(name, '/'):
		s.errorf("default_certificate", "%q is a path; name the certificate instead: the certbot lineage or the file name without extension (%q)",
			name, certName(filepath.Base(name)))
	case strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		s.errorf("default_certificate", "%q contains control characters", name)
	case certName(name) != name:
		s.errorf("default_certificate", "%q is a file name; name the certificate instead, without extension: %q", name, certName(name))
	}
}

// certName strips a certificate file's extension, for hints.
func certName(file string) string {
	lower := strings.ToLower(file)
	for _, ext := range []string{".cert.pem", ".crt.pem", ".key.pem", ".crt", ".cer", ".key", ".pem"} {
		if strings.HasSuffix(lower, ext) && len(file) > len(ext) {
			return file[:len(file)-len(ext)]
		}
	}
	return file
}

// hint explains unknown keys of acme:, which often come from ACME clients' own settings.
func (a *ACME) hint(key string) string {
	k := strings.ToLower(key)
	if strings.Contains(k, "backend") || strings.Contains(k, "url") || strings.Contains(k, "challenge") {
		return `; did you mean "challenge_backend"?`
	}
	return "; the proxy does not request certificates itself (its ACME client does, see docs/configuration.md): acme: only takes challenge_backend"
}

func (a *ACME) check(s *section) {
	if !s.has("challenge_backend") {
		s.errorf("", "missing challenge_backend (the URL of the ACME client that answers /.well-known/acme-challenge/)")
		return
	}
	u, err := normalizeBackend(a.ChallengeBackend)
	if err != nil {
		s.errorf("challenge_backend", "%v", err)
		return
	}
	a.ChallengeBackend = u
}

// Webhook sends alerts to a Discord, Slack or generic HTTP endpoint.
type Webhook struct {
	Name string `yaml:"name"` // unique among webhooks
	URL  string `yaml:"url"`  // http:// or https://
	// Format of the payload: discord, slack or generic (JSON). Default: discord for
	// discord.com URLs, slack for hooks.slack.com, generic otherwise.
	Format string   `yaml:"format"`
	Events []string `yaml:"events"` // see WebhookEvents
	// Routes limits route events to these hosts; empty means all routes. Each must be a
	// host of some site.
	Routes Hosts `yaml:"routes"`
	// Throttle is the shortest time between two alerts of one event type; default 5m, 0 sends
	// every alert.
	Throttle time.Duration `yaml:"throttle"`
	// SecretFile is the absolute path of the file holding the key that signs generic payloads
	// (HMAC-SHA256), as a Docker secret is mounted (/run/secrets/...). Required for the generic
	// format, refused for the others. The file is read when a payload is signed, never here.
	SecretFile string `yaml:"secret_file"`

	nameAt *yaml.Node
	hostAt map[string]*yaml.Node
}

// GeoIPDatabase names the MaxMind GeoLite2 (or GeoIP2) City or Country database.
type GeoIPDatabase struct {
	Database string `yaml:"database"` // path of the .mmdb file, as seen by the data planes
}

// Backup is the three-tier backup of the control plane's SQLite database. It is on when the
// backup: section is written (unless enabled: false); each tier is on unless it says
// enabled: false.
type Backup struct {
	Enabled bool `yaml:"enabled"`
	// Dir is the absolute directory the backups are written to; empty: the control plane's
	// default ($BACKUP_DIR, else /mnt/storagebox/backups/proxy).
	Dir          string           `yaml:"dir"`
	Encryption   BackupEncryption `yaml:"encryption"`   // required when enabled: backups leave the host
	Full         BackupTier       `yaml:"full"`         // default: "0 2 * * 0" (Sunday 02:00), keep 4
	Differential BackupTier       `yaml:"differential"` // default: "0 2 * * 3" (Wednesday 02:00), keep 8
	Incremental  BackupTier       `yaml:"incremental"`  // default: "0 * * * *" (hourly, if changed), keep 168
}

// BackupEncryption names the key backups are encrypted with (age): exactly one of an X25519
// identity file (AGE-SECRET-KEY-1..., made by "controlplane backup keygen") or a passphrase file.
// The files are read by the control plane, never by this package.
type BackupEncryption struct {
	IdentityFile   string `yaml:"identity_file"`
	PassphraseFile string `yaml:"passphrase_file"`
}

// Retention is the retention: section: when the control plane deletes stored data older than
// each route's data_retention periods. Schedules run in the control plane's local time.
type Retention struct {
	Schedule Schedule `yaml:"schedule"` // default "0 3 * * *" (daily at 03:00)
}

// defaultRetentionSchedule is when the retention job runs without a retention: section.
const defaultRetentionSchedule = "0 3 * * *"

func (r *Retention) check(s *section) {
	if !s.has("schedule") {
		r.Schedule = mustParseSchedule(defaultRetentionSchedule)
	}
}

// BackupTier is one kind of backup: when it is taken and how many are kept.
type BackupTier struct {
	Enabled  bool     `yaml:"enabled"`
	Schedule Schedule `yaml:"schedule"`
	Keep     int      `yaml:"keep"` // the newest Keep backups of the tier are kept

	written map[string]bool
}

// webhookEvents are the names of the control plane's alert.Types() (a test there keeps them
// equal; this package cannot import the control plane).
var webhookEvents = []string{
	"service_down", "service_recovered",
	"cert_expiring_30d", "cert_expiring_14d", "cert_expiring_7d", "cert_expired",
	"high_error_rate", "failed_login_spike", "waf_block_spike",
	"rate_limit_ban", "unusual_country_login", "slow_request_critical",
	"circuit_open", "circuit_closed", "config_rejected", "dataplane_disconnected",
	"backup_failed", "security_incident",
}

// WebhookEvents returns the event names a webhook may subscribe to.
func WebhookEvents() []string { return append([]string(nil), webhookEvents...) }

var webhookFormats = []string{"discord", "slack", "generic"}

func (w *Webhook) check(s *section) {
	w.nameAt = s.vals["name"]
	w.hostAt = hostNodes(s.vals["routes"])
	var missing []string
	for _, k := range []string{"name", "url", "events"} {
		if !s.has(k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		s.errorf("", "missing %s", strings.Join(missing, " and "))
	}
	if s.has("name") && (w.Name == "" || strings.ContainsFunc(w.Name, func(r rune) bool { return r <= ' ' })) {
		s.errorf("name", "%q is not a valid name (no spaces)", w.Name)
	}
	var u *url.URL
	if s.has("url") {
		var err error
		u, err = url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			s.errorf("url", "%q is not an absolute http:// or https:// URL", w.URL)
			u = nil
		}
	}
	if s.has("events") && len(w.Events) == 0 {
		s.errorf("events", "must list at least one event")
	}
	seen := map[string]bool{}
	for i, e := range w.Events {
		n := s.vals["events"].Content[i]
		switch {
		case !contains(webhookEvents, e):
			s.d.failf(n, s.path+".events", "unknown event %q%s", e, didYouMean(e, webhookEvents))
		case seen[e]:
			s.d.failf(n, s.path+".events", "event %q is listed twice", e)
		}
		seen[e] = true
	}
	if s.has("format") {
		s.enum("format", w.Format, webhookFormats...)
	} else if u != nil {
		switch h := strings.ToLower(u.Hostname()); {
		case h == "discord.com" || h == "discordapp.com" || strings.HasSuffix(h, ".discord.com"):
			w.Format = "discord"
		case h == "hooks.slack.com":
			w.Format = "slack"
		default:
			w.Format = "generic"
		}
	}
	setDefault(s, "throttle", &w.Throttle, 5*time.Minute)
	switch {
	case w.Format == "generic" && !s.has("secret_file"):
		s.errorf("", "missing secret_file (the file with the key that signs generic payloads); every generic payload is signed")
	case s.has("secret_file") && w.Format != "generic" && contains(webhookFormats, w.Format):
		s.errorf("secret_file", "only the generic format is signed; a %s webhook's URL is its own credential", w.Format)
	case s.has("secret_file") && !filepath.IsAbs(w.SecretFile):
		s.errorf("secret_file", "%q is not an absolute path", w.SecretFile)
	}
}

func (g *GeoIPDatabase) check(s *section) {
	if !s.has("database") || g.Database == "" {
		s.errorf("database", "missing database (the path of a GeoLite2 .mmdb file)")
	}
}

func (t *BackupTier) check(s *section) {
	t.written = map[string]bool{}
	for k := range s.vals {
		t.written[k] = true
	}
	if s.has("keep") && t.Keep == 0 {
		s.errorf("keep", "must be at least 1")
	}
}

func (e *BackupEncryption) check(s *section) {
	for _, k := range []struct{ key, path string }{{"identity_file", e.IdentityFile}, {"passphrase_file", e.PassphraseFile}} {
		if s.has(k.key) && !filepath.IsAbs(k.path) {
			s.errorf(k.key, "%q is not an absolute path", k.path)
		}
	}
	if e.IdentityFile != "" && e.PassphraseFile != "" {
		s.errorf("passphrase_file", "give identity_file or passphrase_file, not both")
	}
}

func (b *Backup) check(s *section) {
	switchOn(s, &b.Enabled)
	if s.has("dir") && !filepath.IsAbs(b.Dir) {
		s.errorf("dir", "%q is not an absolute path", b.Dir)
	}
	if !b.Enabled {
		return
	}
	if b.Encryption.IdentityFile == "" && b.Encryption.PassphraseFile == "" {
		s.errorf("", "missing encryption.identity_file or encryption.passphrase_file: backups leave the host, so they are encrypted; make a key with \"controlplane backup keygen --out FILE\" and name it in encryption.identity_file (or set enabled: false)")
	}
	for _, t := range []struct {
		tier     *BackupTier
		schedule string
		keep     int
	}{{&b.Full, "0 2 * * 0", 4}, {&b.Differential, "0 2 * * 3", 8}, {&b.Incremental, "0 * * * *", 168}} {
		w := t.tier.written
		if !w["enabled"] {
			t.tier.Enabled = true
		}
		if !w["schedule"] {
			t.tier.Schedule = mustParseSchedule(t.schedule)
		}
		if !w["keep"] {
			t.tier.Keep = t.keep
		}
	}
}

func (g *globalFile) check(s *section) {
	if g.ProxyProtocol && len(g.TrustedProxies) == 0 {
		s.errorf("proxy_protocol", "needs trusted_proxies: a PROXY protocol header is accepted only from a trusted proxy (the load balancer), so every connection would be refused")
	}
	seen := map[string]*yaml.Node{}
	for i := range g.Webhooks {
		w := &g.Webhooks[i]
		if w.Name == "" || w.nameAt == nil {
			continue
		}
		if prev, ok := seen[w.Name]; ok {
			s.d.failf(w.nameAt, fmt.Sprintf("webhooks[%d].name", i), "webhook %q is already defined at line %d", w.Name, prev.Line)
			continue
		}
		seen[w.Name] = w.nameAt
	}
}

// ParseGlobal parses and validates the global file. file names the file in errors.
func ParseGlobal(file string, data []byte) (*Global, error) {
	errs := &errorSink{}
	g := parseGlobal(file, data, errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return g, nil
}

// emptyGlobal is the configuration without a global file.
func emptyGlobal() *Global {
	g := &Global{TLS: defaultTLS, Retention: Retention{Schedule: mustParseSchedule(defaultRetentionSchedule)},
		Alerts:   DefaultAlerts,
		defaults: builtinRoot(), origin: builtinOrigin()}
	d := &decoder{file: builtinFile, root: "defaults", errs: &errorSink{}, origin: g.origin}
	d.decode(g.defaults, "", &g.Defaults)
	return g
}

func parseGlobal(file string, data []byte, errs *errorSink) *Global {
	g := emptyGlobal()
	d := &decoder{file: file, root: "global", errs: errs, origin: g.origin}
	g.File = file
	root := parseDocument(d, data)
	if root == nil {
		return g // an empty global file configures nothing
	}
	var gf globalFile
	d.decode(withoutExtensionKeys(root), "", &gf)
	g.TrustedProxies, g.Webhooks, g.Backup = gf.TrustedProxies, gf.Webhooks, Backup{}
	g.ProxyProtocol = gf.ProxyProtocol
	g.Whitelist = gf.Whitelist
	g.ErrorPages = gf.ErrorPages
	if gf.GeoIP != nil {
		g.GeoIP = *gf.GeoIP
	}
	if gf.Backup != nil {
		g.Backup = *gf.Backup
	}
	if gf.Retention != nil {
		g.Retention = *gf.Retention
	}
	if gf.TLS != nil {
		g.TLS = *gf.TLS
	}
	if gf.ACME != nil {
		g.ACME = *gf.ACME
	}
	if gf.Alerts != nil {
		g.Alerts = *gf.Alerts
	}
	g.Maintenance = gf.Maintenance
	if !isNull(gf.Defaults) {
		layer := overlay(builtinRoot(), gf.Defaults)
		g.Defaults = Policy{}
		d.decode(layer, "defaults", &g.Defaults)
		g.defaults = layer
		walk(layer, func(n *yaml.Node) {
			if _, ok := g.origin[n]; !ok {
				g.origin[n] = file
			}
		})
	}
	return g
}

// withoutExtensionKeys drops the x- keys of a mapping (see isExtensionKey).
func withoutExtensionKeys(n *yaml.Node) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return n
	}
	var pairs []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !isExtensionKey(n.Content[i].Value) {
			pairs = append(pairs, n.Content[i], n.Content[i+1])
		}
	}
	return mappingNode(n, pairs)
}
