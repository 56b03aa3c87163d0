package edge

import (
	"errors"
	"net/http"
	"strings"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

var errWAF = errors.New("request refused by the WAF")

// inspect runs the route's WAF on the request and records a match as a security event. It
// reports whether the request was answered (403, block mode); in log mode it goes on.
func (h *Handler) inspect(x *exchange, rte *Route) bool {
	m := rte.waf.Inspect(x.r)
	if !m.Found() {
		return false
	}
	action := "logged"
	if rte.waf.Block() {
		action = "blocked"
	}
	h.securityEvent(x, &proxyv1.SecurityEvent{
		Kind:    proxyv1.SecurityKind_SECURITY_KIND_WAF,
		Action:  action,
		Rule:    m.Rule.String(),
		Pattern: m.Pattern,
		Snippet: m.Snippet,
		Reason:  strings.Clone(clean(m.Where(), maxSnippetLen)), // names are client data: valid UTF-8, bounded
	})
	if !rte.waf.Block() {
		return false
	}
	x.blockedBy = "waf"
	h.failPage(x, http.StatusForbidden, "", errWAF)
	return true
}
