package config

import (
	"net/netip"
	"time"

	"go.yaml.in/yaml/v3"
)

// Policy is everything that can be configured for a route. It is written in a site file (at
// the top level in the flat form, under options: in the service form, under a route's
// options: for that route only) and under defaults: in the global file.
//
// A nil section was not configured anywhere (the feature keeps its built-in behaviour).
// Sections that have an Enabled field are on as soon as they are written, unless they say
// enabled: false. Counts, sizes and durations of 0 mean "no limit" unless documented otherwise.
type Policy struct {
	Timeouts       *Timeouts       `yaml:"timeouts"`
	Limits         *Limits         `yaml:"limits"`
	Headers        *Headers        `yaml:"headers"`
	RateLimit      *RateLimit      `yaml:"rate_limit"`
	WAF            *WAF            `yaml:"waf"`
	Logging        *Logging        `yaml:"logging"`
	DataRetention  *DataRetention  `yaml:"data_retention"`
	HealthCheck    *HealthCheck    `yaml:"health_check"`
	WebSocket      *WebSocket      `yaml:"websocket"`
	Compression    *Compression    `yaml:"compression"`
	ConnectionPool *ConnectionPool `yaml:"connection_pool"`
	CircuitBreaker *CircuitBreaker `yaml:"circuit_breaker"`
	// ErrorPages maps a status code (400-599) to an HTML template file. A relative path is
	// relative to the directory of the file that names it.
	ErrorPages  ErrorPages   `yaml:"error_pages"`
	GeoIP       *GeoIP       `yaml:"geoip"`
	SlowRequest *SlowRequest `yaml:"slow_request"`
	Retry       *Retry       `yaml:"retry"`
}

// Timeouts bound the exchange with the backend.
type Timeouts struct {
	Connect time.Duration `yaml:"connect"` // establishing the backend connection; default 5s
	Read    time.Duration `yaml:"read"`    // waiting for and reading the backend's response; default 30s
	Write   time.Duration `yaml:"write"`   // sending the request to the backend; default 30s
	Idle    time.Duration `yaml:"idle"`    // keep-alive idle time of a connection; default 120s
}

// Limits bound request and response sizes; 0 means no limit.
type Limits struct {
	MaxRequestBody    Size `yaml:"max_request_body"`    // larger bodies get 413
	MaxRequestHeaders Size `yaml:"max_request_headers"` // larger header blocks get 431
	MaxResponseBody   Size `yaml:"max_response_body"`   // larger backend responses get 502
}

// Headers changes request headers (to the backend) and response headers (to the client).
type Headers struct {
	// Preset adds a named set of response headers: security-strict, security-basic,
	// cors-permissive or api. Explicit headers win over the preset's.
	Preset   string    `yaml:"preset"`
	Request  HeaderOps `yaml:"request"`
	Response HeaderOps `yaml:"response"`
}

// HeaderOps sets and removes headers. Values may use ${client_ip}, ${request_id}, ${host}
// and ${scheme}.
type HeaderOps struct {
	Add    HeaderMap   `yaml:"add"`
	Remove HeaderNames `yaml:"remove"`
}

// RateLimit counts requests per minute, per data plane replica.
type RateLimit struct {
	Global    int64           `yaml:"global"`    // requests per minute for the whole route; 0 = no limit
	PerIP     int64           `yaml:"per_ip"`    // requests per minute per client IP; 0 = no limit
	Paths     []RateLimitPath `yaml:"paths"`     // stricter limits for some paths
	Whitelist PrefixList      `yaml:"whitelist"` // client addresses (IPs or CIDRs) never limited nor banned
	// Exempt is another name for whitelist; check adds it to Whitelist.
	Exempt       PrefixList    `yaml:"exempt"`
	FailedLogins *FailedLogins `yaml:"failed_logins"` // bans after failed logins
}

// FailedLogins counts the backend's failure answers on login paths per client, and bans a
// client after ban_after of them within window.
type FailedLogins struct {
	Paths        []string      `yaml:"paths"`         // login paths; a final "*" makes a prefix
	Statuses     []int         `yaml:"statuses"`      // answers that mean failure; default [401, 403]
	BanAfter     int64         `yaml:"ban_after"`     // failures that ban (required)
	Window       time.Duration `yaml:"window"`        // over which failures count; default 15m
	BanDuration  time.Duration `yaml:"ban_duration"`  // how long the ban lasts (required)
	AlertWebhook bool          `yaml:"alert_webhook"` // send the webhook event on a ban
}

// RateLimitPath limits one path, or all paths under a prefix when it ends in "*"
// ("/auth/*").
type RateLimitPath struct {
	Path         string        `yaml:"path"`
	PerIP        int64         `yaml:"per_ip"`        // requests per minute per client IP
	BanAfter     int64         `yaml:"ban_after"`     // ban a client after this many violations; 0 = never
	BanDuration  time.Duration `yaml:"ban_duration"`  // how long a ban lasts (required with ban_after)
	AlertWebhook bool          `yaml:"alert_webhook"` // send the rate_limit_ban webhook event on a ban
}

// WAF inspects requests for attacks.
type WAF struct {
	Enabled        bool     `yaml:"enabled"`
	Mode           string   `yaml:"mode"` // block (403) or log; default block
	Rules          WAFRules `yaml:"rules"`
	MaxRequestSize Size     `yaml:"max_request_size"` // bytes of a body inspected; 0 = no limit
	MaxHeaderSize  Size     `yaml:"max_header_size"`  // bytes of headers inspected; 0 = no limit
	// Exclusions turn rules off where a legitimate request looks like an attack (an editor
	// posting code).
	Exclusions []WAFExclusion `yaml:"exclusions"`
}

// WAFExclusion turns rules off on a path (exact, or a prefix ending in "*"; none: every path),
// for some fields (query, form or JSON field, header or cookie names; none: the whole request).
type WAFExclusion struct {
	Path   string   `yaml:"path"`
	Params []string `yaml:"params"`
	Rules  []string `yaml:"rules"` // none: every rule
}

// WAFRules selects the detections. When rules: is not written, all of them are on.
type WAFRules struct {
	SQLInjection      bool `yaml:"sql_injection"`
	XSS               bool `yaml:"xss"`
	PathTraversal     bool `yaml:"path_traversal"`
	SuspiciousHeaders bool `yaml:"suspicious_headers"`
	CommandInjection  bool `yaml:"command_injection"`
}

// Logging controls what of a request is stored (GDPR).
type Logging struct {
	StripHeaders HeaderNames  `yaml:"strip_headers"` // headers never logged
	RedactPaths  []RedactPath `yaml:"redact_paths"`
	MaskPII      bool         `yaml:"mask_pii"`       // mask e-mail addresses and the like in logged URLs; default true
	MaskIPMethod string       `yaml:"mask_ip_method"` // last_octet (default), last_two_octets, prefix, hash or none
	// Prefix lengths kept by mask_ip_method: prefix (default 16 and 48, as CNIL recommends);
	// nil when unused.
	MaskIPPrefixV4 *int `yaml:"mask_ip_prefix_v4"`
	MaskIPPrefixV6 *int `yaml:"mask_ip_prefix_v6"`
}

// RedactPath rewrites logged paths: every match of Pattern (a Go regular expression, RE2
// syntax, unanchored) is replaced by Replacement ($1 refers to a group).
type RedactPath struct {
	Pattern     string `yaml:"pattern"`
	Replacement string `yaml:"replacement"`
}

// DataRetention says how long stored data is kept; at least 1h each.
type DataRetention struct {
	AccessLogs   time.Duration `yaml:"access_logs"`   // default 7d
	ErrorLogs    time.Duration `yaml:"error_logs"`    // default 30d
	SecurityLogs time.Duration `yaml:"security_logs"` // default 90d
	AuditLogs    time.Duration `yaml:"audit_logs"`    // default 365d
	Metrics      time.Duration `yaml:"metrics"`       // default 30d
}

// HealthCheck probes the backend from the control plane.
type HealthCheck struct {
	Enabled        bool          `yaml:"enabled"`
	Interval       time.Duration `yaml:"interval"`        // default 10s
	Timeout        time.Duration `yaml:"timeout"`         // default 5s, less than interval
	Path           string        `yaml:"path"`            // default /
	ExpectedStatus int           `yaml:"expected_status"` // default 200
	Method         string        `yaml:"method"`          // GET or HEAD; default GET
}

// WebSocket limits WebSocket connections of the route.
type WebSocket struct {
	Enabled        bool          `yaml:"enabled"`
	MaxConnections int64         `yaml:"max_connections"` // open connections per route and replica
	MaxDuration    time.Duration `yaml:"max_duration"`
	IdleTimeout    time.Duration `yaml:"idle_timeout"`
	PingInterval   time.Duration `yaml:"ping_interval"`
}

// Compression compresses responses.
type Compression struct {
	Enabled      bool     `yaml:"enabled"`
	Algorithms   []string `yaml:"algorithms"` // in order of preference: brotli, zstd, gzip; default [gzip]
	Level        int      `yaml:"level"`      // default 6; gzip 1-9, brotli 0-11, zstd 1-22
	MinSize      Size     `yaml:"min_size"`   // default 1024
	ContentTypes []string `yaml:"content_types"`
}

// ConnectionPool tunes the connections to the backend; 0 keeps the built-in value.
type ConnectionPool struct {
	MaxIdleConns        int64         `yaml:"max_idle_conns"`
	MaxIdleConnsPerHost int64         `yaml:"max_idle_conns_per_host"`
	MaxConnsPerHost     int64         `yaml:"max_conns_per_host"`
	IdleTimeout         time.Duration `yaml:"idle_timeout"`
}

// CircuitBreaker stops sending requests to a failing backend for a while.
type CircuitBreaker struct {
	Enabled          bool          `yaml:"enabled"`
	FailureThreshold int64         `yaml:"failure_threshold"` // failures within window that open it; default 5
	SuccessThreshold int64         `yaml:"success_threshold"` // successes in half-open that close it; default 2
	Timeout          time.Duration `yaml:"timeout"`           // how long it stays open; default 30s
	Window           time.Duration `yaml:"window"`            // default 60s
}

// ErrorPages maps a status code to an HTML template file.
type ErrorPages map[int]string

// GeoIP restricts and watches client countries (needs geoip.database in the global file).
type GeoIP struct {
	Enabled               bool     `yaml:"enabled"`
	AllowedCountries      []string `yaml:"allowed_countries"` // ISO 3166-1 alpha-2; empty = all
	AlertOnUnusualCountry bool     `yaml:"alert_on_unusual_country"`
	BlockedCountries      []string `yaml:"blocked_countries"` // refused; empty = none
	LoginPaths            []string `yaml:"login_paths"`       // watched by the alert; exact or prefix*

	at   *yaml.Node // where the section is written, for problems found with other files
	file string
}

// SlowRequest flags slow requests.
type SlowRequest struct {
	Enabled      bool           `yaml:"enabled"`
	Thresholds   SlowThresholds `yaml:"thresholds"`
	AlertWebhook bool           `yaml:"alert_webhook"` // send the slow_request_critical webhook event on critical
}

// SlowThresholds are the levels of SlowRequest, each larger than the one before.
type SlowThresholds struct {
	Warning  time.Duration `yaml:"warning"`  // logged as a warning; default 5s
	Critical time.Duration `yaml:"critical"` // logged as an error; default 10s
	Timeout  time.Duration `yaml:"timeout"`  // the request is aborted (504); 0 = never
}

// Retry re-sends idempotent requests (GET, HEAD, OPTIONS) that failed.
type Retry struct {
	Enabled      bool          `yaml:"enabled"`
	MaxAttempts  int64         `yaml:"max_attempts"`  // attempts in all, the first included; default 3
	Backoff      string        `yaml:"backoff"`       // exponential (default), linear or constant
	InitialDelay time.Duration `yaml:"initial_delay"` // default 100ms
	MaxDelay     time.Duration `yaml:"max_delay"`     // default 2s
	RetryOn      RetryOn       `yaml:"retry_on"`      // default connection_refused, timeout, 502, 503
}

// RetryOn lists retry conditions: connection_refused, timeout, or a status code 500-599
// (kept as text: "502").
type RetryOn []string

// HeaderMap maps header names to values.
type HeaderMap map[string]string

// HeaderNames lists header names.
type HeaderNames []string

// PrefixList lists networks; a single address is written as an IP and kept as a /32 or /128.
type PrefixList []netip.Prefix

// Hosts lists host names: "example.org", "*.example.org" (any subdomain, at any depth). It is
// written as one name or a list; names are lower-cased.
type Hosts []string
