package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "30s", want: 30 * time.Second},
		{in: "100ms", want: 100 * time.Millisecond},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "2d12h", want: 60 * time.Hour},
		{in: "365d", want: 365 * 24 * time.Hour},
		{in: "1.5h", want: 90 * time.Minute},
		{in: ".5s", want: 500 * time.Millisecond},
		{in: "3600", want: time.Hour},
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: "+5s", want: 5 * time.Second},
		{in: "1µs", want: time.Microsecond},
		{in: "", wantErr: "empty duration"},
		{in: "5", want: 5 * time.Second},
		{in: "-5s", wantErr: `must not be negative`},
		{in: "5x", wantErr: `unknown unit "x"`},
		{in: "5w", wantErr: `unknown unit "w"`},
		{in: "1h30", wantErr: `missing unit`},
		{in: "d", wantErr: `expected a number`},
		{in: ".s", wantErr: `expected a number`},
		{in: "106752d", wantErr: `too long`},
		{in: "9223372036854775807", wantErr: `too long`},
		{in: "99999999999999999999s", wantErr: `too long`},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseDuration(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
			}
		case err != nil || got != tc.want:
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{7 * Day, "7d"},
		{60 * time.Hour, "2d12h"},
		{5 * time.Minute, "5m"},
		{time.Hour, "1h"},
		{90 * time.Second, "1m30s"},
		{100 * time.Millisecond, "100ms"},
		{0, "0s"},
	}
	for _, tc := range tests {
		got := FormatDuration(tc.in)
		if got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if back, err := ParseDuration(got); err != nil || back != tc.in {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", tc.in, back, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr string
	}{
		{in: "1048576", want: 1 << 20},
		{in: "0", want: 0},
		{in: "512KB", want: 512_000},
		{in: "10MB", want: 10_000_000},
		{in: "10MiB", want: 10 << 20},
		{in: "1GB", want: 1_000_000_000},
		{in: "1GiB", want: 1 << 30},
		{in: "2TiB", want: 2 << 40},
		{in: "64 KiB", want: 64 << 10},
		{in: "10mb", want: 10_000_000},
		{in: "1.5KiB", want: 1536},
		{in: "1.5GB", want: 1_500_000_000},
		{in: "100B", want: 100},
		{in: "", wantErr: "empty size"},
		{in: "10m", wantErr: `unknown unit "m"`},
		{in: "1k", wantErr: `unknown unit "k"`},
		{in: "-1", wantErr: "must not be negative"},
		{in: "0.5B", wantErr: "not a whole number of bytes"},
		{in: "1.2.3MB", wantErr: "invalid size"},
		{in: "MB", wantErr: "invalid size"},
		{in: "9999999TiB", wantErr: "too large"},
		{in: "99999999999999999999", wantErr: "too large"},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseSize(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
			}
		case err != nil || got != tc.want:
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{1 << 20, "1MiB"},
		{10_000_000, "10MB"},
		{1536, "1536B"},
		{0, "0B"},
	}
	for _, tc := range tests {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("Size(%d).String() = %q, want %q", tc.in, got, tc.want)
		}
		if back, err := ParseSize(tc.in.String()); err != nil || back != tc.in {
			t.Errorf("ParseSize(%q) = %d, %v", tc.in.String(), back, err)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"timeouts", "limits", "rate_limit", "max_request_body", "max_request_headers", "exponential", "linear"}
	tests := []struct{ word, want string }{
		{"timeout", "timeouts"},
		{"timeoutz", "timeouts"},
		{"Timeouts", "timeouts"},
		{"rate-limit", "rate_limit"},
		{"RateLimit", "rate_limit"},
		{"limit", "limits"},
		{"max_request_bdy", "max_request_body"},
		{"expo", "exponential"},
		{"max_req", ""}, // two candidates start with it
		{"banana", ""},
		{"x", ""},
	}
	for _, tc := range tests {
		if got := suggest(tc.word, keys); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}

func TestSchedule(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		berlin = time.FixedZone("CET", 3600)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		spec, after, want string
	}{
		{"0 2 * * 0", "2025-12-18 14:00", "2025-12-21 02:00"}, // Thursday → Sunday
		{"0 2 * * 7", "2025-12-18 14:00", "2025-12-21 02:00"}, // 7 is Sunday too
		{"0 2 * * sun", "2025-12-21 02:00", "2025-12-28 02:00"},
		{"0 2 * * 3", "2025-12-18 14:00", "2025-12-24 02:00"},
		{"0 * * * *", "2025-12-18 14:00", "2025-12-18 15:00"},
		{"*/15 * * * *", "2025-12-18 14:01", "2025-12-18 14:15"},
		{"0 3 1 jan *", "2025-12-18 14:00", "2026-01-01 03:00"},
		{"0 0 29 2 *", "2025-03-01 00:00", "2028-02-29 00:00"},
		{"0 0 1,15 * mon", "2025-12-16 00:00", "2025-12-22 00:00"}, // either day field
		{"@daily", "2025-12-18 14:00", "2025-12-19 00:00"},
		{"@hourly", "2025-12-18 14:30", "2025-12-18 15:00"},
		{"0 0 31 2 *", "2025-01-01 00:00", "0001-01-01 00:00"}, // never
	}
	for _, tc := range tests {
		s, err := ParseSchedule(tc.spec)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", tc.spec, err)
			continue
		}
		got := s.Next(at(tc.after))
		if got.Format("2006-01-02 15:04") != tc.want {
			t.Errorf("%q.Next(%s) = %s, want %s", tc.spec, tc.after, got.Format("2006-01-02 15:04"), tc.want)
		}
	}
	// In a zone with daylight saving time, 02:30 on the night the clocks go forward does not
	// exist; the schedule still fires that day.
	s, _ := ParseSchedule("30 2 * * *")
	got := s.Next(time.Date(2026, 3, 28, 12, 0, 0, 0, berlin))
	if got.Day() != 29 && got.Day() != 30 {
		t.Errorf("DST: Next = %v", got)
	}
	for _, bad := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "5-1 * * * *", "*/0 * * * *", "@every 1h", "a * * * *"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}
