package websocket

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Policy is a route's WebSocket policy, from its snapshot.
type Policy struct {
	// Enabled false refuses upgrade requests with 403 Forbidden before the backend sees them.
	Enabled bool
	// MaxConnections limits the route's open WebSockets on this data plane; 0 is no limit.
	MaxConnections int64
	// MaxDuration closes a connection (1001 Going Away) this long after it opened; 0 is never.
	MaxDuration time.Duration
	// IdleTimeout closes a connection on which no frame passed either way for this long; the
	// client's answers to the proxy's pings count, so with PingInterval set it closes
	// connections whose client stopped answering. 0 is never.
	IdleTimeout time.Duration
	// PingInterval sends the client a ping this often (the proxy answers for itself: the
	// backend never sees these pings or their pongs); 0 sends none.
	PingInterval time.Duration
}

// NewPolicy builds a route's policy. A route without a websocket section (nil) allows
// WebSockets without limits: they are only closed when an end closes them or at shutdown.
func NewPolicy(p *proxyv1.WebSocket) (Policy, error) {
	if p == nil {
		return Policy{Enabled: true}, nil
	}
	pol := Policy{
		Enabled:        p.GetEnabled(),
		MaxConnections: p.GetMaxConnections(),
		MaxDuration:    p.GetMaxDuration().AsDuration(),
		IdleTimeout:    p.GetIdleTimeout().AsDuration(),
		PingInterval:   p.GetPingInterval().AsDuration(),
	}
	switch {
	case pol.MaxConnections < 0:
		return pol, fmt.Errorf("websocket: max_connections %d is negative", pol.MaxConnections)
	case pol.MaxDuration < 0, pol.IdleTimeout < 0, pol.PingInterval < 0:
		return pol, fmt.Errorf("websocket: negative duration (max_duration %s, idle_timeout %s, ping_interval %s)",
			pol.MaxDuration, pol.IdleTimeout, pol.PingInterval)
	case p.GetPingInterval() != nil && pol.PingInterval < 100*time.Millisecond && pol.PingInterval > 0:
		return pol, fmt.Errorf("websocket: ping_interval %s is under 100ms", pol.PingInterval)
	}
	return pol, nil
}

// IsUpgrade reports whether r asks for a WebSocket over HTTP/1.1: a GET with "Connection:
// upgrade" and "Upgrade: websocket" (RFC 6455 section 4.1; both compared case-insensitively
// as tokens of lists).
//
// HTTP/2 has no Upgrade; WebSockets over HTTP/2 use extended CONNECT (RFC 8441). Go 1.26's
// net/http server has the code for it but switches it off (issue golang/go#71128): it neither
// advertises SETTINGS_ENABLE_CONNECT_PROTOCOL nor accepts a :protocol pseudo-header unless the
// process runs with GODEBUG=http2xconnect=1 in its environment, which only net/http's init
// reads (no http.Server or HTTP2Config field, and no //go:debug setting). Browsers therefore
// fall back to HTTP/1.1 for WebSockets: they open a separate TLS connection negotiating
// http/1.1 by ALPN, which the TLS listener serves. Over HTTP/3 (RFC 9220) likewise.
func IsUpgrade(r *http.Request) bool {
	return r.ProtoMajor == 1 && r.Method == http.MethodGet &&
		hasToken(r.Header["Connection"], "upgrade") &&
		hasToken(r.Header["Upgrade"], "websocket")
}

// hasToken reports whether a header's comma-separated lists hold token, case-insensitively
// ("Connection: keep-alive, Upgrade" is what Firefox sends).
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
