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
