// Package sqli is the SQL injection half of github.com/corazawaf/libinjection-go v0.3.5
// (BSD-3-Clause, LICENSE beside this file), copied so that it does not allocate per word: the
// WAF tokenizes every free-form value of every request, and upstream's keyword lookups
// (strings.ToUpper of each word) and merges (a concatenation per attempt) were most of the
// allocations and a third of the time of a benign request.
//
// The only changes, marked "proxy-manager:", are in searchKeyword (sqli_helpers.go: ASCII
// keys upper-cased on the stack) and merge (sqli.go: the two words joined on the stack);
// answers and fingerprints are upstream's. waf's TestIsSQLiOnCorpus and FuzzIsSQLi compare
// IsSQLi with upstream's, which the WAF still uses for XSS.
package sqli
