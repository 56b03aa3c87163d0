package main

import (
	"strings"
	"testing"
	"time"
)

func TestSchedSliceSetting(t *testing.T) {
	for _, tc := range []struct {
		arg     string
		want    time.Duration
		wantErr string
	}{
		{arg: "", want: defaultSchedSlice},
		{arg: "-sched-slice=0", want: 0},
		{arg: "-sched-slice=100us", want: 100 * time.Microsecond},
		{arg: "-sched-slice=100ms", want: 100 * time.Millisecond},
		{arg: "-sched-slice=50us", wantErr: "PROXY_SCHED_SLICE=50µs: want 0 or 100µs to 100ms"},
		{arg: "-sched-slice=1s", wantErr: "PROXY_SCHED_SLICE=1s"},
	} {
		args := []string{"-node-id=n1"}
		if tc.arg != "" {
			args = append(args, tc.arg)
		}
		s, err := parseSettings(args)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want one containing %q", tc.arg, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.arg, err)
		}
		if s.schedSlice != tc.want {
			t.Errorf("%q: slice %v, want %v", tc.arg, s.schedSlice, tc.want)
		}
	}
}
