package logging

import "testing"

func TestNew(t *testing.T) {
	tests := []struct {
		desc          string
		level, format string
		wantErr       bool
	}{
		{desc: "defaults", level: "", format: ""},
		{desc: "debug pretty", level: "debug", format: "pretty"},
		{desc: "upper case", level: "WARN", format: "JSON"},
		{desc: "bad level", level: "loud", format: "json", wantErr: true},
		{desc: "bad format", level: "info", format: "xml", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			l, err := New(tc.level, tc.format)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New(%q, %q) error = %v, want error %v", tc.level, tc.format, err, tc.wantErr)
			}
			if err == nil && l == nil {
				t.Fatal("nil logger without error")
			}
		})
	}
}
