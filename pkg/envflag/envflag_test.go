package envflag

import (
	"strings"
	"testing"
	"time"
)

func TestPrecedence(t *testing.T) {
	t.Setenv("T_ADDR", "from-env")
	t.Setenv("T_OLD", "from-alias")
	t.Setenv("T_TIMEOUT", "3s")
	tests := []struct {
		desc     string
		args     []string
		wantAddr string
		wantOld  string
		wantTO   time.Duration
	}{
		{desc: "env over default", wantAddr: "from-env", wantOld: "from-alias", wantTO: 3 * time.Second},
		{desc: "flag over env", args: []string{"-addr", "from-flag", "-timeout", "1m"}, wantAddr: "from-flag", wantOld: "from-alias", wantTO: time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s := New("t")
			var addr, old string
			var to time.Duration
			s.StringVar(&addr, "addr", "T_ADDR", "default", "address")
			s.StringVar(&old, "old", "T_NEW_UNSET", "default", "aliased", "T_OLD")
			s.DurationVar(&to, "timeout", "T_TIMEOUT", time.Second, "timeout")
			if err := s.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if addr != tc.wantAddr || old != tc.wantOld || to != tc.wantTO {
				t.Fatalf("got %q %q %v, want %q %q %v", addr, old, to, tc.wantAddr, tc.wantOld, tc.wantTO)
			}
		})
	}
}

func TestBadEnv(t *testing.T) {
	t.Setenv("T_TIMEOUT", "soon")
	t.Setenv("T_N", "-4")
	s := New("t")
	var to time.Duration
	var n int
	s.DurationVar(&to, "timeout", "T_TIMEOUT", time.Second, "timeout")
	s.IntVar(&n, "n", "T_N", 1, "n")
	err := s.Parse(nil)
	if err == nil || !strings.Contains(err.Error(), `T_TIMEOUT="soon"`) {
		t.Fatalf("err = %v, want it to name T_TIMEOUT", err)
	}
}

func TestBool(t *testing.T) {
	tests := []struct {
		env     string
		args    []string
		want    bool
		wantErr bool
	}{
		{env: "true", want: true},
		{env: "1", want: true},
		{env: "no", want: false},
		{env: "", want: false},
		{env: "true", args: []string{"-b=false"}, want: false},
		{env: "maybe", wantErr: true},
	}
	for _, tc := range tests {
		t.Setenv("T_B", tc.env)
		s := New("t")
		var b bool
		s.BoolVar(&b, "b", "T_B", false, "b")
		err := s.Parse(tc.args)
		if (err != nil) != tc.wantErr || (err == nil && b != tc.want) {
			t.Errorf("T_B=%q %v: got %v, %v; want %v (error %v)", tc.env, tc.args, b, err, tc.want, tc.wantErr)
		}
	}
}
