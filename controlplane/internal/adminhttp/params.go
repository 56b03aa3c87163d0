package adminhttp

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/proxy-manager/proxy-manager/pkg/config"
)

// badParam is a 400 answer naming the parameter.
type badParam struct{ msg string }

func (e badParam) Error() string { return e.msg }

func paramErr(name, value, want string) error {
	return badParam{fmt.Sprintf("%s %q: want %s", name, value, want)}
}

// timeParam reads a point in time: RFC 3339, unix seconds, or a duration before now ("15m",
// "24h", "7d"). Missing gives the zero time.
func timeParam(v url.Values, name string, now time.Time) (time.Time, error) {
	s := v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return time.Unix(n, 0).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if d, err := config.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, paramErr(name, s, "an RFC 3339 time (2026-11-22T08:00:00Z), unix seconds, or a duration before now (15m, 24h, 7d)")
}

// durationParam reads a positive duration ("30m", "24h", "7d"), def when missing, at most max.
func durationParam(v url.Values, name string, def, max time.Duration) (time.Duration, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	d, err := config.ParseDuration(s)
	if err != nil || d <= 0 || d > max {
		return 0, paramErr(name, s, "a positive duration (30m, 24h, 7d) of at most "+config.FormatDuration(max))
	}
	return d, nil
}

// limitParam reads a positive count, def when missing; a larger one than max is lowered to max.
func limitParam(v url.Values, def, max int) (int, error) {
	s := v.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, paramErr("limit", s, fmt.Sprintf("a positive number (at most %d)", max))
	}
	return min(n, max), nil
}
