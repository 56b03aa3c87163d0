package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fuzz targets must never panic, and every problem they report must be an Error naming
// the file. Run one with: go test -run=^$ -fuzz=FuzzParseSite -fuzztime=20s ./pkg/config/

func addSeedCorpus(f *testing.F, global bool) {
	files, _ := filepath.Glob("testdata/seeds/*.yaml")
	for _, file := range files {
		if strings.HasSuffix(file, "-global.yaml") != global {
			continue
		}
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
}

func checkErrors(t *testing.T, err error) {
	if err == nil {
		return
	}
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("error is not a non-empty ErrorList: %#v", err)
	}
	for _, e := range list {
		if e.File != "fuzz.yaml" || e.Line < 0 || e.Column < 0 || e.Msg == "" {
			t.Fatalf("bad error %#v", e)
		}
	}
}

func FuzzParseSite(f *testing.F) {
	addSeedCorpus(f, false)
	f.Add([]byte("routes:\n  - domains: [a.example.org]\n    backend: http://a\n    options: {<<: *x}\n"))
	f.Add([]byte("x-a: &a {timeouts: {connect: 1s}}\nroutes:\n  - {domains: [a.b], backend: 'http://a', options: *a}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("tier: admin\naudit: full\nhost: a.example.org\nbackend: http://a\nwaf: {rules: {xss: false}}\nrate_limit: {paths: [{path: /login, per_ip: 3}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSite("fuzz.yaml", data)
		checkErrors(t, err) // also: a tier's values never cause an error of their own
		if err == nil && len(s.Routes) == 0 {
			t.Fatalf("a valid site without routes")
		}
		if err == nil {
			if _, err := s.EffectiveYAML(); err != nil {
				t.Fatalf("effective configuration of a valid site: %v", err)
			}
		}
	})
}

func FuzzParseGlobal(f *testing.F) {
	addSeedCorpus(f, true)
	f.Add([]byte(globalYAML))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseGlobal("fuzz.yaml", data)
		checkErrors(t, err)
	})
}

func FuzzDuration(f *testing.F) {
	for _, s := range []string{"30s", "7d", "1h30m", "2d12h", "3600", "1.5h", ".5s", "-1s", "106751d", "1µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Fatalf("FormatDuration(%v) = %q does not parse back: %v, %v", d, FormatDuration(d), back, err)
		}
	})
}

func FuzzSize(f *testing.F) {
	for _, s := range []string{"1048576", "10MB", "10MiB", "1.5GB", "512 KB", "0.5B", "-1", "99999999TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		if back, err := ParseSize(n.String()); err != nil || back != n {
			t.Fatalf("Size(%d).String() = %q does not parse back: %v, %v", n, n.String(), back, err)
		}
	})
}
