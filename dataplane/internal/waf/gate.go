package waf

import (
	"regexp"
	"strings"
)

// text is a value with the set of the bytes and (hashed) byte pairs it contains. A literal
// with a byte or a pair the value lacks cannot occur in it, so a list of literals is mostly
// ruled out by a few bit tests instead of one scan of the value each; a literal that passes
// them is confirmed with strings.Contains, so the answer is exactly strings.Contains'.
type text struct {
	s     string
	bytes [4]uint64
	pairs [pairBits / 64]uint64
}

const pairBits = 1024

func pairHash(a, b byte) uint16 {
	return uint16((uint32(a)*0x9E3779B1 ^ uint32(b)*0x85EBCA77) >> (32 - 10))
}

func (t *text) reset(s string) {
	t.s, t.bytes, t.pairs = s, [4]uint64{}, [pairBits / 64]uint64{}
	for i := 0; i < len(s); i++ {
		c := s[i]
		t.bytes[c>>6] |= 1 << (c & 63)
		if i+1 < len(s) {
			h := pairHash(c, s[i+1])
			t.pairs[h>>6] |= 1 << (h & 63)
		}
	}
}

// derive returns the text of s: t when it holds s already, else tmp reset to s.
func (t *text) derive(s string, tmp *text) *text {
	if s == t.s {
		return t
	}
	tmp.reset(s)
	return tmp
}

func (t *text) hasByte(c byte) bool { return t.bytes[c>>6]&(1<<(c&63)) != 0 }

// literal is a string with the hashes of its byte pairs.
type literal struct {
	s     string
	pairs []uint16
}

func newLiteral(s string) literal {
	l := literal{s: s}
	for i := 0; i+1 < len(s); i++ {
		l.pairs = append(l.pairs, pairHash(s[i], s[i+1]))
	}
	return l
}

// contains is strings.Contains(t.s, l.s).
func (t *text) contains(l *literal) bool {
	if len(l.s) <= 1 {
		return len(l.s) == 0 || t.hasByte(l.s[0])
	}
	for _, h := range l.pairs {
		if t.pairs[h>>6]&(1<<(h&63)) == 0 {
			return false
		}
	}
	return strings.Contains(t.s, l.s)
}

// lits is a list of literals, tried in order.
type lits []literal

func newLits(words ...string) lits {
	ls := make(lits, len(words))
	for i, w := range words {
		ls[i] = newLiteral(w)
	}
	return ls
}

// may is a first, inlined test of contains: whether t has the literal's first byte pair.
func (t *text) may(l *literal) bool {
	if len(l.pairs) == 0 {
		return true
	}
	h := l.pairs[0]
	return t.pairs[h>>6]&(1<<(h&63)) != 0
}

// first returns the first literal of ls that occurs in t, or "".
func (t *text) first(ls lits) string {
	for i := range ls {
		if t.may(&ls[i]) && t.contains(&ls[i]) {
			return ls[i].s
		}
	}
	return ""
}

// any reports whether a literal of ls occurs in t.
func (t *text) any(ls lits) bool {
	for i := range ls {
		if t.may(&ls[i]) && t.contains(&ls[i]) {
			return true
		}
	}
	return false
}

// gated is a regular expression that runs only on values containing one of its literal
// triggers: a substring test is far cheaper than the regexp engine, and keeps ordinary values
// (a browser's User-Agent, a sentence) away from it.
type gated struct {
	triggers lits
	needs    string // bytes every match of re contains
	re       *regexp.Regexp
}

func gate(expr string, triggers ...string) gated {
	return gated{triggers: newLits(triggers...), re: regexp.MustCompile(expr)}
}

// gateNeeding is gate for an expression whose every match contains each byte of needs: a
// value without one of them is not given to the regexp engine.
func gateNeeding(needs, expr string, triggers ...string) gated {
	g := gate(expr, triggers...)
	g.needs = needs
	return g
}

func (g *gated) find(t *text) string {
	for i := 0; i < len(g.needs); i++ {
		if !t.hasByte(g.needs[i]) {
			return ""
		}
	}
	if t.any(g.triggers) {
		return g.re.FindString(t.s)
	}
	return ""
}

// gates are tried in order; the first match wins.
type gates []gated

func (gs gates) find(t *text) string {
	for i := range gs {
		if m := gs[i].find(t); m != "" {
			return m
		}
	}
	return ""
}
