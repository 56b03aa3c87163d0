package errorpage

import (
	"fmt"
	"html/template"
	"sort"
	"sync/atomic"

	"github.com/proxy-manager/proxy-manager/pkg/pagetemplate"
)

// Templates are the configured error pages of one scope (a route's, or the snapshot's global
// ones), compiled once per snapshot. A nil *Templates has no page.
type Templates struct {
	scope string  // "global" or the route id, for the log
	pages []entry // by status, ascending: a handful, searched in order
}

type entry struct {
	status int
	t      *template.Template
	// logged is set by the first execution failure, so that a page failing on every request
	// is logged once per snapshot, not once per request.
	logged atomic.Bool
}

// Cache shares the compiled templates of one snapshot between its routes: global defaults
// give every route the same pages, which are compiled once. A nil Cache compiles every time.
type Cache map[cacheKey]*template.Template

// cacheKey is a source and the status it was checked for.
type cacheKey struct {
	status int
	src    string
}

// Compile parses the templates of one scope (status → html/template source, as the snapshot
// carries them) and runs each once with sample data: a template the data plane cannot run is
// an error, and the snapshot is refused. scope names them in errors and logs; cache may be nil.
// No source gives nil.
func Compile(scope string, sources map[int32]string, cache Cache) (*Templates, error) {
	if len(sources) == 0 {
		return nil, nil
	}
	ts := &Templates{scope: scope, pages: make([]entry, 0, len(sources))}
	codes := make([]int, 0, len(sources))
	for code := range sources {
		codes = append(codes, int(code))
	}
	sort.Ints(codes)
	for _, code := range codes {
		if code < 400 || code > 599 {
			return nil, fmt.Errorf("error_pages: status %d has no error page (want 400-599)", code)
		}
		key := cacheKey{code, sources[int32(code)]}
		t := cache[key]
		if t == nil {
			var err error
			if t, err = pagetemplate.Compile(fmt.Sprintf("error page %d", code), key.src, code); err != nil {
				return nil, fmt.Errorf("error_pages: %d: %w", code, err)
			}
			if cache != nil {
				cache[key] = t
			}
		}
		ts.pages = append(ts.pages, entry{status: code, t: t})
	}
	return ts, nil
}

// Len is the number of pages.
func (ts *Templates) Len() int {
	if ts == nil {
		return 0
	}
	return len(ts.pages)
}

// find returns the page for status, nil when there is none.
func (ts *Templates) find(status int) *entry {
	if ts == nil {
		return nil
	}
	for i := range ts.pages {
		if ts.pages[i].status == status {
			return &ts.pages[i]
		}
	}
	return nil
}
