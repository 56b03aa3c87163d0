package edge

import (
	"strings"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// SecuritySink takes the events of the security policies. PushSecurity must not block;
// *events.Queue is one.
type SecuritySink interface {
	PushSecurity(*proxyv1.SecurityEvent)
}

type discardSecurity struct{}

func (discardSecurity) PushSecurity(*proxyv1.SecurityEvent) {}

// maxSnippetLen bounds the part of a matched value a security event carries.
const maxSnippetLen = 256

// securityEvent pushes ev after filling in what every security event of a request carries: the
// time, request id, route, real client address, path and country. Strings are copied, so the
// event does not keep the request's head alive.
func (h *Handler) securityEvent(x *exchange, ev *proxyv1.SecurityEvent) {
	ev.Time = timestamppb.New(time.Now())
	ev.RequestId = x.requestID
	if x.route != nil {
		ev.RouteId = x.route.id
	}
	ev.ClientIp = strings.Clone(x.clientIP)
	// The path goes to the security tables: masked like the access log's (the IP is kept).
	ev.Path = strings.Clone(h.storedPath(x))
	ev.Country = x.country
	ev.Snippet = strings.Clone(clean(ev.Snippet, maxSnippetLen))
	ev.Pattern = strings.Clone(clean(ev.Pattern, maxSnippetLen))
	h.security.PushSecurity(ev)
}
