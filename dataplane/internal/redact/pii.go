package redact

import "strings"

// Placeholders that take the place of what mask_pii removes from a stored path.
const (
	Email = ":email"
	Token = ":token"
)

// Character classes of the masker, one table lookup per byte.
const (
	word  = 1 << iota // may be part of a word: not a delimiter (see MaskPath)
	run               // may be part of a token run: A-Z a-z 0-9 _ - .
	alnum             // A-Z a-z 0-9
	digit             // 0-9
	hex               // 0-9 a-f A-F
)

// class is read-only after init.
var class = func() (c [256]uint8) {
	for b := range 256 {
		switch {
		case b >= 0x80:
			c[b] = word // a byte of a UTF-8 sequence
		case b >= '0' && b <= '9':
			c[b] = word | run | alnum | digit | hex
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z':
			c[b] = word | run | alnum
			if b|0x20 <= 'f' {
				c[b] |= hex
			}
		case b == '_' || b == '-' || b == '.':
			c[b] = word | run
		case strings.IndexByte("!$%'*+^`{|}~@", byte(b)) >= 0:
			c[b] = word // the rest of what RFC 5322 allows in a local part
		}
	}
	return c
}()

// MaskPath removes e-mail addresses and tokens from a path (mask_pii). The path is cut into
// words at delimiters: every ASCII byte other than letters, digits and .-_!$%'*+^`{|}~@
// (so '/', ';', ',', ':', '=', '&', '?', spaces and brackets cut words; bytes of UTF-8
// sequences do not).
//
//   - A word with an '@', or its encoding "%40", that has at least one byte before and after
//     it within the word is an e-mail address: the whole word becomes ":email".
//   - In other words, each maximal run of [A-Za-z0-9_.-] of at least 16 bytes is checked. A run
//     that starts with "eyJ" (base64url of `{"`) and has at least two dots, its first two parts
//     non-empty, is a JWT: the whole run becomes ":token". Otherwise each dot-separated part of
//     the run becomes ":token" when it is
//     (a) 16 or more hex digits (reset and confirmation tokens, hashes),
//     (b) a UUID (8-4-4-4-12 hex digits), or
//     (c) 20 or more characters of [A-Za-z0-9_-] with a piece of at least 8 letters and
//     digits, mixing both, between its '-' and '_' (random identifiers and API keys; a
//     slug such as "how-to-install-minecraft-1-20" has none).
//
// /api/v1/servers/551414f2 (8 hex digits) and ordinary words stay. MaskPath is idempotent, and
// valid UTF-8 stays valid (replacements are at ASCII boundaries). It allocates only when it
// replaces something.
func MaskPath(p string) string { return mask(p, true) }

// MaskEmails is MaskPath for e-mail addresses only, for text other than a path (a user agent
// such as "Bot/1.0 (+mailto:bot@example.org)").
func MaskEmails(s string) string { return mask(s, false) }

func mask(s string, tokens bool) string {
	var b strings.Builder // written from the first replacement on
	last := 0             // s[:last] is in b
	replace := func(i, j int, with string) {
		if b.Cap() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:i])
		b.WriteString(with)
		last = j
	}
	for i := 0; i < len(s); {
		if class[s[i]]&word == 0 {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && class[s[j]]&word != 0 {
			j++
		}
		switch {
		case isEmail(s[i:j]):
			replace(i, j, Email)
		case tokens && j-i >= minToken:
			maskTokens(s, i, j, replace)
		}
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// isEmail reports whether w has an '@' or "%40" with a byte of w before and after it.
func isEmail(w string) bool {
	for k := 1; k < len(w)-1; k++ {
		switch w[k] {
		case '@':
			return true
		case '%':
			if k+3 < len(w) && w[k+1] == '4' && w[k+2] == '0' {
				return true
			}
		}
	}
	return false
}

// maskTokens replaces the tokens in the runs of [A-Za-z0-9_.-] of the word s[i:j].
func maskTokens(s string, i, j int, replace func(i, j int, with string)) {
	for a := i; a < j; {
		if class[s[a]]&run == 0 {
			a++
			continue
		}
		e := a + 1
		for e < j && class[s[e]]&run != 0 {
			e++
		}
		if isJWT(s[a:e]) {
			replace(a, e, Token)
		} else {
			for p := a; p < e; {
				q := p
				for q < e && s[q] != '.' {
					q++
				}
				if isToken(s[p:q]) {
					replace(p, q, Token)
				}
				p = q + 1
			}
		}
		a = e
	}
}

// minToken is the length of the shortest token: no shorter word is looked at for tokens.
const minToken = 16

// isJWT reports whether r (a run) is "eyJ…" with at least two dots and non-empty first two parts.
func isJWT(r string) bool {
	if len(r) < minToken || !strings.HasPrefix(r, "eyJ") {
		return false
	}
	d1 := strings.IndexByte(r, '.')
	if d1 < 0 {
		return false
	}
	d2 := strings.IndexByte(r[d1+1:], '.')
	return d2 > 0 // the second part is r[d1+1 : d1+1+d2]
}

// isToken reports whether p, a part of a run without dots, is a token by rule (a), (b) or (c)
// of MaskPath.
func isToken(p string) bool {
	if len(p) < minToken {
		return false
	}
	allHex := true
	for k := range len(p) {
		if class[p[k]]&hex == 0 {
			allHex = false
			break
		}
	}
	if allHex || isUUID(p) {
		return true
	}
	if len(p) < 20 {
		return false
	}
	for k := 0; k < len(p); {
		if class[p[k]]&alnum == 0 {
			k++
			continue
		}
		e, letters, digits := k, false, false
		for ; e < len(p) && class[p[e]]&alnum != 0; e++ {
			if class[p[e]]&digit != 0 {
				digits = true
			} else {
				letters = true
			}
		}
		if e-k >= 8 && letters && digits {
			return true
		}
		k = e
	}
	return false
}

// isUUID reports whether p is 8-4-4-4-12 hex digits.
func isUUID(p string) bool {
	if len(p) != 36 {
		return false
	}
	for k := range len(p) {
		if k == 8 || k == 13 || k == 18 || k == 23 {
			if p[k] != '-' {
				return false
			}
		} else if class[p[k]]&hex == 0 {
			return false
		}
	}
	return true
}
