package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestWAFExclusions(t *testing.T) {
	s := mustParseSite(t, `
host: gpanel.example.org
backend: http://panel:80
waf:
  mode: log
  rules: {sql_injection: true, command_injection: true}
  exclusions:
    - path: /api/client/servers/*
    - path: /admin/nests/*
      params: [script_install]
      rules: [command_injection]
`)
	want := WAF{Enabled: true, Mode: "log", Rules: WAFRules{SQLInjection: true, CommandInjection: true},
		Exclusions: []WAFExclusion{
			{Path: "/api/client/servers/*"},
			{Path: "/admin/nests/*", Params: []string{"script_install"}, Rules: []string{"command_injection"}},
		}}
	if got := *s.Policy.WAF; !reflect.DeepEqual(got, want) {
		t.Errorf("waf = %+v, want %+v", got, want)
	}
}

func TestWAFDefaultRulesIncludeCommandInjection(t *testing.T) {
	s := mustParseSite(t, "host: a.example.org\nbackend: http://app:80\nwaf: {mode: block}\n")
	if r := s.Policy.WAF.Rules; !r.CommandInjection || !r.SQLInjection || !r.XSS || !r.PathTraversal || !r.SuspiciousHeaders {
		t.Errorf("rules = %+v, want all on", r)
	}
}

func TestWAFExclusionErrors(t *testing.T) {
	tests := []struct {
		desc, src, want string
	}{
		{"unknown rule, with a suggestion", "waf:\n  exclusions:\n    - path: /x\n      rules: [sql_injecton]\n",
			`site.yaml:6:15: waf.exclusions[0].rules[0]: unknown rule "sql_injecton" (want sql_injection, xss, path_traversal, suspicious_headers or command_injection); did you mean "sql_injection"?`},
		{"star inside the path", "waf:\n  exclusions:\n    - path: /a/*/b*\n",
			`site.yaml:5:13: waf.exclusions[0].path: path "/a/*/b*": '*' is only allowed at the end`},
		{"empty exclusion", "waf:\n  exclusions:\n    - {}\n", `site.yaml:5:7: waf.exclusions[0]: empty exclusion`},
		{"empty param", "waf:\n  exclusions:\n    - params: [\"\"]\n", `site.yaml:5:16: waf.exclusions[0].params[0]: empty field name`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseSite("site.yaml", []byte("host: a.example.org\nbackend: http://app:80\n"+tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
		})
	}
}
