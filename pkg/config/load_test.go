package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFiles creates files (name → content) under dir; a content starting with "->" makes a
// symbolic link to the rest.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadErr loads and returns the error text with the temp dir replaced by "DIR".
func loadErr(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	writeFiles(t, dir, files)
	_, err := Load(filepath.Join(dir, "global.yaml"), filepath.Join(dir, "sites"))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	return strings.ReplaceAll(err.Error(), dir, "DIR")
}

const globalYAML = `
trusted_proxies: [10.0.0.0/8, 192.168.1.10]
proxy_protocol: true
defaults:
  timeouts: {connect: 3s}
  waf: {enabled: true, mode: block}
  error_pages:
    502: error-pages/502.html
webhooks:
  - name: discord-alerts
    url: https://discord.com/api/webhooks/1/abc
    events: [service_down, cert_expiring_7d]
    routes: [gpanel.chilla55.de, shop.example.org]
    throttle: 300
geoip:
  database: /data/GeoLite2-City.mmdb
backup:
  dir: /mnt/storagebox/backups/proxy
  encryption: {identity_file: /run/secrets/proxy_backup_key}
  incremental: {keep: 24}
  differential: {enabled: false}
`

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"global.yaml": globalYAML,
		"sites/gpanel.yaml": `
host: gpanel.chilla55.de
backend: http://pterodactyl_panel:80
waf: {mode: log}
error_pages:
  404: pages/404.html
`,
		"error-pages/502.html": "<h1>{{.StatusCode}}</h1>",
		"sites/pages/404.html": "<p>{{.RequestID}}</p>",
		"sites/vault.yml": `
service: {name: vault}
routes:
  - {domains: [vault.chilla55.de], backend: 'http://vaultwarden:80'}
options:
  timeouts: {read: 60s}
  geoip: {allowed_countries: [DE]}
`,
		"sites/old.yaml":            "enabled: false\nhost: gpanel.chilla55.de\nbackend: http://old:80\n",
		"sites/.hidden.yaml":        "not: valid",
		"sites/.#gpanel.yaml":       "not: valid",
		"sites/gpanel.yaml~":        "not: valid",
		"sites/gpanel.yaml.swp":     "not: valid",
		"sites/README.md":           "not: valid",
		"sites/nested/x.yaml":       "not: valid",
		"data/shop.yaml":            "host: '*.example.org'\nbackend: http://shop:80\n",
		"sites/..2025_12_18/a.yaml": "host: k8s.example.org\nbackend: http://k8s:80\n",
		"sites/..data":              "->..2025_12_18",
		"sites/k8s.yaml":            "->..data/a.yaml",
		"sites/shop.yaml":           "->../data/shop.yaml",
	})
	cfg, err := Load(filepath.Join(dir, "global.yaml"), filepath.Join(dir, "sites"))
	if err != nil {
		t.Fatalf("Load:\n%v", err)
	}
	var names []string
	for _, s := range cfg.Sites {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "gpanel,k8s,old,shop,vault" {
		t.Fatalf("sites = %s", got)
	}
	gpanel, vault := cfg.Sites[0].Routes[0].Policy, cfg.Sites[4].Routes[0].Policy
	tests := []struct {
		desc      string
		got, want any
	}{
		{"default fills a site", gpanel.Timeouts.Connect, 3 * time.Second},
		{"built-in under the default", gpanel.Timeouts.Read, 30 * time.Second},
		{"site wins over default", gpanel.WAF.Mode, "log"},
		{"default section key kept", gpanel.WAF.Enabled, true},
		{"maps merge", len(gpanel.ErrorPages), 2},
		{"page relative to the global file", gpanel.ErrorPages[502], filepath.Join(dir, "error-pages/502.html")},
		{"page relative to the site file", gpanel.ErrorPages[404], filepath.Join(dir, "sites/pages/404.html")},
		{"page read", cfg.Pages[gpanel.ErrorPages[404]], "<p>{{.RequestID}}</p>"},
		{"options win over default", vault.Timeouts.Read, 60 * time.Second},
		{"default under options", vault.Timeouts.Connect, 3 * time.Second},
		{"default section without site section", vault.WAF.Mode, "block"},
		{"trusted proxy IP", cfg.Global.TrustedProxies[1].String(), "192.168.1.10/32"},
		{"proxy protocol", cfg.Global.ProxyProtocol, true},
		{"webhook throttle", cfg.Global.Webhooks[0].Throttle, 5 * time.Minute},
		{"backup on", cfg.Global.Backup.Enabled, true},
		{"backup default schedule", cfg.Global.Backup.Full.Schedule.String(), "0 2 * * 0"},
		{"backup default keep", cfg.Global.Backup.Full.Keep, 4},
		{"backup key", cfg.Global.Backup.Encryption.IdentityFile, "/run/secrets/proxy_backup_key"},
		{"backup keep", cfg.Global.Backup.Incremental.Keep, 24},
		{"backup tier off", cfg.Global.Backup.Differential.Enabled, false},
		{"global defaults", cfg.Global.Defaults.Timeouts.Connect, 3 * time.Second},
		{"disabled site", cfg.Sites[2].Enabled, false},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.desc, tc.got, tc.want)
		}
	}

	again, err := Load(filepath.Join(dir, "global.yaml"), filepath.Join(dir, "sites"))
	if err != nil || again.Hash != cfg.Hash || len(cfg.Hash) != 64 {
		t.Errorf("hash of an unchanged directory: %q then %q (%v)", cfg.Hash, again.Hash, err)
	}
	writeFiles(t, dir, map[string]string{"sites/gpanel.yaml": "host: gpanel.chilla55.de\nbackend: http://pterodactyl_panel:81\n"})
	changed, err := Load(filepath.Join(dir, "global.yaml"), filepath.Join(dir, "sites"))
	if err != nil || changed.Hash == cfg.Hash {
		t.Errorf("hash did not change with a file (%v)", err)
	}
}

func TestLoadWithoutGlobal(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"sites/a.yaml": "host: a.example.org\nbackend: http://a\n"})
	for _, global := range []string{"", filepath.Join(dir, "missing.yaml")} {
		cfg, err := Load(global, filepath.Join(dir, "sites"))
		if err != nil {
			t.Fatalf("Load(%q): %v", global, err)
		}
		if cfg.Global == nil || cfg.Global.Defaults.Timeouts.Connect != 5*time.Second || len(cfg.Sites) != 1 {
			t.Errorf("Load(%q) = %+v", global, cfg)
		}
	}
	empty := t.TempDir()
	if cfg, err := Load("", empty); err != nil || len(cfg.Sites) != 0 {
		t.Errorf("empty directory: %v, %v", cfg, err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		desc  string
		files map[string]string
		want  string
	}{
		{
			desc:  "missing sites directory",
			files: map[string]string{},
			want:  "DIR/sites: cannot read the sites directory: no such file or directory",
		},
		{
			desc: "same host and path in two enabled sites",
			files: map[string]string{
				"sites/a.yaml": "host: [a.example.org, b.example.org]\nbackend: http://a\n",
				"sites/b.yaml": "routes:\n  - domains: [c.example.org, B.example.org]\n    backend: http://b\n",
			},
			want: `DIR/sites/b.yaml:2:30: host "b.example.org" with path "/" is already defined at DIR/sites/a.yaml:1:23`,
		},
		{
			desc: "a disabled duplicate is fine, a broken one is not",
			files: map[string]string{
				"sites/a.yaml": "host: a.example.org\nbackend: http://a\n",
				"sites/b.yaml": "enabled: false\nhost: a.example.org\nbackend: http://b\n",
				"sites/c.yaml": "enabled: false\nhost: a.example.org\nbackend: b\n",
			},
			want: `DIR/sites/c.yaml:3:10: backend: "b" is not an absolute URL; write it as http://b`,
		},
		{
			desc: "two sites with one name",
			files: map[string]string{
				"sites/a.yaml": "service: {name: app}\nhost: a.example.org\nbackend: http://a\n",
				"sites/b.yaml": "service: {name: app}\nhost: b.example.org\nbackend: http://b\n",
				"sites/c.yml":  "host: c.example.org\nbackend: http://c\n",
				"sites/c.yaml": "host: d.example.org\nbackend: http://d\n",
			},
			want: `DIR/sites/b.yaml:1:17: service.name: site name "app" is already used by DIR/sites/a.yaml
DIR/sites/c.yml: site name "c" is already used by DIR/sites/c.yaml`,
		},
		{
			desc: "webhook for a host no site serves",
			files: map[string]string{
				"global.yaml":  "webhooks:\n  - name: d\n    url: https://discord.com/api/webhooks/1\n    events: [service_down]\n    routes: [vualt.chilla55.de, x.example.org]\n",
				"sites/a.yaml": "host: [vault.chilla55.de, '*.example.org']\nbackend: http://a\n",
			},
			want: `DIR/global.yaml:5:14: webhooks[0].routes: no site serves host "vualt.chilla55.de"; did you mean "vault.chilla55.de"?`,
		},
		{
			desc: "geoip without a database",
			files: map[string]string{
				"sites/a.yaml": "host: a.example.org\nbackend: http://a\ngeoip:\n  allowed_countries: [DE]\n",
			},
			want: `DIR/sites/a.yaml:4:3: geoip is enabled but the global file names no geoip.database`,
		},
		{
			desc: "a broken global file does not hide the sites' problems",
			files: map[string]string{
				"global.yaml":  "defaults:\n  timeouts: {connect: 5x}\n",
				"sites/a.yaml": "host: a.example.org\nbackend: http://a\ntimeouts: {read: 5y}\n",
				"sites/b.yaml": "host: b.example.org\nbackend: http://b\n",
			},
			want: `DIR/global.yaml:2:23: defaults.timeouts.connect: invalid duration "5x": unknown unit "x" (want ns, us, ms, s, m, h or d)
DIR/sites/a.yaml:3:18: timeouts.read: invalid duration "5y": unknown unit "y" (want ns, us, ms, s, m, h or d)`,
		},
		{
			desc: "a site judged with the global defaults",
			files: map[string]string{
				"global.yaml":  "defaults:\n  health_check: {interval: 5s}\n",
				"sites/a.yaml": "host: a.example.org\nbackend: http://a\nhealth_check: {timeout: 10s}\n",
			},
			want: `DIR/sites/a.yaml:3:25: health_check.timeout: timeout (10s) must not be longer than interval (5s)`,
		},
		{
			desc: "a broken symbolic link and a directory",
			files: map[string]string{
				"sites/a.yaml":   "->missing.yaml",
				"sites/b.yaml/x": "",
			},
			want: `DIR/sites/a.yaml: cannot read: no such file or directory
DIR/sites/b.yaml: is a directory, not a site file`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := loadErr(t, t.TempDir(), tc.files)
			if got != tc.want {
				t.Errorf("errors differ\ngot:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestWebhookFormat(t *testing.T) {
	g, err := ParseGlobal("g.yaml", []byte(`
webhooks:
  - {name: a, url: 'https://discordapp.com/api/webhooks/1', events: [service_down]}
  - {name: b, url: 'https://hooks.slack.com/services/T/B/X', events: [service_down]}
  - {name: c, url: 'https://alerts.example.org/hook?token=x', events: [service_down], throttle: 0, secret_file: /run/secrets/c}
  - {name: d, url: 'https://discord.com/api/webhooks/1', events: [service_down], format: generic, secret_file: /run/secrets/d}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range g.Webhooks {
		got = append(got, w.Format+"/"+FormatDuration(w.Throttle))
	}
	if s := strings.Join(got, " "); s != "discord/5m slack/5m generic/0s generic/5m" {
		t.Errorf("formats/throttles = %s", s)
	}
}

func TestBackupKeyAndDefaults(t *testing.T) {
	tests := []struct {
		src      string
		on       bool
		identity string
		pass     string
		dir      string
	}{
		{"backup:\n  enabled: false\n", false, "", "", ""},
		{"backup:\n  encryption: {identity_file: /run/secrets/k}\n", true, "/run/secrets/k", "", ""},
		{"backup:\n  dir: /b\n  encryption: {passphrase_file: /run/secrets/p}\n", true, "", "/run/secrets/p", "/b"},
	}
	for _, tc := range tests {
		g, err := ParseGlobal("global.yaml", []byte(tc.src))
		if err != nil {
			t.Fatalf("%q: %v", tc.src, err)
		}
		b := g.Backup
		if b.Enabled != tc.on || b.Encryption.IdentityFile != tc.identity || b.Encryption.PassphraseFile != tc.pass || b.Dir != tc.dir {
			t.Errorf("%q: got %+v", tc.src, b)
		}
		if tc.on && (b.Incremental.Keep != 168 || b.Full.Schedule.String() != "0 2 * * 0") {
			t.Errorf("%q: defaults not applied: %+v", tc.src, b)
		}
	}
}
