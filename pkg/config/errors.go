package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem found in a configuration file, with the place it was found.
// Line and Column are 1-based; they are 0 only for problems that concern a whole file
// (it cannot be read, for example). Column alone is 0 when only the line is known (a
// template's parse error).
type Error struct {
	File   string
	Line   int
	Column int
	Msg    string
}

// Error formats the problem as "file:line:col: msg" (or "file: msg" without a position), the
// form editors and CI logs turn into links.
func (e Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	if e.Column == 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// ErrorList is every problem found in one load, sorted by file, then line, then column.
// A load reports all of them at once, so that an administrator fixes a file in one go.
// errors.As(err, &e) with e a config.Error finds the first of them.
type ErrorList []Error

// Error joins the problems, one per line.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap gives the single errors to errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// errorSink collects the errors of one load.
type errorSink struct {
	list ErrorList
}

func (s *errorSink) add(e Error) { s.list = append(s.list, e) }

// err sorts the collected errors, keeps the first error reported at each position (a value
// shared by several routes is checked once per route, but wrong only once) and returns nil
// when there is none.
func (s *errorSink) err() error {
	if len(s.list) == 0 {
		return nil
	}
	sort.SliceStable(s.list, func(i, j int) bool {
		a, b := s.list[i], s.list[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	out := s.list[:0:0]
	for i, e := range s.list {
		if i > 0 {
			p := s.list[i-1]
			if p.File == e.File && p.Line == e.Line && p.Column == e.Column &&
				(e.Line != 0 || p.Msg == e.Msg) {
				continue
			}
		}
		out = append(out, e)
	}
	s.list = out
	return out
}
