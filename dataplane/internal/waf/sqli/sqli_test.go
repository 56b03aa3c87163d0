package sqli

import (
	"testing"

	"github.com/corazawaf/libinjection-go"
)

// FuzzIsSQLi checks that IsSQLi answers as upstream libinjection-go does, fingerprint
// included (waf's TestIsSQLiOnCorpus does the same on the corpus). Run:
// go test -run=^$ -fuzz=FuzzIsSQLi -fuzztime=30s
func FuzzIsSQLi(f *testing.F) {
	for _, s := range []string{"", "1' or '1'='1", "1 union all select null--", "x' sP_password", "admin'#",
		"0x4142 union select b'01', e'\\n', n'x', q'[x]', u&'x', x'41' #", "where to buy rtx 4070",
		"https://forum.example.org/t/10-tips-for-new-players-2024/77", "SELECT * FROM users WHERE id = 1 LIKE 2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ok, fp := IsSQLi(v)
		wantOK, wantFP := libinjection.IsSQLi(v)
		if ok != wantOK || fp != wantFP {
			t.Fatalf("IsSQLi(%q) = %v %q, libinjection-go gives %v %q", v, ok, fp, wantOK, wantFP)
		}
	})
}
