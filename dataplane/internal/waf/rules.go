package waf

import "strings"

// Rule is one detection of the WAF, as named in the configuration.
type Rule uint8

// The rules. What each covers (docs/security-waf.md has the full mapping):
//   - SQLInjection: SQL (libinjection), and the other query languages a value may be spliced
//     into: NoSQL operators and LDAP filters.
//   - XSS: HTML and script injection (libinjection), javascript: URLs, script sinks.
//   - PathTraversal: reaching files outside the application: ../ sequences, sensitive system
//     files, file and stream wrappers (file://, php://), hidden files in the URL path, cloud
//     metadata addresses (SSRF).
//   - SuspiciousHeaders: protocol-level attacks: scanner and attack-tool signatures, CR/LF
//     header injection and response splitting, request lines smuggled in a value.
//   - CommandInjection: shell commands and code execution: commands after shell separators,
//     shellshock, PHP/Java/Node/Python code and deserialisation gadgets, server-side template
//     and include injection, Log4Shell lookups, scripts uploaded under a script file name.
const (
	SQLInjection Rule = iota
	XSS
	PathTraversal
	SuspiciousHeaders
	CommandInjection
	numRules
)

var ruleNames = [numRules]string{"sql_injection", "xss", "path_traversal", "suspicious_headers", "command_injection"}

// String is the rule's configuration name.
func (r Rule) String() string {
	if r < numRules {
		return ruleNames[r]
	}
	return "unknown"
}

// RuleNames lists the rule names the configuration accepts.
func RuleNames() []string { return ruleNames[:] }

// ParseRule returns the rule of a configuration name.
func ParseRule(name string) (Rule, bool) {
	for i, n := range ruleNames {
		if strings.EqualFold(n, name) {
			return Rule(i), true
		}
	}
	return 0, false
}

// ruleSet is a set of rules, one bit each.
type ruleSet uint8

const allRules ruleSet = 1<<numRules - 1

func (s ruleSet) has(r Rule) bool { return s&(1<<r) != 0 }
