package ui

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

func TestDashboardFiles(t *testing.T) {
	d := Dashboard()
	for _, name := range []string{"index.html", "dashboard.js", "dashboard.css"} {
		b, err := fs.ReadFile(d, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
	}
}

// The admin reaches the dashboard through an SSH tunnel, often offline: nothing may load from
// another origin.
func TestNoExternalResources(t *testing.T) {
	ext := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`)
	err := fs.WalkDir(Dashboard(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Dashboard(), path)
		if err != nil {
			return err
		}
		if m := ext.FindString(string(b)); m != "" {
			t.Errorf("%s loads an external resource: %q", path, m)
		}
		if strings.Contains(string(b), "fetch('http") || strings.Contains(string(b), `fetch("http`) {
			t.Errorf("%s fetches an absolute URL", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Values from the API reach the page as text only: nothing may parse a string as HTML, and no
// inline script or style may need a looser Content-Security-Policy (adminhttp's guard).
func TestNoHTMLFromStrings(t *testing.T) {
	forbidden := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function|setAttribute\('style'|style: '`)
	inline := regexp.MustCompile(`(?i)<script>|<style|\sstyle="|\son[a-z]+="`)
	for _, name := range []string{"dashboard.js", "index.html"} {
		b, err := fs.ReadFile(Dashboard(), name)
		if err != nil {
			t.Fatal(err)
		}
		if m := forbidden.FindString(string(b)); m != "" {
			t.Errorf("%s uses %q", name, m)
		}
		if m := inline.FindString(string(b)); m != "" {
			t.Errorf("%s has inline code or style %q", name, m)
		}
	}
}
