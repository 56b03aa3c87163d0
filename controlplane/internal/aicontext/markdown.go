package aicontext

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// block is a piece of the Markdown report: fixed text, or the rows of a list under a heading
// (a table header) shown when at least one row is.
type block struct {
	list string // "" for fixed text
	text string // the fixed text, or the list's heading
	rows []string
	none string // shown instead when the list is empty
}

// renderMarkdown renders r with its lists cut to fit budget.
func renderMarkdown(r *Report, budget int) []byte {
	blocks := markdownBlocks(r)
	var measured []sized
	fixed := 0
	for _, b := range blocks {
		if b.list == "" {
			fixed += len(b.text)
			continue
		}
		if len(b.rows) == 0 {
			fixed += len(b.none)
		}
		s := sized{name: b.list, header: len(b.text), rows: make([]int, len(b.rows)), more: len(moreLine(len(b.rows)))}
		for i, row := range b.rows {
			s.rows[i] = len(row)
		}
		measured = append(measured, s)
	}
	kept := fit(fixed, measured, budget)
	var out strings.Builder
	i := 0
	for _, b := range blocks {
		if b.list == "" {
			out.WriteString(b.text)
			continue
		}
		k := kept[i]
		i++
		switch {
		case len(b.rows) == 0:
			out.WriteString(b.none)
			continue
		case k > 0:
			out.WriteString(b.text)
			for _, row := range b.rows[:k] {
				out.WriteString(row)
			}
		}
		if k < len(b.rows) {
			out.WriteString(moreLine(len(b.rows) - k))
		}
	}
	return []byte(maskIPs(out.String()))
}

func moreLine(n int) string {
	return "\n… " + strconv.Itoa(n) + " more (left out to keep the report short; raise max_bytes to see them)\n"
}

// markdownBlocks lays r out as Markdown, in report order.
func markdownBlocks(r *Report) []block {
	var bs []block
	fixed := func(format string, args ...any) { bs = append(bs, block{text: fmt.Sprintf(format, args...)}) }
	table := func(name, none string, head []string, rows [][]string) {
		b := block{list: name, none: none + "\n", text: row(head) + "|" + strings.Repeat(" --- |", len(head)) + "\n"}
		for _, r := range rows {
			b.rows = append(b.rows, row(r))
		}
		bs = append(bs, b)
	}
	s := r.System

	fixed("# proxy-manager: AI context report\n\nGenerated %s. Traffic window: %s (24 hours, whole hours). "+
		"Client addresses are masked; secrets and webhook URLs are left out.\n", r.GeneratedAt, r.Window)

	fixed("\n## System\n\n- Control plane: version %s, started %s, up %s.\n- Configuration loaded: %s; snapshot version in force: %d.\n"+
		"- Events the data planes dropped in 24h: %d.\n\n", s.Version, s.StartedAt, sinceText(time.Duration(s.UptimeSeconds)*time.Second),
		yesNo(s.ConfigLoaded), s.SnapshotVersion, s.EventsDropped24h)
	var dps [][]string
	for _, d := range s.Dataplanes {
		x := []string{d.NodeID, d.Version, yesNo(d.Connected), u(d.AppliedVersion), u(d.Lag), d.LastSeen, u(d.EventsDropped)}
		if m := d.Metrics; m != nil {
			x = append(x, m.At, sinceText(time.Duration(m.UptimeSeconds)*time.Second), i64(m.ActiveConnections), i64(m.Goroutines),
				i64(m.HeapMB), i64(m.RSSMB), m.EventQueue, i64(m.WebSockets))
		} else {
			x = append(x, "no report", "", "", "", "", "", "", "")
		}
		dps = append(dps, x)
	}
	table("dataplanes", "No data plane is known.", []string{"Data plane", "Version", "Connected", "Snapshot applied", "Lag",
		"Last seen", "Events dropped", "Report at", "Uptime", "Connections", "Goroutines", "Heap MB", "RSS MB",
		"Event queue", "WebSockets"}, dps)

	fixed("\n## Routes (24h)\n\n")
	var routes [][]string
	for _, rt := range r.Routes {
		health := rt.Health
		if rt.HealthNote != "" {
			health += " (" + rt.HealthNote + ")"
		}
		routes = append(routes, []string{rt.ID, rt.Site, rt.Backend, health, i64(rt.Requests), i64(rt.Errors),
			percent(rt.ErrorRate), ms(rt.P50MS), ms(rt.P95MS), ms(rt.P99MS), rt.Circuit, i64(rt.WebSockets)})
	}
	table("routes", "No route is in force.", []string{"Route", "Site", "Backend", "Health", "Requests", "Errors",
		"Error rate", "p50 ms", "p95 ms", "p99 ms", "Circuit", "WebSockets"}, routes)

	fixed("\n## Recent errors by cause (24h)\n\n%d failed requests (5xx or a proxy error); causes counted over the newest %d.\n\n",
		r.Errors.Total, r.Errors.Sampled)
	var causes [][]string
	for _, c := range r.Errors.Causes {
		causes = append(causes, []string{i64(c.Count), strconv.Itoa(c.Status), orDash(c.Message), strings.Join(c.Routes, ", "),
			strings.Join(c.RequestIDs, ", ")})
	}
	table("error_causes", "No failed request.", []string{"Count", "Status", "Error", "Routes", "Sample request ids"}, causes)

	fixed("\n## Slow endpoints (24h, top %d)\n\n", topSlow)
	var slow [][]string
	for _, e := range r.SlowEndpoints {
		slow = append(slow, []string{e.Route, e.Method, e.Pattern, i64(e.Count), i64(e.Critical), ms(e.P95MS), ms(e.MaxMS)})
	}
	table("slow_endpoints", "No request was flagged slow.", []string{"Route", "Method", "Endpoint", "Slow requests",
		"Critical", "p95 ms", "Max ms"}, slow)

	sec := r.Security
	fixed("\n## Security (24h)\n\n- WAF: %d blocked, %d logged only; %d matches in the last hour.\n- Failed logins: %d.\n"+
		"- Rate-limit violations: %d.\n- Bans in force: %d.\n\nTop WAF rules:\n\n", sec.WAFBlocks, sec.WAFLogged,
		sec.WAFLastHour, sec.FailedLogins, sec.RateLimited, sec.ActiveBans)
	var wafRules, attackers [][]string
	for _, c := range sec.TopRules {
		wafRules = append(wafRules, []string{c.Name, i64(c.Count)})
	}
	for _, a := range sec.TopAttackers {
		attackers = append(attackers, []string{a.Address, i64(a.Events)})
	}
	table("top_waf_rules", "None.", []string{"Rule", "Matches"}, wafRules)
	fixed("\nTop attacking addresses (masked):\n\n")
	table("top_attackers", "None.", []string{"Address", "Security events"}, attackers)

	fixed("\n## Certificates\n\n")
	var certs [][]string
	for _, c := range r.Certificates {
		certs = append(certs, []string{c.Domain, c.ExpiresAt, strconv.Itoa(c.DaysLeft), c.Level})
	}
	table("certificates", "No certificate is monitored.", []string{"Domain", "Expires", "Days left", "Level"}, certs)

	fixed("\n## Configuration problems\n\nRejected configuration (the last good version stays live):\n\n")
	rejected := block{list: "rejected", none: "None.\n"}
	for _, e := range r.Config.Rejected {
		rejected.rows = append(rejected.rows, "- "+e+"\n")
	}
	bs = append(bs, rejected)
	fixed("\nSnapshots the data planes refused (NACK):\n\n")
	var nacks [][]string
	for _, n := range r.Config.NACKs {
		nacks = append(nacks, []string{n.NodeID, u(n.Version), n.Reason})
	}
	table("nacks", "None.", []string{"Data plane", "Version", "Reason"}, nacks)

	fixed("\n## Circuit breakers\n\n")
	var circuits [][]string
	for _, c := range r.Circuits {
		circuits = append(circuits, []string{c.Service, c.State, i64(c.Failures)})
	}
	table("circuit_breakers", "No breaker has reported.", []string{"Service", "State", "Failures"}, circuits)

	fixed("\n## Failed webhook deliveries (24h)\n\n")
	var hooks [][]string
	for _, f := range r.WebhookFailures {
		hooks = append(hooks, []string{f.Webhook, f.Event, strconv.Itoa(f.Failures), f.LastAt, f.LastError})
	}
	table("webhook_failures", "None.", []string{"Webhook", "Event", "Failed attempts", "Last attempt", "Last error"}, hooks)

	fixed("\n## What looks wrong\n\n")
	wrong := block{list: wrongList, none: "Nothing looks wrong.\n"}
	for _, f := range r.Wrong {
		wrong.rows = append(wrong.rows, fmt.Sprintf("- **%s** %s: %s\n", f.Rule, f.Subject, f.Detail))
	}
	bs = append(bs, wrong)
	return bs
}

// row is a Markdown table row; a cell cannot break the table.
func row(cells []string) string {
	var b strings.Builder
	b.WriteString("|")
	for _, c := range cells {
		c = strings.ReplaceAll(strings.Join(strings.Fields(c), " "), "|", `\|`)
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n")
	return b.String()
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func u(v uint64) string  { return strconv.FormatUint(v, 10) }
func i64(v int64) string { return strconv.FormatInt(v, 10) }

func ms(v float64) string      { return strconv.FormatFloat(v, 'f', 1, 64) }
func percent(v float64) string { return strconv.FormatFloat(v*100, 'f', 2, 64) + "%" }
