package snapshot

import (
	"testing"

	"github.com/proxy-manager/proxy-manager/pkg/config"
	"github.com/proxy-manager/proxy-manager/pkg/ipmask"
)

// TestMaskIPMethod: the prefix lengths, which the snapshot's Logging has no fields for, travel
// in mask_ip_method as "prefix:V4:V6", and the data plane's parser reads them back.
func TestMaskIPMethod(t *testing.T) {
	testCases := []struct {
		desc, logging string
		want          string
		wantSpec      ipmask.Spec
	}{
		{"prefix with CNIL's lengths", "{mask_ip_method: prefix}", "prefix:16:48", ipmask.Spec{Method: ipmask.Prefix, PrefixV4: 16, PrefixV6: 48}},
		{"prefix with lengths", "{mask_ip_method: prefix, mask_ip_prefix_v4: 8, mask_ip_prefix_v6: 32}", "prefix:8:32", ipmask.Spec{Method: ipmask.Prefix, PrefixV4: 8, PrefixV6: 32}},
		{"other methods as written", "{mask_ip_method: hash, mask_ip_prefix_v4: 8}", "hash", ipmask.Spec{Method: ipmask.Hash}},
		{"built-in default", "{mask_pii: true}", "last_octet", ipmask.Spec{Method: ipmask.LastOctet}},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			site, err := config.ParseSite("app.yaml", []byte("host: a.example.org\nbackend: http://a\nlogging: "+tc.logging+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			got := policy(site.Policy).GetLogging().GetMaskIpMethod()
			if got != tc.want {
				t.Fatalf("mask_ip_method %q, want %q", got, tc.want)
			}
			if spec, err := ipmask.Parse(got); err != nil || spec != tc.wantSpec {
				t.Errorf("ipmask.Parse(%q) = %+v, %v; want %+v", got, spec, err, tc.wantSpec)
			}
		})
	}
}
