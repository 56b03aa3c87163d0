package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/clientip"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/headers"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/limits"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/slowreq"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// exchange is the state of one request on its way through ServeHTTP, allocated once.
type exchange struct {
	start     time.Time
	r         *http.Request
	requestID string
	w         responseWriter
	body      countingBody
	runtime   *Runtime // nil before the first snapshot
	route     *Route   // nil when no route matched
	err       error
	tunnel    *tunnel       // an upgraded WebSocket to relay after the request's event
	retries   uint32        // backend retries, counted by the retry middleware
	firstByte time.Duration // from the start to the response's final status
	timeout   string        // a timeout the edge itself enforced ("slow_request")
	slow      string        // "warning" or "critical"
	encoding  string        // compression applied, and the bytes it saved
	saved     int64
	// clientIP is the client's address without port, as the security policies see it: the
	// peer, or through trusted proxies the address they forwarded (clientip). clientAddr is the
	// same address parsed (invalid when unknown); client also has the chain for the backend.
	clientIP   string
	clientAddr netip.Addr
	client     clientip.Client
	// country and city are the client's, from GeoIP ("" when off or unknown).
	country, city string
	// bodyLimit is the route's limit on a body of unknown length, nil when none applies.
	bodyLimit *limits.LimitedBody
	// blockedBy names the security policy that answered instead of the backend.
	blockedBy string
	// What beforeHeader does when the final status goes out: the route's response headers
	// (headers non-nil, with vars) and, when timed, the end of the slow-request timeout. Fields
	// rather than closures, which would cost two allocations per request.
	headers  *headers.Policy
	vars     headers.Vars
	deadline slowreq.Deadline
	timed    bool
}

// beforeHeader runs once, just before the response's final status goes out (responseWriter.hook):
// the backend responded, so the slow-request timeout stops and the time to first byte is known,
// and the route's response headers apply, to backend responses and error pages alike.
func (x *exchange) beforeHeader(h http.Header) {
	if x.timed {
		x.deadline.Responded()
		x.firstByte = time.Since(x.start)
	}
	if x.headers != nil {
		x.headers.ApplyResponse(h, x.vars)
	}
}

// begin sets the request id on the request (for the backend) and the response, loads the
// Runtime and finds the client with it, and wraps the response writer and request body to
// count what passes.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request) *exchange {
	x := &exchange{start: time.Now(), r: r}
	x.requestID = h.ids.FromHeader(r.Header.Get(requestid.Header))
	// One slice for both; its capacity is its length, so an append to either copies it.
	id := []string{x.requestID}
	r.Header[requestid.Header] = id
	w.Header()[requestid.Header] = id
	x.w = responseWriter{rw: w}
	// The client, as the snapshot's trusted_proxies decide, for every step after this one.
	x.runtime = h.runtimes.Load()
	x.client = x.runtime.resolveClient(r)
	x.clientIP, x.clientAddr = x.client.IP, x.client.Addr
	if x.client.ForwardedFor != "" {
		// Through trusted proxies: the backend is told the chain (proxy.WithClient).
		x.setContext(proxy.WithClient(r.Context(), &x.client))
		r = x.r
	}
	if r.Body != nil && r.Body != http.NoBody {
		x.body.rc = r.Body
		r.Body = &x.body
	}
	return x
}

// Limits on client-controlled strings in an event, so that a queue of events has a bounded
// size however long the requests' paths and headers were.
const (
	maxHostLen      = 255
	maxPathLen      = 2048
	maxUserAgentLen = 512
	maxErrorLen     = 1024
)

// finish pushes the request's event. It is deferred by ServeHTTP, so it also sees a panic;
// it records it and panics on, so that net/http still aborts the connection (and logs any
// panic other than http.ErrAbortHandler).
func (h *Handler) finish(x *exchange) {
	p := recover()
	if p != nil {
		if x.err == nil { // a cut the proxy already explained (a timeout, a size limit) keeps its reason
			x.err = errAborted(x.r.Context(), p)
		}
		if !x.w.wroteHeader {
			x.w.status = http.StatusInternalServerError // the client gets a closed connection
		}
	}
	ev := h.event(x)
	h.count(x, ev) // metrics.go
	// ev is the sink's from here on: events.Queue recycles it once the control plane has it.
	h.events.Push(ev)
	if p != nil {
		panic(p)
	}
}

// event describes the finished request.
func (h *Handler) event(x *exchange) *proxyv1.RequestEvent {
	status := x.w.status
	if status == 0 {
		status = http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	logging, masker := h.defaultLogging, h.defaultMasker
	if x.route != nil {
		logging, masker = x.route.logging, x.route.masker
	}
	// The route's logging policy, applied before the event leaves the data plane.
	kept := detach([...]string{x.requestID, clean(x.r.Method, 32), clean(x.r.Host, maxHostLen), h.storedPath(x), clean(logging.UserAgent(x.r.UserAgent()), maxUserAgentLen)})
	id, method, host, path, ua := kept[0], kept[1], kept[2], kept[3], kept[4]
	// A recycled event: it comes back empty, and goes back only when nothing holds it any more.
	ev := events.NewRequestEvent(x.start, time.Since(x.start))
	ev.RequestId = id
	ev.Host = host
	ev.Method = method
	ev.Path = path
	ev.Status = int32(status)
	ev.BytesIn = x.body.n.Load()
	ev.BytesOut = x.w.bytes
	ev.UserAgent = ua
	ev.Protocol = x.r.Proto
	if x.route != nil {
		ev.RouteId = x.route.id
		ev.Backend = x.route.backendURL
	}
	ev.ClientIp = masker.MaskAt(x.clientAddr, x.start)
	if x.runtime != nil {
		ev.SnapshotVersion = x.runtime.version
	}
	ev.RetryCount = atomic.LoadUint32(&x.retries)
	ev.ContentEncoding, ev.BytesSavedCompression = x.encoding, x.saved
	if x.err != nil {
		ev.Error = clean(x.err.Error(), maxErrorLen)
		var pe *proxy.Error
		if errors.As(x.err, &pe) {
			ev.Timeout = pe.Timeout()
		}
	}
	if x.timeout != "" {
		ev.Timeout = x.timeout
	}
	ev.Slow = x.slow
	ev.Country, ev.City, ev.BlockedBy = x.country, x.city, x.blockedBy
	return ev
}

// storedPath is the request's path as its route's logging policy lets it be stored
// (redact_paths, mask_pii), cut to maxPathLen. It is masked before it is cut, so that a cut
// cannot shorten a token below what the masker recognises.
func (h *Handler) storedPath(x *exchange) string {
	logging := h.defaultLogging
	if x.route != nil {
		logging = x.route.logging
	}
	return clean(logging.Path(x.r.URL.Path), maxPathLen)
}

// detach copies the request strings an event keeps into one allocation of their own. The HTTP/1.1
// server parses a request head into one string that they point into, and the event queue would
// otherwise keep every whole head (cookies and all) alive until the control plane has the event:
// the path, host and user agent, and also a request id the client sent and a method h1 does not
// intern.
func detach(strs [5]string) [5]string {
	n := 0
	for _, s := range strs {
		n += len(s)
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range strs {
		b.WriteString(s)
	}
	all := b.String()
	for i, s := range strs {
		strs[i], all = all[:len(s)], all[len(s):]
	}
	return strs
}

// errAborted explains a request that ended in a panic: normally the http.ErrAbortHandler the
// edge raises when copying the response body failed on one side.
func errAborted(ctx context.Context, p any) error {
	switch {
	case p != http.ErrAbortHandler:
		return fmt.Errorf("response aborted: panic: %v", p)
	case ctx.Err() != nil:
		return errors.New("response aborted: client went away")
	default:
		return errors.New("response aborted: backend response broke off")
	}
}

// clean makes s valid UTF-8, which protobuf strings must be (a path or header can hold any
// bytes), and cuts it to at most max bytes on a character boundary.
func clean(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) > max {
		i := max
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return s
}

// countingBody counts the request body bytes read. The transport may still be reading the
// body while the handler finishes, hence the atomic counter.
type countingBody struct {
	rc io.ReadCloser
	n  atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }
