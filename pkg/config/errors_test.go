package config

import (
	"errors"
	"strings"
	"testing"
)

// Every kind of problem, with the exact text an administrator sees: file:line:col: message.
func TestSiteErrors(t *testing.T) {
	tests := []struct {
		desc string
		src  string
		want string
	}{
		{
			desc: "unknown key at the top level, with a suggestion",
			src:  "host: a.example.org\nbackend: http://app:80\ntimeout:\n  connect: 5s\n",
			want: `site.yaml:3:1: unknown key "timeout" in site; did you mean "timeouts"?`,
		},
		{
			desc: "unknown key in a section",
			src:  "host: a.example.org\nbackend: http://app:80\ntimeouts:\n  conect: 5s\n",
			want: `site.yaml:4:3: unknown key "conect" in timeouts; did you mean "connect"?`,
		},
		{
			desc: "unknown key without a close match",
			src:  "host: a.example.org\nbackend: http://app:80\nfrobnicate: true\n",
			want: `site.yaml:3:1: unknown key "frobnicate" in site`,
		},
		{
			desc: "case and separators are ignored for suggestions",
			src:  "Host: a.example.org\nbackend: http://app:80\nrate-limit: {per_ip: 5}\n",
			want: `site.yaml:1:1: unknown key "Host" in site; did you mean "host"?
site.yaml:2:1: missing "host": the host name requests for this backend arrive for
site.yaml:3:1: unknown key "rate-limit" in site; did you mean "rate_limit"?`,
		},
		{
			desc: "wrong types",
			src:  "enabled: yes\nhost: {a: b}\nbackend: [http://app]\nlimits: {max_request_body: lots}\nwebsocket: {max_connections: -1}\ntimeouts: 5s\ncompression: {algorithms: gzip}\nretry: {max_attempts: 2.5}\n",
			want: `site.yaml:1:10: enabled: expected true or false, found "yes"
site.yaml:2:7: host: expected a host name, found a mapping
site.yaml:3:10: backend: expected a text value, found a list
site.yaml:4:28: limits.max_request_body: invalid size "lots": expected a number of bytes or a number and a unit such as 10MB or 10MiB
site.yaml:5:30: websocket.max_connections: must not be negative, found -1
site.yaml:6:11: timeouts: expected a mapping, found "5s"
site.yaml:7:27: compression.algorithms: expected a list, found "gzip"
site.yaml:8:23: retry.max_attempts: expected a whole number, found a number (2.5)`,
		},
		{
			desc: "bad durations",
			src:  "host: a.example.org\nbackend: http://app:80\ntimeouts:\n  connect: 5x\n  read: -5s\n  write: 1.5\n  idle: 5 minutes\n",
			want: `site.yaml:4:12: timeouts.connect: invalid duration "5x": unknown unit "x" (want ns, us, ms, s, m, h or d)
site.yaml:5:9: timeouts.read: duration "-5s" must not be negative
site.yaml:6:10: timeouts.write: expected a duration such as 30s or 7d, found 1.5 (write fractions with a unit: 1.5s)
site.yaml:7:9: timeouts.idle: invalid duration "5 minutes": unknown unit "minutes" (want ns, us, ms, s, m, h or d)`,
		},
		{
			desc: "bad sizes",
			src:  "host: a.example.org\nbackend: http://app:80\nlimits:\n  max_request_body: 10m\n  max_request_headers: 1.5B\n  max_response_body: -1\n",
			want: `site.yaml:4:21: limits.max_request_body: invalid size "10m": unknown unit "m" (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB; KB=1000, KiB=1024 bytes)
site.yaml:5:24: limits.max_request_headers: size "1.5B" is not a whole number of bytes
site.yaml:6:22: limits.max_response_body: must not be negative, found -1`,
		},
		{
			desc: "host without backend",
			src:  "host: a.example.org\ntimeouts: {connect: 1s}\n",
			want: `site.yaml:1:1: missing "backend": the URL requests for this host are sent to, such as http://app:8080`,
		},
		{
			desc: "backend without host",
			src:  "backend: http://app:80\n",
			want: `site.yaml:1:1: missing "host": the host name requests for this backend arrive for`,
		},
		{
			desc: "no route at all",
			src:  "timeouts: {connect: 1s}\n",
			want: `site.yaml:1:1: no route: write "host" and "backend", or "routes"`,
		},
		{
			desc: "empty file",
			src:  "",
			want: `site.yaml:1:1: empty site file: write "host" and "backend", or "routes"`,
		},
		{
			desc: "only comments",
			src:  "# nothing yet\n",
			want: `site.yaml:1:1: empty site file: write "host" and "backend", or "routes"`,
		},
		{
			desc: "not a mapping",
			src:  "- host: a\n",
			want: `site.yaml:1:1: a site file is a mapping of keys such as host and backend, found a list`,
		},
		{
			desc: "YAML syntax error",
			src:  "host: a.example.org\nbackend: http://app:80\ntimeouts:\n  connect: 5s\n   read: 3s\n",
			want: `site.yaml:5:4: YAML syntax error: mapping values are not allowed in this context`,
		},
		{
			desc: "invalid UTF-8",
			src:  "host: a.example.org\nbackend: http://app\xff:80\n",
			want: `site.yaml:2:20: file is not valid UTF-8`,
		},
		{
			desc: "duplicate key",
			src:  "host: a.example.org\nbackend: http://app:80\nhost: b.example.org\n",
			want: `site.yaml:3:1: key "host" is already defined at line 1`,
		},
		{
			desc: "two documents",
			src:  "host: a.example.org\nbackend: http://app:80\n---\nhost: b.example.org\n",
			want: `site.yaml:4:1: a second YAML document (after ---) is not allowed: one file holds one configuration`,
		},
		{
			desc: "alias to itself",
			src:  "x-loop: &a [*a]\nhost: a.example.org\nbackend: http://app:80\n",
			want: `site.yaml:1:13: alias *a refers to a value that contains it`,
		},
		{
			desc: "host names",
			src:  "host:\n  - https://a.example.org\n  - a.example.org:443\n  - a.example.org/x\n  - a.*.example.org\n  - my_host.example.org\n  - Ok.Example.ORG.\n  - ok.example.org\n  - -bad.example.org\n  - bücher.example\nbackend: http://app:80\n",
			want: `site.yaml:2:5: host[0]: host "https://a.example.org" must not contain a scheme; write only the name, as in "a.example.org"
site.yaml:3:5: host[1]: host "a.example.org:443" must not contain a port
site.yaml:4:5: host[2]: host "a.example.org/x" must not contain a path; routes take a path: in the service form
site.yaml:5:5: host[3]: host "a.*.example.org": a wildcard is only allowed as the whole leftmost label, as in *.example.org
site.yaml:6:5: host[4]: host "my_host.example.org": '_' is not allowed in a host name
site.yaml:8:5: host[6]: host "ok.example.org" is listed twice
site.yaml:9:5: host[7]: host "-bad.example.org": label "-bad" must not start or end with '-'
site.yaml:10:5: host[8]: host "bücher.example": non-ASCII characters: write the name in its punycode (xn--) form`,
		},
		{
			desc: "backend URLs",
			src:  "routes:\n  - {domains: [a.example.org], backend: 'ftp://x'}\n  - {domains: [b.example.org], backend: 'http://user:pw@x'}\n  - {domains: [c.example.org], backend: 'http://x:99999'}\n  - {domains: [d.example.org], backend: 'http://x/?q=1'}\n  - {domains: [e.example.org], backend: 'http://'}\n  - {domains: [f.example.org], backend: 'http://-x'}\n  - {domains: [g.example.org], backend: 'pterodactyl_panel:80'}\n",
			want: `site.yaml:2:41: routes[0].backend: "ftp://x": the scheme must be http or https, not "ftp"
site.yaml:3:41: routes[1].backend: "http://xxxxx@x" must not contain credentials; send them with headers.request.add (Authorization)
site.yaml:4:41: routes[2].backend: "http://x:99999": invalid port "99999" (want 1-65535)
site.yaml:5:41: routes[3].backend: "http://x/?q=1" must not contain a query
site.yaml:6:41: routes[4].backend: "http://" has no host
site.yaml:7:41: routes[5].backend: "http://-x": invalid host "-x": label "-x" must not start or end with '-'
site.yaml:8:41: routes[6].backend: "pterodactyl_panel:80" is not an absolute URL; write it as http://pterodactyl_panel:80`,
		},
		{
			desc: "route paths",
			src:  "routes:\n  - {domains: [a.example.org], path: api, backend: 'http://x'}\n  - {domains: [a.example.org], path: /api/*, backend: 'http://x'}\n  - {domains: [a.example.org], path: /a/../b, backend: 'http://x'}\n  - {domains: [a.example.org], path: /a//b, backend: 'http://x'}\n",
			want: `site.yaml:2:38: routes[0].path: path "api" must start with /
site.yaml:3:38: routes[1].path: path "/api/*": route paths are prefixes and take no wildcard; "/api" matches it and everything below
site.yaml:4:38: routes[2].path: path "/a/../b" must not contain ".." segments
site.yaml:5:38: routes[3].path: path "/a//b" must not contain an empty segment (//)`,
		},
		{
			desc: "same host and path twice in one file (trailing slash does not matter)",
			src:  "routes:\n  - domains: [a.example.org, b.example.org]\n    path: /api/\n    backend: http://x\n  - domains: [b.example.org]\n    path: /api\n    backend: http://y\n",
			want: `site.yaml:5:15: host "b.example.org" with path "/api" is already defined at site.yaml:2:30`,
		},
		{
			desc: "enum values",
			src:  "host: a.example.org\nbackend: http://app:80\nwaf: {mode: blok}\nlogging: {mask_ip_method: last_octett}\nheaders: {preset: strict}\nretry: {backoff: expo}\ncompression: {algorithms: [gzip, lz4, br]}\n",
			want: `site.yaml:3:13: waf.mode: invalid value "blok" (want block or log); did you mean "block"?
site.yaml:4:27: logging.mask_ip_method: invalid value "last_octett" (want last_octet, last_two_octets, prefix, hash or none); did you mean "last_octet"?
site.yaml:5:19: headers.preset: invalid value "strict" (want security-strict, security-basic, cors-permissive or api)
site.yaml:6:18: retry.backoff: invalid value "expo" (want exponential, linear or constant); did you mean "exponential"?
site.yaml:7:34: compression.algorithms: invalid value "lz4" (want brotli, zstd or gzip)
site.yaml:7:39: compression.algorithms: unknown algorithm "br"; did you mean "brotli"?`,
		},
		{
			desc: "regular expressions",
			src:  "host: a.example.org\nbackend: http://app:80\nlogging:\n  redact_paths:\n    - pattern: /reset/[^/+\n      replacement: x\n    - replacement: y\n",
			want: "site.yaml:5:16: logging.redact_paths[0].pattern: invalid regular expression: error parsing regexp: missing closing ]: `[^/+`\n" +
				`site.yaml:7:7: logging.redact_paths[1]: missing pattern (a regular expression)`,
		},
		{
			desc: "status codes",
			src:  "host: a.example.org\nbackend: http://app:80\nerror_pages:\n  302: /x.html\n  foo: /y.html\n  404: ''\nhealth_check: {expected_status: 700, method: post}\nretry:\n  retry_on: [404, 502, 502, refused]\n",
			want: `site.yaml:4:3: error_pages: status 302 has no error page (want 400-599)
site.yaml:5:3: error_pages: key "foo" is not a status code
site.yaml:6:8: error_pages.404: missing file name
site.yaml:7:33: health_check.expected_status: 700 is not an HTTP status code (100-599)
site.yaml:7:46: health_check.method: invalid value "POST" (want GET or HEAD)
site.yaml:9:14: retry.retry_on[0]: status 404 cannot be retried (want 500-599)
site.yaml:9:24: retry.retry_on[2]: "502" is listed twice
site.yaml:9:29: retry.retry_on[3]: invalid condition "refused" (want connection_refused, timeout or a status code 500-599)`,
		},
		{
			desc: "the two forms mixed",
			src:  "host: a.example.org\nroutes:\n  - {domains: [b.example.org], backend: 'http://x'}\noptions: {waf: {}}\nwaf: {mode: log}\n",
			want: `site.yaml:1:1: "host" cannot be combined with "routes"; write hosts and backends in routes[].domains and routes[].backend
site.yaml:4:1: "options" cannot be combined with policy sections at the top level ("waf" at line 5); put them all under options`,
		},
		{
			desc: "empty routes",
			src:  "routes: []\n",
			want: `site.yaml:1:9: routes: must list at least one route`,
		},
		{
			desc: "route keys at the wrong place",
			src:  "routes:\n  - domain: a.example.org\n    backend: http://x\n    waf: {mode: log}\n",
			want: `site.yaml:2:5: unknown key "domain" in routes[0]; did you mean "domains"?
site.yaml:4:5: unknown key "waf" in routes[0]; a route's policy sections go under "options"`,
		},
		{
			desc: "route missing its keys",
			src:  "routes:\n  - path: /api\n",
			want: `site.yaml:2:5: routes[0]: missing domains and backend`,
		},
		{
			desc: "service without name",
			src:  "service: {}\nroutes:\n  - {domains: [a.example.org], backend: 'http://x'}\n",
			want: `site.yaml:1:10: service: missing name`,
		},
		{
			desc: "values that contradict each other",
			src:  "host: a.example.org\nbackend: http://app:80\nhealth_check: {interval: 5s, timeout: 10s}\nslow_request: {thresholds: {warning: 10s, critical: 5s}}\nretry: {initial_delay: 5s, max_delay: 1s}\nwebsocket: {ping_interval: 5m, idle_timeout: 1m}\nconnection_pool: {max_idle_conns_per_host: 100, max_conns_per_host: 10}\ncircuit_breaker: {failure_threshold: 0}\ncompression: {algorithms: [brotli, gzip], level: 0}\ndata_retention: {access_logs: 7}\n",
			want: `site.yaml:3:39: health_check.timeout: timeout (10s) must not be longer than interval (5s)
site.yaml:4:53: slow_request.thresholds.critical: critical (5s) must be longer than warning (10s)
site.yaml:5:24: retry.initial_delay: initial_delay (5s) is longer than max_delay (1s)
site.yaml:6:28: websocket.ping_interval: ping_interval (5m) must be shorter than idle_timeout (1m), or idle connections close before a ping keeps them open
site.yaml:7:44: connection_pool.max_idle_conns_per_host: 100 is more than max_conns_per_host (10)
site.yaml:8:38: circuit_breaker.failure_threshold: must be at least 1
site.yaml:9:50: compression.level: level 0 is out of range for gzip (1-9)
site.yaml:10:31: data_retention.access_logs: 7s is shorter than the minimum retention of 1h (write days as 7d)`,
		},
		{
			desc: "rate limits",
			src:  "host: a.example.org\nbackend: http://app:80\nrate_limit:\n  paths:\n    - path: /a/*/b\n      per_ip: 0\n    - path: /auth/*\n      per_ip: 5\n      ban_duration: 1h\n    - path: /auth/*\n      per_ip: 5\n      ban_after: 3\n  whitelist: [10.0.0.0/33]\n",
			want: `site.yaml:5:13: rate_limit.paths[0].path: path "/a/*/b": '*' is only allowed at the end
site.yaml:6:15: rate_limit.paths[0].per_ip: must be at least 1
site.yaml:9:21: rate_limit.paths[1].ban_duration: has no effect without ban_after
site.yaml:10:7: rate_limit.paths: path "/auth/*" is listed twice
site.yaml:12:18: rate_limit.paths[2].ban_after: needs ban_duration (how long the ban lasts)
site.yaml:13:15: rate_limit.whitelist[0]: "10.0.0.0/33" is not a CIDR network such as 10.0.0.0/8`,
		},
		{
			desc: "headers",
			src:  "host: a.example.org\nbackend: http://app:80\nheaders:\n  request:\n    add: {X-Real-IP: '${clientip}'}\n  response:\n    add:\n      'Bad Header': x\n      X-Ok: \"a\\r\\nb\"\n      x-ok: c\n    remove: [Server, server]\nlogging:\n  strip_headers: [Cookie, 'Bad:Name']\n",
			want: `site.yaml:5:22: headers.request.add.X-Real-IP: unknown variable ${clientip} (want ${client_ip}, ${request_id}, ${host}, ${scheme}); did you mean "client_ip"?
site.yaml:8:7: headers.response.add: "Bad Header" is not a valid header name
site.yaml:9:13: headers.response.add.X-Ok: header value must not contain line breaks or NUL
site.yaml:10:7: headers.response.add: header "x-ok" is already set as "X-Ok" (header names ignore case)
site.yaml:11:22: headers.response.remove[1]: header "server" is listed twice
site.yaml:13:27: logging.strip_headers[1]: "Bad:Name" is not a valid header name`,
		},
		{
			desc: "countries",
			src:  "host: a.example.org\nbackend: http://app:80\ngeoip:\n  allowed_countries: [de, DEU, DE]\n",
			want: `site.yaml:4:27: geoip.allowed_countries: "DEU" is not an ISO 3166-1 alpha-2 country code such as DE
site.yaml:4:32: geoip.allowed_countries: "DE" is listed twice`,
		},
		{
			desc: "blocked countries and login paths",
			src:  "host: a.example.org\nbackend: http://app:80\ngeoip:\n  blocked_countries: [uk, XX, ru]\n  login_paths: [/login, auth, /a*/b]\n",
			want: `site.yaml:4:23: geoip.blocked_countries: "uk" is not an ISO 3166-1 alpha-2 country code such as DE; did you mean "GB"?
site.yaml:4:27: geoip.blocked_countries: "XX" is not an ISO 3166-1 alpha-2 country code such as DE
site.yaml:5:25: geoip.login_paths: path "auth" must start with /
site.yaml:5:31: geoip.login_paths: path "/a*/b": '*' is only allowed at the end`,
		},
		{
			desc: "allowed and blocked countries",
			src:  "host: a.example.org\nbackend: http://app:80\ngeoip:\n  allowed_countries: [DE]\n  blocked_countries: [RU]\n",
			want: `site.yaml:5:22: geoip.blocked_countries: use allowed_countries or blocked_countries, not both: allowed_countries already refuses every other country`,
		},
		{
			desc: "a wrong value in an anchor is reported where it is written",
			src:  "x-fast: &fast\n  connect: 1x\nroutes:\n  - domains: [a.example.org]\n    backend: http://a\n    options: {timeouts: *fast}\n  - domains: [b.example.org]\n    backend: http://b\n    options: {timeouts: *fast}\n",
			want: `site.yaml:2:12: routes[0].options.timeouts.connect: invalid duration "1x": unknown unit "x" (want ns, us, ms, s, m, h or d)`,
		},
		{
			desc: "a wrong route option is reported once, in the route",
			src:  "routes:\n  - domains: [a.example.org]\n    backend: http://a\n    options:\n      waf: {mode: blok}\n",
			want: `site.yaml:5:19: routes[0].options.waf.mode: invalid value "blok" (want block or log); did you mean "block"?`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, err := ParseSite("site.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error; site %+v", s)
			}
			if s != nil {
				t.Errorf("got a site with an error")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("errors differ\ngot:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestGlobalErrors(t *testing.T) {
	tests := []struct {
		desc string
		src  string
		want string
	}{
		{
			desc: "unknown key",
			src:  "webhook:\n  - name: a\n",
			want: `global.yaml:1:1: unknown key "webhook" in global; did you mean "webhooks"?`,
		},
		{
			desc: "webhooks",
			src:  "webhooks:\n  - name: discord\n    url: discord.com/api/webhooks/1\n    events: [service_down, cert_expiring_3d, service_down]\n  - name: discord\n    url: https://example.org/hook\n    events: []\n    format: teams\n  - url: https://example.org\n",
			want: `global.yaml:3:10: webhooks[0].url: "discord.com/api/webhooks/1" is not an absolute http:// or https:// URL
global.yaml:4:28: webhooks[0].events: unknown event "cert_expiring_3d"; did you mean "cert_expiring_30d"?
global.yaml:4:46: webhooks[0].events: event "service_down" is listed twice
global.yaml:5:11: webhooks[1].name: webhook "discord" is already defined at line 2
global.yaml:7:13: webhooks[1].events: must list at least one event
global.yaml:8:13: webhooks[1].format: invalid value "teams" (want discord, slack or generic)
global.yaml:9:5: webhooks[2]: missing name and events`,
		},
		{
			desc: "webhook secret_file",
			src:  "webhooks:\n  - {name: a, url: 'https://example.org/h', events: [service_down]}\n  - {name: b, url: 'https://example.org/h', events: [service_down], secret_file: secrets/b}\n  - {name: c, url: 'https://hooks.slack.com/services/T/B/X', events: [circuit_open], secret_file: /run/secrets/c}\n  - {name: d, url: 'https://example.org/h', events: [unusual_country], secret_file: /run/secrets/d}\n",
			want: `global.yaml:2:5: webhooks[0]: missing secret_file (the file with the key that signs generic payloads); every generic payload is signed
global.yaml:3:82: webhooks[1].secret_file: "secrets/b" is not an absolute path
global.yaml:4:99: webhooks[2].secret_file: only the generic format is signed; a slack webhook's URL is its own credential
global.yaml:5:54: webhooks[3].events: unknown event "unusual_country"; did you mean "unusual_country_login"?`,
		},
		{
			desc: "trusted proxies",
			src:  "trusted_proxies: [10.0.0.0/8, 172.16.0.1/12, fe80::1%eth0, '::1']\n",
			want: `global.yaml:1:31: trusted_proxies[1]: "172.16.0.1/12" has bits set after the prefix length; did you mean "172.16.0.0/12"?
global.yaml:1:46: trusted_proxies[2]: "fe80::1%eth0" is not an IP address or CIDR network`,
		},
		{
			desc: "proxy_protocol without trusted proxies",
			src:  "webhooks: []\nproxy_protocol: true\n",
			want: `global.yaml:2:17: proxy_protocol: needs trusted_proxies: a PROXY protocol header is accepted only from a trusted proxy (the load balancer), so every connection would be refused`,
		},
		{
			desc: "defaults are checked like a site's policy",
			src:  "defaults:\n  timeout: {connect: 1s}\n  waf: {mode: blok}\n",
			want: `global.yaml:2:3: unknown key "timeout" in defaults; did you mean "timeouts"?
global.yaml:3:15: defaults.waf.mode: invalid value "blok" (want block or log); did you mean "block"?`,
		},
		{
			desc: "backup",
			src:  "backup:\n  dir: backups\n  encryption: {identity_file: /run/secrets/k}\n  full: {schedule: '0 2 * * 8', keep: 0}\n  differential: {schedule: '0 2 * *'}\n  incremental: {schedule: '@every 1h'}\n",
			want: `global.yaml:2:8: backup.dir: "backups" is not an absolute path
global.yaml:4:20: backup.full.schedule: invalid day of week "8" (want 0-7)
global.yaml:4:39: backup.full.keep: must be at least 1
global.yaml:5:28: backup.differential.schedule: schedule "0 2 * *" has 4 fields, want 5: minute hour day-of-month month day-of-week
global.yaml:6:27: backup.incremental.schedule: unknown schedule "@every 1h" (want @hourly, @daily, @weekly, @monthly, @yearly or five cron fields)`,
		},
		{
			desc: "backup without a key",
			src:  "backup:\n  full: {keep: 2}\n",
			want: `global.yaml:2:3: backup: missing encryption.identity_file or encryption.passphrase_file: backups leave the host, so they are encrypted; make a key with "controlplane backup keygen --out FILE" and name it in encryption.identity_file (or set enabled: false)`,
		},
		{
			desc: "backup with two keys",
			src:  "backup:\n  encryption: {identity_file: key, passphrase_file: /run/secrets/p}\n",
			want: `global.yaml:2:31: backup.encryption.identity_file: "key" is not an absolute path
global.yaml:2:53: backup.encryption.passphrase_file: give identity_file or passphrase_file, not both`,
		},
		{
			desc: "geoip without a database",
			src:  "geoip: {path: /data/x.mmdb}\n",
			want: `global.yaml:1:8: geoip: missing database (the path of a GeoLite2 .mmdb file)
global.yaml:1:9: unknown key "path" in geoip`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseGlobal("global.yaml", []byte(tc.src))
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("errors differ\ngot:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestErrorList(t *testing.T) {
	_, err := ParseSite("a.yaml", []byte("host: a.example.org\nbackend: x\ntimeout: 1s\n"))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("want an ErrorList of 2, got %#v", err)
	}
	var one Error
	if !errors.As(err, &one) || one.File != "a.yaml" || one.Line != 2 || one.Column != 10 {
		t.Fatalf("errors.As(Error) = %+v", one)
	}
	if got := len(list.Unwrap()); got != 2 {
		t.Errorf("Unwrap() has %d errors", got)
	}
	if got := (Error{File: "dir", Msg: "cannot read"}).Error(); got != "dir: cannot read" {
		t.Errorf("Error without a position = %q", got)
	}
	if !strings.Contains(err.Error(), "\n") {
		t.Errorf("errors are not one per line: %q", err)
	}
}
