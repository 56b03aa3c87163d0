package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestErrorPagesLoad(t *testing.T) {
	testCases := []struct {
		desc  string
		files map[string]string
		want  string // the error with the temp dir as DIR; "" for none
	}{
		{desc: "global and site pages", files: map[string]string{
			"global.yaml":         "error_pages:\n  404: pages/404.html\n",
			"pages/404.html":      "<h1>{{.StatusCode}} {{.StatusText}}</h1>",
			"sites/a.yaml":        "host: a.example.org\nbackend: http://a\nerror_pages:\n  413: big.html\n",
			"sites/big.html":      "<p>{{.MaxSize}}</p>",
			"sites/disabled.yaml": "enabled: false\nhost: b.example.org\nbackend: http://b\n",
		}},
		{desc: "broken template names its file and line", files: map[string]string{
			"sites/a.yaml":   "host: a.example.org\nbackend: http://a\nerror_pages:\n  502: 502.html\n  503: 502.html\n",
			"sites/502.html": "<html>\n<body>\n<h1>{{.StatusCode}}\n{{if .Message}}\n</body>\n",
		}, want: "DIR/sites/502.html:6: error page for 502 (named in DIR/sites/a.yaml): unexpected EOF"},
		{desc: "unknown field found by executing", files: map[string]string{
			"global.yaml":  "error_pages:\n  404: 404.html\n",
			"404.html":     "<p>\n{{.RequestId}}</p>",
			"sites/a.yaml": "host: a.example.org\nbackend: http://a\n",
		}, want: "DIR/404.html:2:3: error page for 404 (named in DIR/global.yaml): <.RequestId>: can't evaluate field RequestId in type *pagetemplate.Data"},
		{desc: "missing page", files: map[string]string{
			"sites/a.yaml": "host: a.example.org\nbackend: http://a\nerror_pages:\n  404: nowhere.html\n",
		}, want: "DIR/sites/nowhere.html: error page (named in DIR/sites/a.yaml): no such file or directory"},
		{desc: "page of a disabled site is checked too", files: map[string]string{
			"sites/a.yaml": "enabled: false\nhost: a.example.org\nbackend: http://a\nerror_pages:\n  404: a.html\n",
			"sites/a.html": "{{.Nope}}",
		}, want: "DIR/sites/a.html:1:3: error page for 404 (named in DIR/sites/a.yaml): <.Nope>: can't evaluate field Nope in type *pagetemplate.Data"},
		{desc: "too large", files: map[string]string{
			"sites/a.yaml": "host: a.example.org\nbackend: http://a\nerror_pages:\n  404: a.html\n",
			"sites/a.html": strings.Repeat("x", 64<<10+1),
		}, want: "DIR/sites/a.html: error page (named in DIR/sites/a.yaml): larger than 65536 bytes"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "sites"), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFiles(t, dir, tc.files)
			cfg, err := Load(filepath.Join(dir, "global.yaml"), filepath.Join(dir, "sites"))
			if tc.want != "" {
				if err == nil {
					t.Fatal("Load succeeded")
				}
				if got := strings.ReplaceAll(err.Error(), dir, "DIR"); got != tc.want {
					t.Errorf("error:\n%s\nwant:\n%s", got, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := cfg.Pages[cfg.Global.ErrorPages[404]]; got != tc.files["pages/404.html"] {
				t.Errorf("global page = %q", got)
			}
			if got := cfg.Pages[cfg.Sites[0].Routes[0].Policy.ErrorPages[413]]; got != tc.files["sites/big.html"] {
				t.Errorf("site page = %q", got)
			}
		})
	}
}

// An edited page is a new configuration: the reloader publishes a snapshot only when the hash
// changes.
func TestErrorPageChangesHash(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"sites/a.yaml": "host: a.example.org\nbackend: http://a\nerror_pages:\n  404: a.html\n",
		"sites/a.html": "<p>one</p>",
	})
	load := func() string {
		cfg, err := Load("", filepath.Join(dir, "sites"))
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Hash
	}
	before := load()
	writeFiles(t, dir, map[string]string{"sites/a.html": "<p>two</p>"})
	if load() == before {
		t.Error("the hash did not change with the page")
	}
}
