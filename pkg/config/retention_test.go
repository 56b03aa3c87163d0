package config

import (
	"strings"
	"testing"
	"time"
)

func TestRetentionSchedule(t *testing.T) {
	tests := []struct {
		desc, yaml string
		want       string // the schedule's spec
		wantErr    string
	}{
		{desc: "no section runs daily at 03:00", yaml: "geoip: {database: /x.mmdb}\n", want: "0 3 * * *"},
		{desc: "empty section keeps the default", yaml: "retention: {}\n", want: "0 3 * * *"},
		{desc: "cron fields", yaml: "retention:\n  schedule: \"30 4 * * *\"\n", want: "30 4 * * *"},
		{desc: "descriptor", yaml: "retention: {schedule: \"@hourly\"}\n", want: "@hourly"},
		{desc: "bad hour", yaml: "retention:\n  schedule: \"0 25 * * *\"\n", wantErr: `global.yaml:2`},
		{desc: "unknown key", yaml: "retention:\n  when: daily\n", wantErr: `when`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			g, err := ParseGlobal("global.yaml", []byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := g.Retention.Schedule.String(); got != tc.want {
				t.Fatalf("schedule = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRetentionWithoutGlobalFile(t *testing.T) {
	g := emptyGlobal()
	if got := g.Retention.Schedule.String(); got != "0 3 * * *" {
		t.Fatalf("schedule = %q", got)
	}
	local := time.FixedZone("CET", 3600)
	next := g.Retention.Schedule.Next(time.Date(2026, 11, 22, 12, 0, 0, 0, local))
	if want := time.Date(2026, 11, 23, 3, 0, 0, 0, local); !next.Equal(want) {
		t.Fatalf("next = %v, want %v (03:00 local)", next, want)
	}
}

// The built-in data_retention defaults are the issue's: 7d/30d/90d/365d/30d.
func TestBuiltinDataRetention(t *testing.T) {
	d := emptyGlobal().Defaults.DataRetention
	if d == nil {
		t.Fatal("no built-in data_retention")
	}
	day := 24 * time.Hour
	want := DataRetention{AccessLogs: 7 * day, ErrorLogs: 30 * day, SecurityLogs: 90 * day, AuditLogs: 365 * day, Metrics: 30 * day}
	if *d != want {
		t.Fatalf("built-in data_retention = %+v, want %+v", *d, want)
	}
}
