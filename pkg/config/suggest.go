package config

import "strings"

// suggest returns the candidate closest to word, or "" when none is close enough to be what
// the writer meant. Case, '-' and '_' are ignored first (so "rate-limit" and "RateLimit" find
// "rate_limit"); otherwise the Levenshtein distance must be at most a third of the word's
// length, and at least 1 edit is always allowed ("timeout" → "timeouts"); failing that, a
// word of 3 characters or more that begins exactly one candidate is taken as an abbreviation.
func suggest(word string, candidates []string) string {
	norm := func(s string) string {
		s = strings.ToLower(s)
		return strings.NewReplacer("_", "", "-", "", " ", "").Replace(s)
	}
	nw := norm(word)
	best, bestDist := "", -1
	for _, c := range candidates {
		if c == word {
			continue
		}
		if norm(c) == nw {
			return c
		}
		d := levenshtein(nw, norm(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := max(1, len(word)/3)
	if bestDist >= 0 && bestDist <= limit {
		return best
	}
	// An abbreviation: "expo" for "exponential", "max_req" for "max_request_body".
	var prefixed []string
	for _, c := range candidates {
		if len(nw) >= 3 && strings.HasPrefix(norm(c), nw) {
			prefixed = append(prefixed, c)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	return ""
}

// didYouMean formats a suggestion as a message suffix.
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return `; did you mean "` + s + `"?`
	}
	return ""
}

// levenshtein is the number of single-byte insertions, deletions and substitutions that
// turn a into b.
func levenshtein(a, b string) int {
	if len(a) > 256 || len(b) > 256 {
		// Keys and enum values are short; a huge unknown key is not a typo of any of them.
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
