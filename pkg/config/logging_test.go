package config

import (
	"strings"
	"testing"
)

func TestLoggingPrefix(t *testing.T) {
	testCases := []struct {
		desc, src      string
		wantV4, wantV6 int // -1: unset
		wantErr        string
	}{
		{desc: "prefix takes CNIL's lengths by default", src: "logging: {mask_ip_method: prefix}", wantV4: 16, wantV6: 48},
		{desc: "lengths written", src: "logging: {mask_ip_method: prefix, mask_ip_prefix_v4: 20, mask_ip_prefix_v6: 56}", wantV4: 20, wantV6: 56},
		{desc: "one length written", src: "logging: {mask_ip_method: prefix, mask_ip_prefix_v6: 32}", wantV4: 16, wantV6: 32},
		{desc: "limits", src: "logging: {mask_ip_method: prefix, mask_ip_prefix_v4: 0, mask_ip_prefix_v6: 64}", wantV4: 0, wantV6: 64},
		{desc: "other method: lengths unused", src: "logging: {mask_ip_method: last_octet}", wantV4: -1, wantV6: -1},
		{desc: "v4 too long", src: "logging: {mask_ip_method: prefix, mask_ip_prefix_v4: 32}",
			wantErr: "logging.mask_ip_prefix_v4: 32 is not a prefix length between 0 and 24"},
		{desc: "v6 too long", src: "logging: {mask_ip_method: prefix, mask_ip_prefix_v6: 128}",
			wantErr: "logging.mask_ip_prefix_v6: 128 is not a prefix length between 0 and 64"},
		{desc: "negative", src: "logging: {mask_ip_prefix_v4: -8}",
			wantErr: "logging.mask_ip_prefix_v4: must not be negative"},
		{desc: "not a number", src: "logging: {mask_ip_method: prefix, mask_ip_prefix_v4: wide}",
			wantErr: "logging.mask_ip_prefix_v4"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			s, err := ParseSite("app.yaml", []byte("host: a.example.org\nbackend: http://a\n"+tc.src+"\n"))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := s.Policy.Logging
			deref := func(p *int) int {
				if p == nil {
					return -1
				}
				return *p
			}
			if v4, v6 := deref(l.MaskIPPrefixV4), deref(l.MaskIPPrefixV6); v4 != tc.wantV4 || v6 != tc.wantV6 {
				t.Errorf("lengths %d, %d; want %d, %d", v4, v6, tc.wantV4, tc.wantV6)
			}
		})
	}
}
