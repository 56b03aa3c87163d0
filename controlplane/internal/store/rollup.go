package store

// Traffic roll-ups (0010_traffic_rollups.sql): each stored batch of request events is summed in
// memory per route and minute, per route and hour, per user-agent class and per country, and the
// sums are added to the roll-up tables by upserts in the batch's own transaction. The roll-ups are
// therefore exactly as durable and as idempotent as the raw rows: a batch stored twice is refused
// whole, and a batch rolled back rolls its sums back too.

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/uaclass"
)

// LatencyBuckets is the number of response-time histogram buckets of a roll-up row: bucket 0 is
// under 1 ms, bucket i in 1..50 is [1.25^(i-1), 1.25^i) ms, the last one 1.25^50 ms (~70 s) and more.
const LatencyBuckets = 52

const latencyGrowth = 1.25

// latencyBucket returns the bucket of a response time in milliseconds.
func latencyBucket(ms float64) int {
	if ms < 1 {
		return 0
	}
	i := int(math.Log(ms)/math.Log(latencyGrowth)) + 1
	return min(i, LatencyBuckets-1)
}

// bucketBounds returns a bucket's lower and upper bound in milliseconds (the last one's upper
// bound is its lower bound: it has none).
func bucketBounds(i int) (lo, hi float64) {
	switch {
	case i == 0:
		return 0, 1
	case i == LatencyBuckets-1:
		lo = math.Pow(latencyGrowth, float64(i-1))
		return lo, lo
	default:
		return math.Pow(latencyGrowth, float64(i-1)), math.Pow(latencyGrowth, float64(i))
	}
}

// Histogram is a response-time histogram in the roll-ups' fixed buckets; histograms of any periods
// merge by adding their buckets.
type Histogram [LatencyBuckets]int64

// Add merges o into h.
func (h *Histogram) Add(o *Histogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// Count returns the number of response times in h.
func (h *Histogram) Count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Percentile returns the q-th quantile (0 < q <= 1) in milliseconds, interpolated linearly inside
// its bucket; 0 when h is empty. Its error is at most a bucket's width, 25%, and half that typically.
func (h *Histogram) Percentile(q float64) float64 {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, c := range h {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			lo, hi := bucketBounds(i)
			return lo + (hi-lo)*(rank-seen)/float64(c)
		}
		seen += float64(c)
	}
	lo, _ := bucketBounds(LatencyBuckets - 1)
	return lo
}

// Counters are the sums of a roll-up row.
type Counters struct {
	Requests      int64
	Errors        int64    // 5xx answers, and requests the proxy failed (status 0, or an error below 400)
	BytesSent     int64    // to clients
	BytesReceived int64    // from clients
	BytesSaved    int64    // by compression
	TimeSumUS     int64    // sum of response times in microseconds, for the average
	Slow          int64    // flagged slow by the data plane (the route's slow_request thresholds)
	Blocked       int64    // answered by a security policy (ban, geoip, rate limit, WAF)
	Status        [5]int64 // 1xx..5xx
	Latency       Histogram
}

// Add merges o into c.
func (c *Counters) Add(o *Counters) {
	c.Requests += o.Requests
	c.Errors += o.Errors
	c.BytesSent += o.BytesSent
	c.BytesReceived += o.BytesReceived
	c.BytesSaved += o.BytesSaved
	c.TimeSumUS += o.TimeSumUS
	c.Slow += o.Slow
	c.Blocked += o.Blocked
	for i := range c.Status {
		c.Status[i] += o.Status[i]
	}
	c.Latency.Add(&o.Latency)
}

// AvgMS returns the mean response time in milliseconds.
func (c *Counters) AvgMS() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.TimeSumUS) / 1000 / float64(c.Requests)
}

// ErrorRate returns errors per request, 0 without requests.
func (c *Counters) ErrorRate() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.Errors) / float64(c.Requests)
}

// isError says whether a request counts as an error: the backend or the proxy failed it (5xx),
// no answer was sent (status 0), or the proxy reported an error on an answer under 400 (the
// backend failed after its headers were sent). A 4xx with an error is the client's doing or a
// policy's answer (blocked, too large, client gone), not an error of the service.
func isError(status int32, errMsg string) bool {
	return status >= 500 || status <= 0 || (errMsg != "" && status < 400)
}

func (c *Counters) addEvent(ev *proxyv1.RequestEvent, d time.Duration) {
	c.Requests++
	if isError(ev.GetStatus(), ev.GetError()) {
		c.Errors++
	}
	c.BytesSent += ev.GetBytesOut()
	c.BytesReceived += ev.GetBytesIn()
	c.BytesSaved += ev.GetBytesSavedCompression()
	c.TimeSumUS += d.Microseconds()
	if ev.GetSlow() != "" {
		c.Slow++
	}
	if ev.GetBlockedBy() != "" {
		c.Blocked++
	}
	if s := ev.GetStatus() / 100; s >= 1 && s <= 5 {
		c.Status[s-1]++
	}
	c.Latency[latencyBucket(float64(d)/float64(time.Millisecond))]++
}

type periodKey struct{ start, route int64 }

type classKey struct {
	hour, route int64
	class       string
}

// rollup sums one batch's request events before they are added to the roll-up tables.
type rollup struct {
	// minutesFrom is the oldest minute worth a per-minute row: older ones would be pruned at once
	// (MinuteRollupRetention); their events still count in the hourly rows.
	minutesFrom int64
	minutes     map[periodKey]*Counters
	hours       map[periodKey]*Counters
	agents      map[classKey]int64
	countries   map[classKey]int64
	uaClasses   map[string]uaclass.Class // a batch holds few distinct user agents
}

func newRollup(now time.Time) *rollup {
	return &rollup{minutesFrom: now.Add(-MinuteRollupRetention).Unix(),
		minutes: map[periodKey]*Counters{}, hours: map[periodKey]*Counters{}, agents: map[classKey]int64{},
		countries: map[classKey]int64{}, uaClasses: map[string]uaclass.Class{}}
}

// maxUACache bounds the per-batch cache of user-agent classes under hostile input.
const maxUACache = 1024

// add counts one event of a route at time t.
func (r *rollup) add(route int64, t time.Time, d time.Duration, ev *proxyv1.RequestEvent) {
	sec := t.Unix()
	minute, hour := sec-floorMod(sec, 60), sec-floorMod(sec, 3600)
	// An event is counted in its minute's row, which adds to its hour's row at flush; an event too
	// old for a minute row goes straight to its hour's.
	k, rows := periodKey{minute, route}, r.minutes
	if minute < r.minutesFrom {
		k, rows = periodKey{hour, route}, r.hours
	}
	c := rows[k]
	if c == nil {
		c = &Counters{}
		rows[k] = c
	}
	c.addEvent(ev, d)

	ua := ev.GetUserAgent()
	class, ok := r.uaClasses[ua]
	if !ok {
		class = uaclass.Of(ua)
		if len(r.uaClasses) < maxUACache {
			r.uaClasses[ua] = class
		}
	}
	r.agents[classKey{hour, route, string(class)}]++
	r.countries[classKey{hour, route, strings.ToUpper(ev.GetCountry())}]++
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// Roll-up upserts; the counter columns are listed once, in Counters' order (counterColumns).
var (
	counterColumns = func() []string {
		cols := []string{"request_count", "error_count", "bytes_sent", "bytes_received",
			"bytes_saved_compression", "response_time_sum_us", "slow_count", "blocked_count",
			"status_1xx", "status_2xx", "status_3xx", "status_4xx", "status_5xx"}
		for i := range LatencyBuckets {
			cols = append(cols, fmt.Sprintf("lat_%02d", i))
		}
		return cols
	}()
	upsertMinuteSQL = upsertCountersSQL("analytics_minute", "minute_timestamp", true, "")
	// analytics_hourly keeps its seed column avg_response_time_ms up to date.
	upsertHourSQL = upsertCountersSQL("analytics_hourly", "hour_timestamp", true,
		"avg_response_time_ms = CAST(analytics_hourly.response_time_sum_us + excluded.response_time_sum_us AS REAL) / 1000 / "+
			"MAX(analytics_hourly.request_count + excluded.request_count, 1)")
	upsertDaySQL       = upsertCountersSQL("analytics_daily", "day_timestamp", true, "")
	upsertTotalHourSQL = upsertCountersSQL("analytics_total_hourly", "hour_timestamp", false, "")
	upsertAgentSQL     = `INSERT INTO analytics_user_agents (timestamp, route_id, user_agent_type, count) VALUES (?, ?, ?, ?)
ON CONFLICT(timestamp, route_id, user_agent_type) DO UPDATE SET count = count + excluded.count`
	upsertCountrySQL = `INSERT INTO analytics_geoip (timestamp, route_id, country_code, city, count) VALUES (?, ?, ?, '', ?)
ON CONFLICT(timestamp, route_id, country_code, city) DO UPDATE SET count = count + excluded.count`
	upsertAgentDaySQL = `INSERT INTO analytics_user_agents_daily (day_timestamp, route_id, user_agent_type, count) VALUES (?, ?, ?, ?)
ON CONFLICT(day_timestamp, route_id, user_agent_type) DO UPDATE SET count = count + excluded.count`
	upsertCountryDaySQL = `INSERT INTO analytics_geoip_daily (day_timestamp, route_id, country_code, count) VALUES (?, ?, ?, ?)
ON CONFLICT(day_timestamp, route_id, country_code) DO UPDATE SET count = count + excluded.count`
)

// rollupStatements are the roll-up upserts, prepared once (stmtCache).
var rollupStatements = []string{upsertMinuteSQL, upsertHourSQL, upsertDaySQL, upsertTotalHourSQL,
	upsertAgentSQL, upsertCountrySQL, upsertAgentDaySQL, upsertCountryDaySQL}

// upsertCountersSQL returns the upsert of one row of counters into table, keyed by its time
// column and, when routed, its route.
func upsertCountersSQL(table, timeColumn string, routed bool, extraSet string) string {
	key, keyArgs := timeColumn, "?"
	if routed {
		key, keyArgs = timeColumn+", route_id", "?, ?"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s, %s) VALUES (%s%s)\nON CONFLICT(%s) DO UPDATE SET ",
		table, key, strings.Join(counterColumns, ", "), keyArgs, strings.Repeat(", ?", len(counterColumns)), key)
	for i, c := range counterColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = %s.%s + excluded.%s", c, table, c, c)
	}
	if extraSet != "" {
		b.WriteString(", " + extraSet)
	}
	return b.String()
}

// counterArgs returns the upsert arguments of one row: its key (a time, and a route unless
// route < 0) and its counters.
func counterArgs(start, route int64, c *Counters) []any {
	args := make([]any, 0, 2+len(counterColumns))
	args = append(args, start)
	if route >= 0 {
		args = append(args, route)
	}
	args = append(args, c.Requests, c.Errors, c.BytesSent, c.BytesReceived, c.BytesSaved,
		c.TimeSumUS, c.Slow, c.Blocked)
	for _, s := range c.Status {
		args = append(args, s)
	}
	for _, l := range c.Latency {
		args = append(args, l)
	}
	return args
}

// addTo adds c to the row of key in rows.
func addTo(rows map[periodKey]*Counters, key periodKey, c *Counters) {
	r := rows[key]
	if r == nil {
		r = &Counters{}
		rows[key] = r
	}
	r.Add(c)
}

// upsertCounters upserts every row of rows with query; noRoute leaves the route out of the key.
func upsertCounters(ctx context.Context, tx *sql.Tx, st *stmtCache, query string, rows map[periodKey]*Counters, noRoute bool) error {
	stmt, err := st.get(ctx, tx, query)
	if err != nil {
		return err
	}
	for k, c := range rows {
		route := k.route
		if noRoute {
			route = -1
		}
		if _, err := stmt.ExecContext(ctx, counterArgs(k.start, route, c)...); err != nil {
			return fmt.Errorf("upsert %.40s: %w", query, err)
		}
	}
	return nil
}

// upsertClasses upserts class counts with query (time, route, class, count).
func upsertClasses(ctx context.Context, tx *sql.Tx, st *stmtCache, query string, counts map[classKey]int64) error {
	stmt, err := st.get(ctx, tx, query)
	if err != nil {
		return err
	}
	for k, n := range counts {
		if _, err := stmt.ExecContext(ctx, k.hour, k.route, k.class, n); err != nil {
			return fmt.Errorf("upsert %.40s: %w", query, err)
		}
	}
	return nil
}

// flush adds the batch's sums to the roll-up tables: its minutes, and the hours, days and hourly
// totals they (and the events too old for minute rows) add up to.
func (r *rollup) flush(ctx context.Context, tx *sql.Tx, st *stmtCache) error {
	if len(r.minutes)+len(r.hours) == 0 {
		return nil
	}
	for k, c := range r.minutes {
		addTo(r.hours, periodKey{k.start - floorMod(k.start, 3600), k.route}, c)
	}
	days, totals := map[periodKey]*Counters{}, map[periodKey]*Counters{}
	for k, c := range r.hours {
		addTo(days, periodKey{k.start - floorMod(k.start, 86400), k.route}, c)
		addTo(totals, periodKey{k.start, 0}, c)
	}
	agentDays, countryDays := map[classKey]int64{}, map[classKey]int64{}
	for k, n := range r.agents {
		agentDays[classKey{k.hour - floorMod(k.hour, 86400), k.route, k.class}] += n
	}
	for k, n := range r.countries {
		countryDays[classKey{k.hour - floorMod(k.hour, 86400), k.route, k.class}] += n
	}
	for _, u := range []struct {
		query   string
		rows    map[periodKey]*Counters
		noRoute bool
	}{{upsertMinuteSQL, r.minutes, false}, {upsertHourSQL, r.hours, false}, {upsertDaySQL, days, false},
		{upsertTotalHourSQL, totals, true}} {
		if err := upsertCounters(ctx, tx, st, u.query, u.rows, u.noRoute); err != nil {
			return err
		}
	}
	for _, u := range []struct {
		query  string
		counts map[classKey]int64
	}{{upsertAgentSQL, r.agents}, {upsertCountrySQL, r.countries}, {upsertAgentDaySQL, agentDays},
		{upsertCountryDaySQL, countryDays}} {
		if err := upsertClasses(ctx, tx, st, u.query, u.counts); err != nil {
			return err
		}
	}
	return nil
}

// LatencyBucketBounds returns bucket i's range in milliseconds: [lo, hi); hi == lo for the last,
// open-ended bucket.
func LatencyBucketBounds(i int) (lo, hi float64) { return bucketBounds(i) }
