package waf

import (
	"regexp"
	"strings"
)

// gated is a regular expression that runs only on values containing one of its literal
// triggers: a substring test is far cheaper than the regexp engine, and keeps ordinary values
// (a browser's User-Agent, a sentence) away from it.
type gated struct {
	triggers []string
	re       *regexp.Regexp
}

func gate(expr string, triggers ...string) gated {
	return gated{triggers: triggers, re: regexp.MustCompile(expr)}
}

func (g gated) find(v string) string {
	for _, t := range g.triggers {
		if strings.Contains(v, t) {
			return g.re.FindString(v)
		}
	}
	return ""
}

// gates are tried in order; the first match wins.
type gates []gated

func (gs gates) find(v string) string {
	for _, g := range gs {
		if m := g.find(v); m != "" {
			return m
		}
	}
	return ""
}
