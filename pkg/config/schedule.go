package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a cron schedule: five fields "minute hour day-of-month month day-of-week", as in
// crontab(5). Each field is "*", a number, a range "a-b", a list "a,b", with an optional step
// "*/15" or "0-30/5". Months and weekdays also take names (jan, mon); Sunday is 0 or 7. When
// both day fields are restricted, a day matches either (the crontab rule). The descriptors
// @hourly, @daily (@midnight), @weekly, @monthly and @yearly (@annually) are accepted too.
// Schedules are evaluated in the time zone of the time passed to Next (the control plane's
// local time, set with TZ).
type Schedule struct {
	spec                          string
	minute, hour, dom, month, dow uint64
	domAny, dowAny                bool
}

var scheduleDescriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

var (
	monthNames   = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	weekdayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

// ParseSchedule parses a cron schedule (see Schedule).
func ParseSchedule(spec string) (Schedule, error) {
	s := Schedule{spec: strings.TrimSpace(spec)}
	expr := s.spec
	if strings.HasPrefix(expr, "@") {
		e, ok := scheduleDescriptors[strings.ToLower(expr)]
		if !ok {
			return Schedule{}, fmt.Errorf("unknown schedule %q (want @hourly, @daily, @weekly, @monthly, @yearly or five cron fields)", spec)
		}
		expr = e
	}
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return Schedule{}, fmt.Errorf("schedule %q has %d fields, want 5: minute hour day-of-month month day-of-week", spec, len(fields))
	}
	var err error
	if s.minute, _, err = parseCronField(fields[0], "minute", 0, 59, nil); err != nil {
		return Schedule{}, err
	}
	if s.hour, _, err = parseCronField(fields[1], "hour", 0, 23, nil); err != nil {
		return Schedule{}, err
	}
	if s.dom, s.domAny, err = parseCronField(fields[2], "day of month", 1, 31, nil); err != nil {
		return Schedule{}, err
	}
	if s.month, _, err = parseCronField(fields[3], "month", 1, 12, monthNames); err != nil {
		return Schedule{}, err
	}
	if s.dow, s.dowAny, err = parseCronField(fields[4], "day of week", 0, 7, weekdayNames); err != nil {
		return Schedule{}, err
	}
	if s.dow&(1<<7) != 0 { // 7 is Sunday too
		s.dow |= 1
	}
	return s, nil
}

// mustParseSchedule is ParseSchedule for the built-in defaults; it panics on a bad spec.
func mustParseSchedule(spec string) Schedule {
	s, err := ParseSchedule(spec)
	if err != nil {
		panic(err)
	}
	return s
}

// String returns the schedule as it was written.
func (s Schedule) String() string { return s.spec }

// IsZero reports whether the schedule was never set.
func (s Schedule) IsZero() bool { return s.spec == "" }

// Next returns the first time after t (to the minute, strictly later) the schedule fires, in
// t's location, or the zero time if it never fires in the next five years (31 February).
func (s Schedule) Next(t time.Time) time.Time {
	if s.IsZero() {
		return time.Time{}
	}
	loc := t.Location()
	t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, loc).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		switch {
		case s.month&(1<<uint(t.Month())) == 0:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
		case !s.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		case s.hour&(1<<uint(t.Hour())) == 0:
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
		case s.minute&(1<<uint(t.Minute())) == 0:
			t = t.Add(time.Minute)
		default:
			return t
		}
	}
	return time.Time{}
}

func (s Schedule) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	switch {
	case s.domAny && s.dowAny:
		return true
	case s.domAny:
		return dow
	case s.dowAny:
		return dom
	default:
		return dom || dow
	}
}

// parseCronField parses one field into a bit set; any reports an unrestricted "*".
func parseCronField(f, what string, lo, hi int, names []string) (bits uint64, any bool, err error) {
	for _, item := range strings.Split(f, ",") {
		expr, stepStr, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 || n > hi {
				return 0, false, fmt.Errorf("invalid step %q in %s field %q", stepStr, what, f)
			}
			step = n
		}
		var from, to int
		switch {
		case expr == "*":
			from, to = lo, hi
			if what == "day of week" {
				to = 6
			}
			if !hasStep {
				any = true
			}
		case strings.Contains(expr, "-"):
			a, b, _ := strings.Cut(expr, "-")
			if from, err = cronValue(a, what, lo, hi, names); err != nil {
				return 0, false, err
			}
			if to, err = cronValue(b, what, lo, hi, names); err != nil {
				return 0, false, err
			}
			if from > to {
				return 0, false, fmt.Errorf("invalid range %q in %s field: %d is after %d", expr, what, from, to)
			}
		default:
			if from, err = cronValue(expr, what, lo, hi, names); err != nil {
				return 0, false, err
			}
			to = from
			if hasStep {
				to = hi
			}
		}
		for v := from; v <= to; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, any, nil
}

func cronValue(s, what string, lo, hi int, names []string) (int, error) {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return i + lo, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("invalid %s %q (want %d-%d)", what, s, lo, hi)
	}
	return v, nil
}
