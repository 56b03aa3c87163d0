package aicontext

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestFit(t *testing.T) {
	rows := func(n, size int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = size
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		fixed  int
		lists  []sized
		budget int
		want   []int
	}{
		{"everything fits", 10, []sized{{name: "a", header: 5, rows: rows(3, 10)}, {name: wrongList, rows: rows(2, 10)}}, 100,
			[]int{3, 2}},
		{"the longest list is cut first", 0, []sized{{name: "a", rows: rows(10, 10)}, {name: "b", rows: rows(2, 10)},
			{name: wrongList, rows: rows(2, 10)}}, 80, []int{4, 2, 2}},
		{"the findings are cut last", 0, []sized{{name: "a", header: 5, rows: rows(3, 10), more: 5}, {name: wrongList, rows: rows(3, 10), more: 5}},
			30, []int{0, 2}},
		{"only the fixed part is left", 100, []sized{{name: "a", rows: rows(3, 10)}}, 50, []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fit(tc.fixed, tc.lists, tc.budget); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("fit = %v, want %v", got, tc.want)
			}
		})
	}
}

// big is a report far over any bound: thousands of routes and causes, and many findings.
func big() *Report {
	r := &Report{GeneratedAt: "2026-11-22T10:30:00Z"}
	for i := range 3000 {
		r.Routes = append(r.Routes, Route{ID: fmt.Sprintf("route-%04d.example.org/", i), Site: "s", Backend: "http://b:80",
			Health: "healthy", Circuit: "closed", Requests: 100})
	}
	for i := range 500 {
		r.Errors.Causes = append(r.Errors.Causes, Cause{Status: 502, Message: fmt.Sprintf("error %d from 10.0.%d.%d", i, i/250, i%250),
			Count: 1, Routes: []string{"a"}, RequestIDs: []string{"id"}})
	}
	for i := range 40 {
		r.Wrong = append(r.Wrong, Finding{Rule: "route_down", Subject: fmt.Sprintf("route-%04d", i), Detail: "health checks fail"})
	}
	return r
}

func TestRenderBounded(t *testing.T) {
	for _, format := range []string{Markdown, JSON} {
		for _, max := range []int{0, MinMaxBytes, 100 << 10, MaxMaxBytes} {
			r := big()
			before := len(r.Routes)
			out, err := Render(r, format, max)
			if err != nil {
				t.Fatalf("%s %d: %v", format, max, err)
			}
			limit := max
			if limit == 0 {
				limit = DefaultMaxBytes
			}
			if len(out) > limit {
				t.Errorf("%s report of %d bytes for a bound of %d", format, len(out), limit)
			}
			if len(r.Routes) != before {
				t.Errorf("Render changed the report")
			}
			if strings.Contains(string(out), "10.0.0.1 ") {
				t.Errorf("%s: an address escaped the masking", format)
			}
			if format == JSON {
				var got Report
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("JSON of %d: %v", max, err)
				}
				if got.Truncated["routes"] == 0 || len(got.Routes)+got.Truncated["routes"] != 3000 {
					t.Errorf("JSON of %d: %d routes, %d cut", max, len(got.Routes), got.Truncated["routes"])
				}
				if max >= 100<<10 && len(got.Wrong) != 40 {
					t.Errorf("JSON of %d: %d findings survived, want 40", max, len(got.Wrong))
				}
				continue
			}
			s := string(out)
			if !strings.Contains(s, " more (left out to keep the report short") {
				t.Errorf("markdown of %d: no '… N more' line", max)
			}
			if max != MinMaxBytes && strings.Count(s, "- **route_down**") != 40 {
				t.Errorf("markdown of %d: %d findings survived, want 40", max, strings.Count(s, "- **route_down**"))
			}
			if strings.Index(s, "## What looks wrong") < 0 {
				t.Errorf("markdown of %d lost its findings section", max)
			}
		}
	}
}

func TestRenderRefuses(t *testing.T) {
	for _, tc := range []struct {
		format string
		max    int
	}{{"html", 0}, {Markdown, MinMaxBytes - 1}, {JSON, MaxMaxBytes + 1}, {Markdown, -5}} {
		if _, err := Render(big(), tc.format, tc.max); err == nil {
			t.Errorf("Render(%q, %d) accepted", tc.format, tc.max)
		}
	}
}

// BenchmarkRender renders a report far over the default bound: the cost of cutting it to size.
func BenchmarkRender(b *testing.B) {
	r := big()
	for _, format := range []string{Markdown, JSON} {
		b.Run(format, func(b *testing.B) {
			for b.Loop() {
				if _, err := Render(r, format, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
