package waf

import (
	"html"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxRounds bounds the decoding: a value encoded more times than this (%25252e...) is inspected
// as it stands after maxRounds decodings, which still shows the leftover escapes.
const maxRounds = 4

// Normalize is the form of a value the detectors see: decoded as a server, an interpreter or a
// browser down the line may decode it, so that an encoding does not hide an attack.
//
// One round is: percent escapes (%2e, %u002e; '+' is a space in the first round of a query or
// form value), overlong UTF-8 (%c0%ae is '.'), HTML character references (&lt; &#x3c;),
// backslash escapes (\u003c \x3c), Unicode compatibility forms (fullwidth ．, circled Ⓐ, the
// division slash ∕), NUL bytes removed, ASCII letters lowered. Rounds repeat until the value
// stops changing (double and triple encodings), at most maxRounds times.
//
// The result is never longer than 2*len(s)+16 bytes, whatever the input.
func Normalize(s string, plus bool) string {
	out, _ := normalize(s, plus)
	return out
}

// normalize is Normalize that also says whether the value reached a fixed point (so that
// normalising it again changes nothing).
func normalize(s string, plus bool) (string, bool) {
	budget := 2*len(s) + 16
	for round := range maxRounds {
		t := percentDecode(s, plus && round == 0)
		t = overlong(t)
		t = entities(t)
		t = backslashEscapes(t)
		t = fold(t, budget)
		if t == s {
			return s, true
		}
		s = t
	}
	return s, false
}

// decodeOnce is a value as the application reads it: percent escapes decoded once, then
// overlong UTF-8 and Unicode forms folded and letters lowered.
func decodeOnce(s string, plus bool) string {
	return fold(overlong(percentDecode(s, plus)), 2*len(s)+16)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// hexRune reads n hex digits at s[i:].
func hexRune(s string, i, n int) (rune, bool) {
	if i+n > len(s) {
		return 0, false
	}
	var r rune
	for j := i; j < i+n; j++ {
		d, ok := unhex(s[j])
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// percentDecode decodes %XX and %uXXXX (IIS) escapes, leaving malformed ones as they are.
func percentDecode(s string, plus bool) string {
	if strings.IndexByte(s, '%') < 0 && (!plus || strings.IndexByte(s, '+') < 0) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+' && plus:
			b = append(b, ' ')
		case c != '%':
			b = append(b, c)
		case i+5 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U'):
			if r, ok := hexRune(s, i+2, 4); ok {
				b = utf8.AppendRune(b, r)
				i += 5
			} else {
				b = append(b, c)
			}
		default:
			if r, ok := hexRune(s, i+1, 2); ok {
				b = append(b, byte(r))
				i += 2
			} else {
				b = append(b, c)
			}
		}
	}
	return string(b)
}

func isCont(c byte) bool { return c&0xC0 == 0x80 }

// overlong replaces overlong UTF-8 encodings of ASCII characters (%c0%ae, %e0%80%af,
// %f0%80%80%ae and the 5- and 6-byte forms) by the character, and drops the bytes 0xC0 and
// 0xC1 where they start nothing: they never occur in valid UTF-8, and lenient decoders skip
// them (%c0%2e%c0%2e is "..").
func overlong(s string) string {
	i := 0
	for i < len(s) && s[i] < 0xC0 {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for i < len(s) {
		c := s[i]
		n := 0 // continuation bytes of a lead byte that may be overlong
		switch {
		case c == 0xC0 || c == 0xC1:
			n = 1
		case c == 0xE0:
			n = 2
		case c == 0xF0:
			n = 3
		case c >= 0xF8 && c <= 0xFB:
			n = 4
		case c == 0xFC || c == 0xFD:
			n = 5
		}
		if n == 0 {
			b = append(b, c)
			i++
			continue
		}
		cp, ok := rune(c)&(0x7F>>(n+1)), i+n < len(s)
		for j := 1; ok && j <= n; j++ {
			if !isCont(s[i+j]) {
				ok = false
				break
			}
			cp = cp<<6 | rune(s[i+j]&0x3F)
		}
		switch {
		case ok && cp < 0x80:
			b = append(b, byte(cp))
			i += n + 1
		case c == 0xC0 || c == 0xC1:
			i++ // a stray lead byte: skipped
		default:
			b = append(b, c)
			i++
		}
	}
	return string(b)
}

// entities decodes HTML character references, named and numeric.
func entities(s string) string {
	if strings.IndexByte(s, '&') < 0 {
		return s
	}
	return html.UnescapeString(s)
}

// backslashEscapes decodes \uXXXX, \xXX, \n, \r and \t, as JavaScript, JSON and many
// languages read them.
func backslashEscapes(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'u', 'U':
				if r, ok := hexRune(s, i+2, 4); ok {
					b = utf8.AppendRune(b, r)
					i += 5
					continue
				}
			case 'x', 'X':
				if r, ok := hexRune(s, i+2, 2); ok {
					b = append(b, byte(r))
					i += 3
					continue
				}
			case 'n':
				b = append(b, '\n')
				i++
				continue
			case 'r':
				b = append(b, '\r')
				i++
				continue
			case 't':
				b = append(b, '\t')
				i++
				continue
			}
		}
		b = append(b, c)
	}
	return string(b)
}

// lookalikes are characters that NFKC keeps but that path and shell parsers have been fooled
// by: slashes, backslashes and dots of other scripts.
var lookalikes = strings.NewReplacer(
	"\u2215", "/", "\u2044", "/", "\u29f8", "/", // division slash, fraction slash, big solidus
	"\u2216", "\\", "\u29f9", "\\", // set minus, big reverse solidus
	"\u2024", ".", // one dot leader
)

// fold applies Unicode compatibility folding (when the value is not ASCII and the result stays
// within budget), removes NUL bytes and lowers ASCII letters.
func fold(s string, budget int) string {
	ascii, upper, nul := true, false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf:
			ascii = false
		case 'A' <= c && c <= 'Z':
			upper = true
		case c == 0:
			nul = true
		}
	}
	if !ascii && utf8.ValidString(s) {
		if t := lookalikes.Replace(norm.NFKC.String(s)); len(t) <= budget {
			s = t
			upper = true // NFKC may have produced capitals
			nul = nul || strings.IndexByte(s, 0) >= 0
		}
	}
	if !upper && !nul {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0:
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}
