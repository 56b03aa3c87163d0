// Package config reads and validates the configuration files the administrator writes: the
// global file (/etc/proxy/global.yaml) and one file per site in the sites directory
// (/etc/proxy/sites-available/*.yaml). The full reference, with examples, is
// docs/configuration.md.
//
// # Site files
//
// A site is written in one of two forms. The flat form has one host (or a list) and one
// backend, served at path "/", with the policy sections at the top level:
//
//	host: gpanel.chilla55.de
//	backend: http://pterodactyl_panel:80
//	timeouts: {connect: 5s, read: 30s}
//	rate_limit: {per_ip: 100}
//
// The service form lists routes and puts the policy under options:; a route may override it
// with its own options:. enabled: false keeps the site loaded and validated but unserved.
//
//	enabled: true
//	service: {name: gpanel}
//	routes:
//	  - domains: [gpanel.chilla55.de]
//	    path: /
//	    backend: http://gpanel:8080
//	options:
//	  circuit_breaker: {enabled: true, failure_threshold: 5}
//
// Either form may say tier: public, private or admin (a layer of defaults for rate limits, WAF,
// PII masking and retention, see tier.go) and audit: standard, enhanced or full, at the top
// level. Site.EffectiveYAML shows what a site runs with and where each value comes from.
//
// The policy sections are those of Policy: timeouts, limits, headers, rate_limit, waf,
// logging, data_retention, health_check, websocket, compression, connection_pool,
// circuit_breaker, error_pages, geoip, slow_request and retry.
//
// # The global file
//
//	defaults:          # policy sections under every site; the site's own values win
//	  timeouts: {connect: 3s}
//	  waf: {enabled: true}
//	trusted_proxies:   # IPs or CIDRs whose X-Forwarded-For / PROXY protocol is believed
//	  - 10.0.0.0/8
//	proxy_protocol: false  # true: TCP listeners expect a PROXY protocol header from trusted_proxies
//	webhooks:          # alert receivers
//	  - name: discord-alerts
//	    url: https://discord.com/api/webhooks/...
//	    format: discord            # discord, slack or generic; default from the URL
//	    events: [service_down, cert_expiring_7d]   # see WebhookEvents
//	    routes: [gpanel.chilla55.de]               # optional: only these hosts
//	    throttle: 300                              # one alert per event per 5 minutes
//	geoip:
//	  database: /data/GeoLite2-City.mmdb
//	backup:            # on when written, unless enabled: false
//	  dir: /mnt/storagebox/backups/proxy
//	  full:         {schedule: "0 2 * * 0", keep: 4}    # the defaults
//	  differential: {schedule: "0 2 * * 3", keep: 8}
//	  incremental:  {schedule: "0 * * * *", keep: 168}
//	tls:               # the HTTPS listeners; certificates come from PROXY_CERTS_DIR
//	  default_certificate: example.org   # served for unknown SNI; omitted: such handshakes fail
//	  http3: true                        # false turns HTTP/3 and Alt-Svc off everywhere
//	  redirect_http: true                # port 80 answers 308 to https for hosts with a certificate
//	acme:
//	  challenge_backend: http://certbot:80   # where /.well-known/acme-challenge/ on port 80 goes
//
// Keys starting with "x-" at the top level of either file are ignored, so that a file can
// hold YAML anchors to reuse; aliases and merge keys (<<) work anywhere.
//
// # Layers
//
// A route's effective policy is, from bottom to top: the built-in defaults (timeouts 5s/30s/
// 30s/120s, logging that masks IPs and PII, retention 7d/30d/90d/365d/30d), the global
// defaults:, the site's tier (tier: public, private or admin; see tier.go), the site's
// sections, the route's options:. Mappings merge key by key; lists and
// single values replace. A section with an enabled: field is on when written, unless it says
// enabled: false; the defaults of an enabled section (a health check's interval, say) are
// filled in, and the section is then checked as a whole.
//
// # Values
//
// Durations are a whole number of seconds (ban_duration: 3600) or Go durations with days
// ("30s", "1h30m", "7d", "2d12h"); see ParseDuration. Sizes are a whole number of bytes or a
// number with a unit: KB, MB, GB, TB are powers of 1000, KiB, MiB, GiB, TiB powers of 1024;
// see ParseSize. error_pages keys are status codes.
//
// # Errors
//
// Unknown keys, wrong types, bad values and missing keys are errors, all of them reported at
// once as an ErrorList of Error values "file:line:col: message"; an unknown key comes with a
// suggestion ("did you mean"). Load also checks the files together: a host and path served
// twice, two sites with one name, a webhook for a host no site serves, GeoIP filtering
// without a database.
package config
