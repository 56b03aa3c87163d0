package aicontext

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Size bounds of a rendered report.
const (
	DefaultMaxBytes = 32 << 10
	MaxMaxBytes     = 256 << 10
	MinMaxBytes     = 4 << 10
)

// The formats of a rendered report.
const (
	Markdown = "markdown"
	JSON     = "json"
)

// list is one list of a report that a size bound may shorten.
type list struct {
	name  string
	n     int
	cut   func(k int)
	sizes func() ([]int, error) // of each item as JSON
}

func listOf[T any](name string, xs *[]T) list {
	return list{name: name, n: len(*xs), cut: func(k int) { *xs = (*xs)[:k] }, sizes: func() ([]int, error) {
		out := make([]int, len(*xs))
		for i, x := range *xs {
			b, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("size of %s %d: %w", name, i, err)
			}
			out[i] = len(b) + 1 // and its comma
		}
		return out, nil
	}}
}

// wrongList names the list that is cut last: the findings are what the report is for.
const wrongList = "what_looks_wrong"

// lists are the report's lists in report order.
func (r *Report) lists() []list {
	return []list{
		listOf("dataplanes", &r.System.Dataplanes),
		listOf("routes", &r.Routes),
		listOf("error_causes", &r.Errors.Causes),
		listOf("slow_endpoints", &r.SlowEndpoints),
		listOf("top_waf_rules", &r.Security.TopRules),
		listOf("top_attackers", &r.Security.TopAttackers),
		listOf("certificates", &r.Certificates),
		listOf("rejected", &r.Config.Rejected),
		listOf("nacks", &r.Config.NACKs),
		listOf("circuit_breakers", &r.Circuits),
		listOf("webhook_failures", &r.WebhookFailures),
		listOf(wrongList, &r.Wrong),
	}
}

// sized is a list measured for one format: the bytes of its heading (shown when an item is),
// of each item, and of the "… N more" line that replaces the items cut.
type sized struct {
	name   string
	header int
	rows   []int
	more   int
}

// fit chooses how many items of each list to keep for the whole to fit in budget bytes, fixed of
// which are taken by what is always shown. It shortens the longest list first (the later one on
// a tie), so that no section disappears while another keeps many items, and the findings last.
func fit(fixed int, lists []sized, budget int) []int {
	kept := make([]int, len(lists))
	total := fixed
	for i, l := range lists {
		kept[i] = len(l.rows)
		if kept[i] > 0 {
			total += l.header
		}
		for _, s := range l.rows {
			total += s
		}
	}
	for total > budget {
		pick := -1
		for i, l := range lists {
			if kept[i] == 0 || l.name == wrongList {
				continue
			}
			if pick < 0 || kept[i] >= kept[pick] {
				pick = i
			}
		}
		if pick < 0 {
			for i, l := range lists {
				if l.name == wrongList && kept[i] > 0 {
					pick = i
				}
			}
		}
		if pick < 0 {
			return kept // only what is always shown is left
		}
		l := lists[pick]
		if kept[pick] == len(l.rows) {
			total += l.more
		}
		kept[pick]--
		total -= l.rows[kept[pick]]
		if kept[pick] == 0 {
			total -= l.header
		}
	}
	return kept
}

// Render renders r in format (Markdown or JSON) within maxBytes (0: DefaultMaxBytes), cutting its
// lists as needed: each cut list says how many items it lost; r itself is not changed. The output
// has gone through the last safety pass: nothing in it parses as an IP address.
func Render(r *Report, format string, maxBytes int) ([]byte, error) {
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	if maxBytes < MinMaxBytes || maxBytes > MaxMaxBytes {
		return nil, fmt.Errorf("max bytes %d is not from %d to %d", maxBytes, MinMaxBytes, MaxMaxBytes)
	}
	var render func(budget int) ([]byte, error)
	switch format {
	case Markdown, "":
		render = func(budget int) ([]byte, error) { return renderMarkdown(r, budget), nil }
	case JSON:
		render = func(budget int) ([]byte, error) { return renderJSON(r, budget) }
	default:
		return nil, fmt.Errorf("format %q is not %s or %s", format, Markdown, JSON)
	}
	// The measures are close but not exact (the masking pass, JSON indentation): measure the
	// result and tighten the budget until it fits.
	budget := maxBytes
	for range 8 {
		out, err := render(budget)
		if err != nil {
			return nil, err
		}
		if len(out) <= maxBytes {
			return out, nil
		}
		budget -= len(out) - maxBytes + 256
	}
	return nil, errors.New("the report does not fit in " + strconv.Itoa(maxBytes) + " bytes")
}

// renderJSON renders a copy of r, its lists cut to fit budget, as indented JSON.
func renderJSON(full *Report, budget int) ([]byte, error) {
	r := full.clone()
	ls := r.lists()
	measured := make([]sized, len(ls))
	for i, l := range ls {
		s, err := l.sizes()
		if err != nil {
			return nil, err
		}
		measured[i] = sized{name: l.name, rows: s, more: len(l.name) + 12}
	}
	empty := r.clone()
	for _, l := range empty.lists() {
		l.cut(0)
	}
	b, err := json.Marshal(empty)
	if err != nil {
		return nil, fmt.Errorf("render json: %w", err)
	}
	kept := fit(len(b)+len(`,"truncated":{}`), measured, budget*3/4) // indentation costs about a third
	for i, l := range ls {
		if kept[i] < l.n {
			if r.Truncated == nil {
				r.Truncated = map[string]int{}
			}
			r.Truncated[l.name] = l.n - kept[i]
			l.cut(kept[i])
		}
	}
	out, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render json: %w", err)
	}
	return []byte(maskIPs(string(append(out, '\n')))), nil
}

// clone copies r deeply enough for its lists to be cut without touching r's.
func (r *Report) clone() *Report {
	c := *r
	c.System.Dataplanes = slices.Clone(r.System.Dataplanes)
	c.Routes = slices.Clone(r.Routes)
	c.Errors.Causes = slices.Clone(r.Errors.Causes)
	c.SlowEndpoints = slices.Clone(r.SlowEndpoints)
	c.Security.TopRules = slices.Clone(r.Security.TopRules)
	c.Security.TopAttackers = slices.Clone(r.Security.TopAttackers)
	c.Certificates = slices.Clone(r.Certificates)
	c.Config.Rejected = slices.Clone(r.Config.Rejected)
	c.Config.NACKs = slices.Clone(r.Config.NACKs)
	c.Circuits = slices.Clone(r.Circuits)
	c.WebhookFailures = slices.Clone(r.WebhookFailures)
	c.Wrong = slices.Clone(r.Wrong)
	c.Truncated = nil
	return &c
}
