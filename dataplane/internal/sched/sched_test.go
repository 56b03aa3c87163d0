package sched

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSetSlice runs in a child process, since the slice stays with the process's threads.
func TestSetSlice(t *testing.T) {
	if os.Getenv("SCHED_TEST_CHILD") != "" {
		d, _ := time.ParseDuration(os.Getenv("SCHED_TEST_CHILD"))
		if err := SetSlice(d); err != nil {
			if errors.Is(err, ErrUnsupported) {
				os.Stdout.WriteString("unsupported\n")
				return
			}
			t.Fatal(err)
		}
		tids, err := threads()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tid := range tids {
			s, err := Slice(tid)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, strconv.FormatInt(int64(s), 10))
		}
		os.Stdout.WriteString(strings.Join(out, " ") + "\n")
		return
	}
	for _, tc := range []struct {
		ask, want time.Duration
	}{
		{ask: 200 * time.Microsecond, want: 200 * time.Microsecond},
		{ask: 10 * time.Microsecond, want: MinSlice}, // clamped as the kernel would
		{ask: time.Second, want: MaxSlice},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSetSlice$")
		cmd.Env = append(os.Environ(), "SCHED_TEST_CHILD="+tc.ask.String())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		lines := strings.Fields(strings.SplitN(string(out), "\n", 2)[0])
		if len(lines) == 1 && lines[0] == "unsupported" {
			t.Skip("this kernel has no per-task slice (Linux < 6.12)")
		}
		if len(lines) < 2 {
			t.Fatalf("child reported %q, want a slice per thread", out)
		}
		for _, l := range lines {
			if l != strconv.FormatInt(int64(tc.want), 10) {
				t.Errorf("ask %v: a thread has slice %s ns, want %d", tc.ask, l, tc.want)
			}
		}
	}
}
