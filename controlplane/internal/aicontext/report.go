// Package aicontext builds the AI context report of GET /api/ai-context: one bounded, deterministic
// summary of the proxy's state (data planes, routes, errors, slow endpoints, security,
// certificates, configuration problems, circuit breakers, webhook failures) and a short list of
// what looks wrong, for an administrator to paste into an AI assistant. It never carries a secret
// or a raw client address: addresses are masked as the logs mask them, URLs lose their userinfo,
// and a final pass masks anything in free text that parses as an IP address.
package aicontext

import (
	"context"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Store is what the report reads from the database; *store.Store is one.
type Store interface {
	SumTraffic(ctx context.Context, q store.TrafficQuery) (map[int64]*store.Counters, error)
	RouteStates(ctx context.Context) (map[string]store.RouteState, error)
	SlowRequests(ctx context.Context, from, to time.Time, routeID int64) ([]store.SlowEndpoint, bool, error)
	Errors(ctx context.Context, q store.ErrorQuery) (store.ErrorReport, error)
	Security(ctx context.Context, now, since time.Time) (store.SecurityReport, error)
	Certificates(ctx context.Context) ([]store.Certificate, error)
	LatestSystemMetrics(ctx context.Context) (map[string]store.SystemSample, error)
	CircuitStates(ctx context.Context) ([]store.CircuitState, error)
	DroppedEventsSince(ctx context.Context, since time.Time) (int64, error)
	WebhookDeliveries(ctx context.Context, q store.WebhookDeliveryQuery) ([]store.WebhookDelivery, error)
}

// Fleet is the data planes and the snapshot in force; *fleet.Fleet is one.
type Fleet interface {
	Dataplanes() []*proxyv1.Dataplane
	Current() (*proxyv1.Snapshot, <-chan struct{})
}

// ConfigStatus is the last configuration load; *reloader.Reloader is one.
type ConfigStatus interface {
	Status() (loaded bool, version uint64, lastErrors []string)
}

// Sources are what a report is built from.
type Sources struct {
	Store  Store
	Fleet  Fleet
	Config ConfigStatus
	// Version is the control plane's version, StartedAt when it started.
	Version   string
	StartedAt time.Time
	// Now is the report's clock; default time.Now.
	Now func() time.Time
}

// Report is the AI context report. Every list is sorted by a stable key; Truncated counts, per
// list, the items a size bound left out.
type Report struct {
	GeneratedAt     string           `json:"generated_at"`
	Window          string           `json:"window"`
	System          System           `json:"system"`
	Routes          []Route          `json:"routes"`
	Errors          Errors           `json:"errors"`
	SlowEndpoints   []SlowEndpoint   `json:"slow_endpoints"`
	Security        Security         `json:"security"`
	Certificates    []Certificate    `json:"certificates"`
	Config          ConfigProblems   `json:"configuration"`
	Circuits        []Circuit        `json:"circuit_breakers"`
	WebhookFailures []WebhookFailure `json:"webhook_failures"`
	Wrong           []Finding        `json:"what_looks_wrong"`
	Truncated       map[string]int   `json:"truncated,omitempty"`
}

// System is the control plane and its data planes.
type System struct {
	Version          string      `json:"controlplane_version"`
	StartedAt        string      `json:"started_at"`
	UptimeSeconds    int64       `json:"uptime_seconds"`
	ConfigLoaded     bool        `json:"config_loaded"`
	SnapshotVersion  uint64      `json:"snapshot_version"`
	EventsDropped24h int64       `json:"events_dropped_24h"`
	Dataplanes       []Dataplane `json:"dataplanes"`
}

// Dataplane is one data plane as the fleet and its latest system report know it.
type Dataplane struct {
	NodeID         string   `json:"node_id"`
	Version        string   `json:"binary_version"`
	Connected      bool     `json:"connected"`
	AppliedVersion uint64   `json:"applied_version"`
	Lag            uint64   `json:"lag"`
	LastSeen       string   `json:"last_seen,omitempty"`
	EventsDropped  uint64   `json:"events_dropped"`
	Metrics        *Metrics `json:"metrics,omitempty"`
}

// Metrics is a data plane's latest system report.
type Metrics struct {
	At                string `json:"at"`
	UptimeSeconds     int64  `json:"uptime_seconds"`
	ActiveConnections int64  `json:"active_connections"`
	Goroutines        int64  `json:"goroutines"`
	HeapMB            int64  `json:"heap_mb"`
	RSSMB             int64  `json:"rss_mb"`
	EventQueue        string `json:"event_queue"` // length/capacity
	EventsDropped     int64  `json:"events_dropped_total"`
	WebSockets        int64  `json:"websockets_active"`
	SnapshotVersion   int64  `json:"snapshot_version"`
}

// Route is one route of the snapshot in force with its last 24 hours.
type Route struct {
	ID         string  `json:"id"`
	Site       string  `json:"site"`
	Backend    string  `json:"backend"`
	Health     string  `json:"health"` // healthy, degraded, down; unknown when not checked
	HealthNote string  `json:"health_error,omitempty"`
	Requests   int64   `json:"requests_24h"`
	Errors     int64   `json:"errors_24h"`
	ErrorRate  float64 `json:"error_rate_24h"`
	P50MS      float64 `json:"p50_ms"`
	P95MS      float64 `json:"p95_ms"`
	P99MS      float64 `json:"p99_ms"`
	Circuit    string  `json:"circuit"` // closed, open, half-open; unknown when none reported
	WebSockets int64   `json:"websockets_active"`
}

// Errors is the failed requests of the last 24 hours grouped by cause. Causes are counted over
// the newest Sampled of them.
type Errors struct {
	Total   int64   `json:"total_24h"`
	Sampled int     `json:"sampled"`
	Causes  []Cause `json:"causes"`
}

// Cause is the failed requests with one status and error message.
type Cause struct {
	Status     int      `json:"status"`
	Message    string   `json:"message"`
	Count      int64    `json:"count"`
	Routes     []string `json:"routes"`
	RequestIDs []string `json:"sample_request_ids"` // the newest, at most 3
}

// SlowEndpoint is one endpoint of the requests flagged slow in the last 24 hours.
type SlowEndpoint struct {
	Route    string  `json:"route"`
	Method   string  `json:"method"`
	Pattern  string  `json:"pattern"`
	Count    int64   `json:"count"`
	Critical int64   `json:"critical"`
	P95MS    float64 `json:"p95_ms"`
	MaxMS    float64 `json:"max_ms"`
}

// Security is what the security policies did in the last 24 hours.
type Security struct {
	ActiveBans   int        `json:"active_bans"`
	WAFBlocks    int64      `json:"waf_blocks_24h"`
	WAFLogged    int64      `json:"waf_logged_24h"`
	FailedLogins int64      `json:"failed_logins_24h"`
	RateLimited  int64      `json:"rate_limit_violations_24h"`
	WAFLastHour  int64      `json:"waf_matches_last_hour"`
	TopRules     []Count    `json:"top_waf_rules"`
	TopAttackers []Attacker `json:"top_attackers"` // masked
}

// Count is a number of things with one name.
type Count struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// Attacker is a masked client address with its security events.
type Attacker struct {
	Address string `json:"address"`
	Events  int64  `json:"events"`
}

// Certificate is one certificate in force.
type Certificate struct {
	Domain    string `json:"domain"`
	ExpiresAt string `json:"expires_at"`
	DaysLeft  int    `json:"days_left"`
	Level     string `json:"level"`
}

// ConfigProblems are the rejected configuration and the snapshots the data planes refused.
type ConfigProblems struct {
	Rejected []string `json:"rejected"` // file:line:column: reason of the last rejected load
	NACKs    []NACK   `json:"nacks"`
}

// NACK is a snapshot a data plane refused.
type NACK struct {
	NodeID  string `json:"node_id"`
	Version uint64 `json:"version"`
	Reason  string `json:"reason"`
}

// Circuit is the latest breaker state of a backend service.
type Circuit struct {
	Service  string `json:"service"`
	State    string `json:"state"`
	Failures int64  `json:"failures"`
}

// WebhookFailure is the failed deliveries of one webhook and event in the last 24 hours.
type WebhookFailure struct {
	Webhook   string `json:"webhook"`
	Event     string `json:"event"`
	Failures  int    `json:"failures"`
	LastAt    string `json:"last_at"`
	LastError string `json:"last_error"`
}

// Finding is one thing that looks wrong, from one rule.
type Finding struct {
	Rule    string `json:"rule"`
	Subject string `json:"subject"`
	Detail  string `json:"detail"`
}

// timeFormat is the one way the report prints times.
const timeFormat = time.RFC3339

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

// Report builds the report of s; it makes Sources the admin API's report source.
func (s Sources) Report(ctx context.Context) (*Report, error) { return Build(ctx, s) }
