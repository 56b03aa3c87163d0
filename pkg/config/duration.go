package config

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Day is the unit "d" of ParseDuration: 24 hours (calendar days with a daylight-saving
// change are not special; retention and bans do not need them to be).
const Day = 24 * time.Hour

var durationUnits = map[string]uint64{
	"ns": uint64(time.Nanosecond),
	"us": uint64(time.Microsecond),
	"µs": uint64(time.Microsecond), // U+00B5 micro sign
	"μs": uint64(time.Microsecond), // U+03BC Greek mu
	"ms": uint64(time.Millisecond),
	"s":  uint64(time.Second),
	"m":  uint64(time.Minute),
	"h":  uint64(time.Hour),
	"d":  uint64(Day),
}

var errDurationOverflow = errors.New("duration is too long")

// ParseDuration parses a duration as written in the configuration:
//   - a whole number of seconds: "300" (YAML integers, as in `ban_duration: 3600`, come here
//     as their text);
//   - Go's syntax extended by the unit d (24h): "30s", "100ms", "1h30m", "7d", "2d12h",
//     "1.5h". Units are ns, us (µs), ms, s, m, h and d.
//
// Negative durations are refused: nothing in the configuration is negative.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("duration %q must not be negative", orig)
	}
	if s[0] == '+' {
		s = s[1:]
	}
	if isDigits(s) {
		n, rest, err := leadingInt(s)
		if err != nil || rest != "" || n > uint64(math.MaxInt64)/uint64(time.Second) {
			return 0, fmt.Errorf("duration %q is too long", orig)
		}
		return time.Duration(n) * time.Second, nil
	}
	var total uint64
	for s != "" {
		if s[0] != '.' && (s[0] < '0' || s[0] > '9') {
			return 0, fmt.Errorf("invalid duration %q: expected a number at %q", orig, s)
		}
		var whole uint64
		var err error
		pl := len(s)
		whole, s, err = leadingInt(s)
		if err != nil {
			return 0, fmt.Errorf("duration %q is too long", orig)
		}
		pre := pl != len(s)
		var frac uint64
		scale := 1.0
		post := false
		if s != "" && s[0] == '.' {
			s = s[1:]
			pl := len(s)
			frac, scale, s = leadingFraction(s)
			post = pl != len(s)
		}
		if !pre && !post {
			return 0, fmt.Errorf("invalid duration %q: expected a number", orig)
		}
		i := 0
		for i < len(s) && s[i] != '.' && (s[i] < '0' || s[i] > '9') {
			i++
		}
		u := s[:i]
		s = s[i:]
		if u == "" {
			return 0, fmt.Errorf("invalid duration %q: missing unit (ns, us, ms, s, m, h or d) after a number", orig)
		}
		unit, ok := durationUnits[u]
		if !ok {
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q (want ns, us, ms, s, m, h or d)", orig, strings.TrimSpace(u))
		}
		if whole > uint64(math.MaxInt64)/unit {
			return 0, fmt.Errorf("duration %q is too long", orig)
		}
		v := whole * unit
		if frac > 0 {
			v += uint64(float64(frac) * (float64(unit) / scale))
		}
		total += v
		if total > uint64(math.MaxInt64) || v > uint64(math.MaxInt64) {
			return 0, fmt.Errorf("duration %q is too long", orig)
		}
	}
	return time.Duration(total), nil
}

// FormatDuration writes d the way ParseDuration reads it, with whole days and without zero
// units: 7d, 2d12h, 1m30s, 5m, 100ms.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return d.String()
	}
	days, rest := d/Day, d%Day
	s := ""
	if days > 0 {
		s = fmt.Sprintf("%dd", days)
	}
	if rest == 0 {
		return s
	}
	r := rest.String()
	if strings.HasSuffix(r, "m0s") {
		r = strings.TrimSuffix(r, "0s")
	}
	if strings.HasSuffix(r, "h0m") {
		r = strings.TrimSuffix(r, "0m")
	}
	return s + r
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// leadingInt consumes the leading digits of s.
func leadingInt(s string) (x uint64, rest string, err error) {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			break
		}
		if x > (math.MaxUint64-9)/10 {
			return 0, "", errDurationOverflow
		}
		x = x*10 + uint64(c-'0')
	}
	return x, s[i:], nil
}

// leadingFraction consumes the leading digits of s as a fraction: the value is x/scale.
// Digits beyond what fits are dropped (they are below a nanosecond anyway).
func leadingFraction(s string) (x uint64, scale float64, rest string) {
	i := 0
	scale = 1
	overflow := false
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			break
		}
		if overflow {
			continue
		}
		if x > (math.MaxInt64-1)/10 {
			overflow = true
			continue
		}
		x = x*10 + uint64(c-'0')
		scale *= 10
	}
	return x, scale, s[i:]
}
