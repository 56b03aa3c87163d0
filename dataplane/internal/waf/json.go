package waf

import (
	"unicode/utf16"
	"unicode/utf8"
)

// jsonFields inspects the keys and string values of a JSON document; a value is named by its
// innermost key. A truncated or malformed document is inspected up to where it breaks.
func jsonFields(rules ruleSet, fields []exclusion, data []byte) Match {
	var m Match
	jsonStrings(string(data), func(key bool, name, s string) bool {
		if key {
			m = check(rulesFor(rules, fields, s), LocBodyName, s, s, false)
		} else {
			m = check(rulesFor(rules, fields, name), LocBody, name, s, false)
		}
		return m.Found()
	})
	return m
}

// States of jsonStrings, those of encoding/json's Decoder.Token.
const (
	jsonTop = iota
	jsonArrayStart
	jsonArrayValue
	jsonArrayComma
	jsonObjectStart
	jsonObjectKey
	jsonObjectColon
	jsonObjectValue
	jsonObjectComma
)

// jsonStrings calls emit with each key (key true, name the key) and each string value (name
// its innermost key) of doc, in order, until emit returns true. It reads doc as
// encoding/json's Decoder.Token does, token for token: a stream of values, and it stops
// where Token would first fail, having emitted the same strings, decoded the same way (escapes,
// surrogate pairs, invalid UTF-8 as U+FFFD). It allocates only for strings with escapes or
// invalid UTF-8; FuzzJSONStrings compares it with encoding/json.
func jsonStrings(doc string, emit func(key bool, name, s string) bool) {
	type frame struct {
		state int // the state to go back to after the value
		name  string
	}
	var stackBuf [16]frame
	stack := append(stackBuf[:0], frame{})
	state := jsonTop
	valueAllowed := func() bool {
		return state == jsonTop || state == jsonArrayStart || state == jsonArrayValue || state == jsonObjectValue
	}
	valueEnd := func() {
		switch state {
		case jsonArrayStart, jsonArrayValue:
			state = jsonArrayComma
		case jsonObjectValue:
			state = jsonObjectComma
		}
	}
	for i := 0; ; {
		for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\r' || doc[i] == '\n') {
			i++
		}
		if i == len(doc) {
			return
		}
		switch c := doc[i]; {
		case c == '{' || c == '[':
			if !valueAllowed() {
				return
			}
			i++
			stack = append(stack, frame{state: state, name: stack[len(stack)-1].name})
			state = jsonObjectStart
			if c == '[' {
				state = jsonArrayStart
			}
		case c == '}' || c == ']':
			if c == '}' && state != jsonObjectStart && state != jsonObjectComma ||
				c == ']' && state != jsonArrayStart && state != jsonArrayComma {
				return
			}
			i++
			state = stack[len(stack)-1].state
			stack = stack[:len(stack)-1]
			valueEnd()
		case c == ':':
			if state != jsonObjectColon {
				return
			}
			i++
			state = jsonObjectValue
		case c == ',':
			switch state {
			case jsonArrayComma:
				state = jsonArrayValue
			case jsonObjectComma:
				state = jsonObjectKey
			default:
				return
			}
			i++
		case c == '"' && (state == jsonObjectStart || state == jsonObjectKey):
			s, n := jsonString(doc[i:])
			if n < 0 {
				return
			}
			i += n
			state = jsonObjectColon
			stack[len(stack)-1].name = s
			if emit(true, s, s) {
				return
			}
		default:
			if !valueAllowed() {
				return
			}
			if c == '"' {
				s, n := jsonString(doc[i:])
				if n < 0 {
					return
				}
				i += n
				if emit(false, stack[len(stack)-1].name, s) {
					return
				}
			} else {
				n := jsonScalar(doc[i:])
				if n < 0 {
					return
				}
				i += n
			}
			valueEnd()
		}
	}
}

// jsonScalar returns the length of the number or literal (true, false, null) at the start of
// s, or -1 if it is malformed, by encoding/json's scanner (which ends a number at the first
// byte that cannot continue it).
func jsonScalar(s string) int {
	for _, lit := range [...]string{"true", "false", "null"} {
		if s[0] == lit[0] {
			if len(s) < len(lit) || s[:len(lit)] != lit {
				return -1
			}
			return len(lit)
		}
	}
	i := 0
	digits := func() int {
		n := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		digits()
	default:
		return -1
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return -1
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return -1
		}
	}
	return i
}

// jsonString reads the string at the start of s (s[0] is '"') and returns its value and its
// length with the quotes, or -1 if it is malformed or unterminated.
func jsonString(s string) (string, int) {
	plain := true // no escapes, valid UTF-8: the value is the bytes between the quotes
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			if plain && utf8.ValidString(s[1:i]) {
				return s[1:i], i + 1
			}
			return unquoteJSON(s[1:i]), i + 1
		case c < 0x20:
			return "", -1
		case c == '\\':
			plain = false
			i++
			if i == len(s) {
				return "", -1
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, ok := hexRune(s, i+1, 4); !ok {
					return "", -1
				}
				i += 4
			default:
				return "", -1
			}
		}
	}
	return "", -1
}

// unquoteJSON decodes the escapes of a well-formed string's content as encoding/json does:
// an unpaired surrogate and each byte of invalid UTF-8 become U+FFFD.
func unquoteJSON(s string) string {
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'u':
				r, _ := hexRune(s, i+2, 4)
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if v, ok := hexRune(s, i+2, 4); ok {
							r2 = v
						}
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						b = utf8.AppendRune(b, d)
						i += 6
						continue
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
				continue
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			default: // " \ /
				b = append(b, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			b = utf8.AppendRune(b, r)
			i += size
		}
	}
	return string(b)
}
