package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// TestValidateEffective compares the effective configuration of each site of
// testdata/effective with testdata/effective-SITE.golden (go test -update rewrites them).
func TestValidateEffective(t *testing.T) {
	for _, tc := range []struct{ desc, arg, golden string }{
		{"public tier as it is, by name", "community", "effective-community.golden"},
		{"private tier with site overrides, by file name", "vault.yaml", "effective-vault.golden"},
		{"admin tier in the service form with route overrides, by path", "testdata/effective/sites/panel.yaml", "effective-panel.golden"},
		{"no tier", "plain", "effective-plain.golden"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var out bytes.Buffer
			err := validate(&out, []string{"--global", "testdata/effective/global.yaml", "--sites", "testdata/effective/sites", "--effective", tc.arg})
			if err != nil {
				t.Fatalf("validate: %v\n%s", err, out.String())
			}
			golden := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if out.String() != string(want) {
				t.Errorf("effective configuration differs from %s (go test -update rewrites it):\n%s", golden, out.String())
			}
		})
	}
}

func TestValidateEffectiveErrors(t *testing.T) {
	var out bytes.Buffer
	err := validate(&out, []string{"--global", "testdata/effective/global.yaml", "--sites", "testdata/effective/sites", "--effective", "nope"})
	if err == nil || err.Error() != `--effective "nope": no such site (sites: community, panel, plain, vault)` {
		t.Errorf("unknown site: %v", err)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("tier: secret\nhost: a.example.org\nbackend: http://a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = validate(&out, []string{"--global", "", "--sites", dir, "--effective", "a"})
	want := filepath.Join(dir, "a.yaml") + `:1:7: tier: invalid value "secret" (want public, private or admin)` + "\n"
	if err == nil || out.String() != want {
		t.Errorf("invalid tier: err %v, printed\n%s\nwant\n%s", err, out.String(), want)
	}
	if strings.Contains(out.String(), "routes:") {
		t.Error("an invalid configuration printed an effective configuration")
	}
}
