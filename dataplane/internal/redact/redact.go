// Package redact applies a route's logging policy to what an access event stores: the
// administrator's redact_paths, mask_pii (e-mail addresses and tokens, pii.go) and
// strip_headers, so that nothing of it leaves the data plane. The client IP is masked by
// pkg/ipmask.
package redact

import (
	"fmt"
	"net/http"
	"regexp"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Policy is one route's logging policy, compiled once per snapshot. A nil Policy changes
// nothing.
type Policy struct {
	redactions []redaction
	maskPII    bool
	// stripUserAgent: User-Agent is in strip_headers. It is the only request header an event
	// carries.
	stripUserAgent bool
}

type redaction struct {
	re          *regexp.Regexp
	replacement string
}

// New compiles l. A route without a logging policy (nil) stores paths and headers as they are.
func New(l *proxyv1.Logging) (*Policy, error) {
	p := &Policy{maskPII: l.GetMaskPii()}
	for i, r := range l.GetRedactPaths() {
		re, err := regexp.Compile(r.GetPattern())
		if err != nil {
			return nil, fmt.Errorf("redact_paths[%d]: %w", i, err)
		}
		p.redactions = append(p.redactions, redaction{re: re, replacement: r.GetReplacement()})
	}
	for _, h := range l.GetStripHeaders() {
		if http.CanonicalHeaderKey(h) == "User-Agent" {
			p.stripUserAgent = true
		}
	}
	return p, nil
}

// Path returns path as it may be stored: each redact_paths pattern replaced (in order, every
// match, $1 expanded), then e-mail addresses and tokens masked when mask_pii is on. It allocates
// only when something is replaced.
func (p *Policy) Path(path string) string {
	if p == nil {
		return path
	}
	for _, r := range p.redactions {
		// MatchString first: ReplaceAllString copies the string even when nothing matches.
		if r.re.MatchString(path) {
			path = r.re.ReplaceAllString(path, r.replacement)
		}
	}
	if p.maskPII {
		path = MaskPath(path)
	}
	return path
}

// UserAgent returns the user agent as it may be stored: "" when strip_headers names it,
// without e-mail addresses when mask_pii is on.
func (p *Policy) UserAgent(ua string) string {
	switch {
	case p == nil:
		return ua
	case p.stripUserAgent:
		return ""
	case p.maskPII:
		return MaskEmails(ua)
	}
	return ua
}
