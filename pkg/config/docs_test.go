package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsExamples loads every YAML example of docs/configuration.md, so that the reference
// cannot drift from the code. An example with a global key is a global file; one with host,
// backend or routes is a site; the others show policy sections and are decoded onto a minimal
// site.
func TestDocsExamples(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	if len(blocks) < 10 {
		t.Fatalf("found %d examples", len(blocks))
	}
	topKey := func(src, key string) bool {
		return regexp.MustCompile(`(?m)^` + key + `:`).MatchString(src)
	}
	for i, b := range blocks {
		src := dedent(b[1])
		switch {
		case topKey(src, "defaults") || topKey(src, "webhooks") || topKey(src, "backup") ||
			topKey(src, "trusted_proxies") || topKey(src, "tls") || topKey(src, "acme") || topKey(src, "alerts") ||
			topKey(src, "maintenance"):
			if _, err := ParseGlobal("example.yaml", []byte(src)); err != nil {
				t.Errorf("example %d (global):\n%s\n%v", i+1, src, err)
			}
		default:
			if !topKey(src, "host") && !topKey(src, "routes") {
				src += "\nhost: example.org\nbackend: http://app:80\n"
			}
			if _, err := ParseSite("example.yaml", []byte(src)); err != nil {
				t.Errorf("example %d (site):\n%s\n%v", i+1, src, err)
			}
		}
	}
}

// dedent removes the indentation of an example nested in a list item.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " "))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if len(l) >= indent && indent > 0 {
			lines[i] = l[indent:]
		}
	}
	return strings.Join(lines, "\n")
}
