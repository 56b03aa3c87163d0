package store

// The rights of the people in the logs (GDPR art. 15 access, art. 17 erasure): find every record
// held about one person, export it, erase it.
//
// A person is found by a Subject: a client IP address, an e-mail address or a user identifier.
// Where each can appear is listed once, in subjectColumns; a test walks the schema and fails when
// a table grows a column that looks like it could hold one (an address, a path, a user agent...)
// and is neither listed there nor in notSubjectColumns with the reason why not.
//
// What an IP address finds:
//   - security records (security_events, waf_blocks, rate_limit_violations, rate_limits) keep the
//     raw address: their rows are this person's;
//   - access logs (request_logs, websocket_connections) keep the address as the route's
//     mask_ip_method left it. Under "none" it is the raw address: this person's rows. Under
//     "last_octet" it is 203.0.113.xxx (IPv6: the /64 followed by xxxx groups), which everyone in
//     the same /24 or /64 shares: those rows may be other people's, so the export withholds them
//     and erasure leaves them unless asked (Subject.IncludeMasked). Coarser masks (last_two_octets:
//     a /16 or /48) and keyed hashes cannot be tied to one person at all, which is their purpose:
//     they are not searched.
//
// The audit log is never erased: it is the accountability record, erasures included. The export
// lists the entries that name the subject separately, as kept for accountability.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"

	"github.com/proxy-manager/proxy-manager/pkg/ipmask"
)

// ErrBadSubject is returned for a Subject that selects nothing or more than one thing, or whose
// value is not what its selector expects.
var ErrBadSubject = errors.New("bad subject")

// Subject selects the records held about one person: exactly one of IP, Email and User.
type Subject struct {
	IP    string `json:"ip,omitempty"`    // a client address, IPv4 or IPv6
	Email string `json:"email,omitempty"` // an e-mail address, found in paths, user agents, errors, WAF snippets
	User  string `json:"user,omitempty"`  // a user name or id, found in paths and WAF snippets
	// IncludeMasked (IP only) also lists, or erases, the access-log rows under the masked form of
	// the address, which everyone in its /24 (IPv6: /64) shares.
	IncludeMasked bool `json:"include_masked,omitempty"`
}

// Limits of a Subject's values: a short user string would match nearly every path.
const (
	minUserLen  = 3
	maxValueLen = 256
)

// columnKind says which selectors search a column.
type columnKind int

const (
	rawIP       columnKind = iota // a client address as it arrived; IP
	maskedIP                      // an access-log address as mask_ip_method left it; IP
	requestText                   // what the client sent (path, matched snippet); Email and User
	clientText                    // other client text (user agent) or text about the request (error); Email
)

// subjectColumn is one place where a person can be found.
type subjectColumn struct {
	table, column string
	kind          columnKind
}

// subjectColumns lists every column that can hold data about a person, grouped by table. Read
// only; a new table or column that can hold a person's data must be added here (the schema test
// says so).
var subjectColumns = []subjectColumn{
	{"request_logs", "client_ip", maskedIP},
	{"request_logs", "path", requestText},
	{"request_logs", "user_agent", clientText},
	{"request_logs", "error_message", clientText},
	{"websocket_connections", "client_ip", maskedIP},
	{"websocket_connections", "path", requestText},
	{"security_events", "client_ip", rawIP},
	{"security_events", "path", requestText},
	{"security_events", "snippet", requestText},
	{"security_events", "pattern", requestText},
	{"waf_blocks", "ip_address", rawIP},
	{"waf_blocks", "path", requestText},
	{"waf_blocks", "request_snippet", requestText},
	{"waf_blocks", "pattern_matched", requestText},
	{"rate_limit_violations", "ip_address", rawIP},
	{"rate_limit_violations", "path", requestText},
	{"rate_limits", "ip_address", rawIP},
}

// notSubjectColumns names the columns that look as if they could hold a person's data but do
// not, with the reason. Read only.
var notSubjectColumns = map[string]string{
	"routes.path_prefix":                    "configuration: the route's own path",
	"routes.backend_url":                    "configuration: where the route's backend is",
	"analytics_user_agents.user_agent_type": "a category (bot, browser, api, mobile) counted per hour, not a user agent",
	"certificates.cert_path":                "configuration: a file on the control plane",
	"certificates.key_path":                 "configuration: a file on the control plane",
	"health_checks.error_message":           "the control plane's own probes of a backend; no visitor involved",
	"health_state.last_error":               "the control plane's own probes of a backend; no visitor involved",
	"health_state.backend_url":              "configuration: where the route's backend is",
	"certificates.issuer":                   "a certificate authority's name",
	"webhook_deliveries.message_id":         "a random id the control plane gives an alert's message to a webhook",
	"webhook_deliveries.error":              "the outcome of the control plane's own request to a webhook; no visitor involved",
	"audit_log.user":                        "the administrator or system that acted; the audit log is kept for accountability and searched separately",

	"analytics_user_agents_daily.user_agent_type": "a category (bot, browser, api, mobile) counted per day, not a user agent",
}

// target is the SQL that finds a subject's rows in one table.
type target struct {
	table  string
	match  string // what matched, for people: "client_ip is 203.0.113.7"
	where  string
	args   []any
	shared bool   // rows under a masked address others share
	note   string // said with the rows
	// erasable, when set, narrows erasure: the rows it excludes are kept, for keepReason.
	erasable     string
	erasableArgs func(now time.Time) []any
	keepReason   string
}

// ipForms are the strings an address is stored as: raw (security records, mask "none") and
// masked by last_octet, with the network that masked form covers.
type ipForms struct {
	raw     []string
	masked  string
	network netip.Prefix
}

func parseIPForms(s string) (ipForms, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return ipForms{}, fmt.Errorf("%w: ip %q is not an IP address", ErrBadSubject, s)
	}
	a = a.WithZone("").Unmap()
	f := ipForms{raw: []string{a.String()}, masked: ipmask.Mask(a, ipmask.LastOctet, nil)}
	bits := 64
	if a.Is4() {
		// Written by a data plane that did not unmap it: find it too.
		f.raw = append(f.raw, "::ffff:"+a.String())
		bits = 24
	}
	f.network = netip.PrefixFrom(a, bits).Masked()
	return f, nil
}

// check validates the subject and says which selector it uses.
func (subj Subject) check() (kind, value string, err error) {
	set := 0
	for _, v := range []struct{ kind, value string }{{"ip", subj.IP}, {"email", subj.Email}, {"user", subj.User}} {
		if v.value != "" {
			kind, value = v.kind, v.value
			set++
		}
	}
	if set != 1 {
		return "", "", fmt.Errorf("%w: give exactly one of ip, email and user (have %d)", ErrBadSubject, set)
	}
	if subj.IncludeMasked && kind != "ip" {
		return "", "", fmt.Errorf("%w: include_masked applies to ip only", ErrBadSubject)
	}
	if len(value) > maxValueLen {
		return "", "", fmt.Errorf("%w: %s is longer than %d bytes", ErrBadSubject, kind, maxValueLen)
	}
	if strings.IndexFunc(value, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return "", "", fmt.Errorf("%w: %s contains spaces or control characters", ErrBadSubject, kind)
	}
	switch kind {
	case "email":
		local, domain, ok := strings.Cut(value, "@")
		if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
			return "", "", fmt.Errorf("%w: email %q is not an e-mail address", ErrBadSubject, value)
		}
	case "user":
		if len(value) < minUserLen {
			return "", "", fmt.Errorf("%w: user %q is shorter than %d characters: it would match too much", ErrBadSubject, value, minUserLen)
		}
	}
	return kind, value, nil
}

// targets builds the queries that find subj, one per table (two for an access-log table searched
// by IP: its own rows and the shared masked ones), in subjectColumns order.
func (subj Subject) targets() ([]target, error) {
	kind, value, err := subj.check()
	if err != nil {
		return nil, err
	}
	var (
		ip    ipForms
		likes []any // LIKE patterns for a text search
	)
	switch kind {
	case "ip":
		if ip, err = parseIPForms(value); err != nil {
			return nil, err
		}
	case "email":
		// In a path, the @ may have been percent-encoded by the client.
		likes = []any{likePattern(value), likePattern(strings.Replace(value, "@", "%40", 1))}
	case "user":
		likes = []any{likePattern(value)}
	}

	var out []target
	for start := 0; start < len(subjectColumns); {
		table := subjectColumns[start].table
		end := start
		for end < len(subjectColumns) && subjectColumns[end].table == table {
			end++
		}
		own := target{table: table}
		var shared *target
		var matched []string
		for _, c := range subjectColumns[start:end] {
			var conds []string
			switch {
			case kind == "ip" && (c.kind == rawIP || c.kind == maskedIP):
				conds = append(conds, c.column+" IN ("+placeholders(len(ip.raw))+")")
				for _, r := range ip.raw {
					own.args = append(own.args, r)
				}
				matched = append(matched, c.column)
				if c.kind == maskedIP {
					shared = &target{table: table, shared: true, where: c.column + " = ?", args: []any{ip.masked},
						match: fmt.Sprintf("%s is %s", c.column, ip.masked),
						note: fmt.Sprintf("masked by last_octet: %s stands for every address in %s, so these rows may be other people's",
							ip.masked, ip.network)}
				}
			case kind == "email" && (c.kind == requestText || c.kind == clientText),
				kind == "user" && c.kind == requestText:
				for _, p := range likes {
					conds = append(conds, c.column+` LIKE ? ESCAPE '\'`)
					own.args = append(own.args, p)
				}
				matched = append(matched, c.column)
			}
			if len(conds) > 0 {
				if own.where != "" {
					own.where += " OR "
				}
				own.where += strings.Join(conds, " OR ")
			}
		}
		if own.where != "" {
			if kind == "ip" {
				own.match = fmt.Sprintf("%s is %s", strings.Join(matched, ", "), ip.raw[0])
			} else {
				own.match = fmt.Sprintf("%s contains %s", strings.Join(matched, ", "), value)
			}
			if table == "rate_limits" {
				own.erasable = "(banned_until IS NULL OR banned_until <= ?)"
				own.erasableArgs = func(now time.Time) []any { return []any{now.Unix()} }
				own.keepReason = "a ban in force is kept: lift it first (DELETE /api/bans/{ip}), then erase again"
			}
			out = append(out, own)
		}
		if shared != nil {
			out = append(out, *shared)
		}
		start = end
	}
	return out, nil
}

// auditMatch is the condition on audit_log rows that name the subject.
func (subj Subject) auditMatch() (where string, args []any, err error) {
	kind, value, err := subj.check()
	if err != nil {
		return "", nil, err
	}
	if kind == "ip" {
		ip, err := parseIPForms(value)
		if err != nil {
			return "", nil, err
		}
		// Exact: 203.0.113.7 must not find 203.0.113.70. Bans lifted name the address as the
		// resource ("ip" or "ip route") and in their JSON; erasures as "ip=<address>".
		var conds []string
		for _, r := range ip.raw {
			conds = append(conds, `resource_id = ? OR resource_id = ? OR resource_id LIKE ? ESCAPE '\'`,
				`old_value LIKE ? ESCAPE '\' OR new_value LIKE ? ESCAPE '\'`)
			jsonIP := likePattern(`"ip":"` + r + `"`)
			args = append(args, r, "ip="+r, likeEscape(r)+" %", jsonIP, jsonIP)
		}
		return strings.Join(conds, " OR "), args, nil
	}
	p := likePattern(value)
	return `resource_id LIKE ? ESCAPE '\' OR old_value LIKE ? ESCAPE '\' OR new_value LIKE ? ESCAPE '\' OR notes LIKE ? ESCAPE '\'`,
		[]any{p, p, p, p}, nil
}

// likeEscape escapes LIKE's wildcards (e-mail addresses often hold a '_').
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// likePattern matches text containing s. SQLite's LIKE ignores ASCII case, as e-mail domains do.
func likePattern(s string) string { return "%" + likeEscape(s) + "%" }

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// DefaultExportLimit is how many rows Export lists per table when the caller names no limit.
const DefaultExportLimit = 1000

// Export is every record held about a subject, as found when it was made.
type Export struct {
	Subject Subject     `json:"subject"`
	At      time.Time   `json:"generated_at"`
	Tables  []TableRows `json:"tables"`
	// Kept are the audit entries that name the subject: the accountability record (bans lifted,
	// erasures done), never erased.
	Kept  TableRows `json:"kept_for_accountability"`
	Notes []string  `json:"notes"`
}

// TableRows are the rows of one table that matched.
type TableRows struct {
	Table    string           `json:"table"`
	Match    string           `json:"match"`
	Shared   bool             `json:"shared,omitempty"`
	Rows     []map[string]any `json:"rows"`
	More     bool             `json:"more"`               // more rows matched than the limit
	Withheld int64            `json:"withheld,omitempty"` // shared rows counted, not listed (up to the limit)
	Note     string           `json:"note,omitempty"`
}

// Records is the number of rows listed as the subject's, the audit entries aside.
func (e *Export) Records() int {
	n := 0
	for _, t := range e.Tables {
		n += len(t.Rows)
	}
	return n
}

// Export returns the records held about subj, at most limit rows per table (limit <= 0:
// DefaultExportLimit), all read from one snapshot of the database.
func (s *Store) Export(ctx context.Context, subj Subject, limit int) (_ *Export, err error) {
	if limit <= 0 {
		limit = DefaultExportLimit
	}
	targets, err := subj.targets()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	auditWhere, auditArgs, err := subj.auditMatch()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("export: begin: %w", err)
	}
	defer func() {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			err = errors.Join(err, fmt.Errorf("export: end read: %w", rbErr))
		}
	}()

	ex := &Export{Subject: subj, At: time.Now().UTC(), Tables: []TableRows{}, Notes: exportNotes(subj)}
	for _, t := range targets {
		tr := TableRows{Table: t.table, Match: t.match, Shared: t.shared, Note: t.note, Rows: []map[string]any{}}
		if t.shared && !subj.IncludeMasked {
			q := fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s LIMIT ?)", t.table, t.where)
			if err := tx.QueryRowContext(ctx, q, append(t.args, limit+1)...).Scan(&tr.Withheld); err != nil {
				return nil, fmt.Errorf("export: count %s: %w", t.table, err)
			}
			tr.More, tr.Withheld = tr.Withheld > int64(limit), min(tr.Withheld, int64(limit))
			tr.Note += "; not listed: ask with include_masked, and check before handing them out"
		} else {
			q := fmt.Sprintf("SELECT * FROM %s WHERE %s ORDER BY rowid LIMIT ?", t.table, t.where)
			if tr.Rows, tr.More, err = queryMaps(ctx, tx, limit, q, append(t.args, limit+1)...); err != nil {
				return nil, fmt.Errorf("export: %s: %w", t.table, err)
			}
		}
		ex.Tables = append(ex.Tables, tr)
	}
	ex.Kept = TableRows{Table: "audit_log", Match: "entries that name the subject",
		Note: "the accountability record: kept, not erased"}
	q := fmt.Sprintf("SELECT * FROM audit_log WHERE %s ORDER BY rowid LIMIT ?", auditWhere)
	if ex.Kept.Rows, ex.Kept.More, err = queryMaps(ctx, tx, limit, q, append(auditArgs, limit+1)...); err != nil {
		return nil, fmt.Errorf("export: audit_log: %w", err)
	}
	return ex, nil
}

func exportNotes(subj Subject) []string {
	notes := []string{
		"Times are unix seconds (timestamp_ms: milliseconds) in UTC.",
		"Each table lists at most the export's limit of rows; more=true says there are more.",
	}
	if subj.IP != "" {
		notes = append(notes,
			"Security records (security_events, waf_blocks, rate_limit_violations, rate_limits) keep the raw address.",
			"Access logs are found under the raw address where masking was off, and under the last_octet form as shared rows.",
			"Access logs masked by last_two_octets or by a keyed hash cannot be tied to one address, by design, and are not searched.")
	}
	return notes
}

// queryMaps runs q and returns up to limit rows as column → value maps, and whether there were more.
func queryMaps(ctx context.Context, tx *sql.Tx, limit int, q string, args ...any) (out []map[string]any, more bool, err error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	cols, err := rows.Columns()
	if err != nil {
		return nil, false, err
	}
	out = []map[string]any{}
	for rows.Next() {
		if len(out) == limit {
			return out, true, nil
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, false, fmt.Errorf("scan: %w", err)
		}
		m := make(map[string]any, len(cols))
		for i, c := range cols {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			m[c] = vals[i]
		}
		out = append(out, m)
	}
	return out, false, rows.Err()
}
