// Package headers is the route's header policy (#25): headers added to and removed from the
// request before it is proxied and the response on its way to the client, security and CORS
// presets, and CORS preflight answers given by the edge itself.
//
// A Policy is compiled once per route and snapshot by New, which validates everything: header
// names are HTTP tokens, values hold no CR, LF or other control characters, variables are known,
// and hop-by-hop headers (Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
// Transfer-Encoding, Upgrade and the like) cannot be added, since they describe one connection
// and are never forwarded: the backend client (package proxy) removes them, and the names a
// Connection header lists, from both the request and the response. Content-Length and Content-Encoding cannot be
// added or removed either: they frame the body, which the proxy and the compression policy own.
//
// Values may hold the variables ${client_ip}, ${request_id}, ${host} and ${scheme}. They are
// split into literal and variable parts at compile time, so a request pays one string
// concatenation per templated header and nothing for constant ones.
//
// # Order of operations
//
// The preset is expanded first; then the explicit lists override it: an explicit add replaces
// the preset's value for that header (and cancels a preset's removal of it), an explicit remove
// drops the preset's header. At request time, removals run before additions, so a header both
// removed and added is replaced by the configured value whatever the backend sent.
package headers

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"golang.org/x/net/http/httpguts"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Vars are the values of the variables a header value may use, for one request.
type Vars struct {
	ClientIP  string // ${client_ip}: the client's address, unmasked (it goes to the backend)
	RequestID string // ${request_id}
	Host      string // ${host}: the Host the client asked for
	Scheme    string // ${scheme}: "https" or "http"
	// Origin is the request's Origin header, to answer CORS with a list of allowed origins.
	Origin string
}

// VarsFrom fills Vars from r: Host, Scheme (https when r came over TLS) and Origin. The
// client IP and the request id come from the edge, which knows them.
func VarsFrom(r *http.Request, clientIP, requestID string) Vars {
	v := Vars{ClientIP: clientIP, RequestID: requestID, Host: r.Host, Scheme: "http",
		Origin: r.Header.Get("Origin")}
	if r.TLS != nil {
		v.Scheme = "https"
	}
	return v
}

// Policy is a route's compiled header policy. It is immutable and safe for concurrent use.
// A nil *Policy does nothing.
type Policy struct {
	reqRemove  []string // canonical names
	reqSet     []setOp
	respRemove []string
	respSet    []setOp
	cors       *cors // nil unless the response headers set Access-Control-Allow-Origin
}

// setOp sets one header to a (templated) value.
type setOp struct {
	key string // canonical name
	tpl template
	// ifAbsent sets the header only when the response has none (the api preset's default
	// Content-Type).
	ifAbsent bool
}

// hopByHop are the headers of one connection (RFC 9110 section 7.6.1), never forwarded.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// framing are headers that describe the body's encoding and length, which the proxy manages.
var framing = []string{"Content-Length", "Content-Encoding"}

// New compiles the header policy of a route. A nil or empty cfg gives a nil Policy, which does
// nothing.
func New(cfg *proxyv1.Headers) (*Policy, error) {
	if cfg == nil {
		return nil, nil
	}
	var pre preset
	if cfg.GetPreset() != "" {
		var ok bool
		if pre, ok = presets[cfg.GetPreset()]; !ok {
			return nil, fmt.Errorf("headers: unknown preset %q (want one of %s)", cfg.GetPreset(),
				strings.Join(presetNames(), ", "))
		}
	}
	p := &Policy{}
	var err error
	if p.reqRemove, p.reqSet, err = compileOps("request", nil, cfg.GetRequest()); err != nil {
		return nil, err
	}
	if p.respRemove, p.respSet, err = compileOps("response", &pre, cfg.GetResponse()); err != nil {
		return nil, err
	}
	// Access-Control-Allow-Origin is answered per request (a list echoes the matching
	// origin), so it leaves the constant operations for the cors part.
	if i := slices.IndexFunc(p.respSet, func(op setOp) bool { return op.key == hdrAllowOrigin }); i >= 0 {
		op := p.respSet[i]
		if len(op.tpl.parts) != 0 {
			return nil, fmt.Errorf("headers: response.add %s: variables are not allowed here", hdrAllowOrigin)
		}
		if p.cors, err = newCORS(op.tpl.lit[0], p.respSet); err != nil {
			return nil, err
		}
		p.respSet = slices.Delete(p.respSet, i, i+1)
	}
	if len(p.reqRemove) == 0 && len(p.reqSet) == 0 && len(p.respRemove) == 0 &&
		len(p.respSet) == 0 && p.cors == nil {
		return nil, nil
	}
	return p, nil
}

// compileOps merges a preset (response side only) with the explicit operations of one
// direction and validates them.
func compileOps(dir string, pre *preset, ops *proxyv1.HeaderOps) (remove []string, set []setOp, err error) {
	setVals := map[string]string{}
	ifAbsent := map[string]bool{}
	removed := map[string]bool{}
	if pre != nil {
		for k, v := range pre.set {
			setVals[k] = v
		}
		for k := range pre.ifAbsent {
			ifAbsent[k] = true
			setVals[k] = pre.ifAbsent[k]
		}
		for _, k := range pre.remove {
			removed[k] = true
		}
	}
	explicitRemove := map[string]bool{}
	for _, name := range ops.GetRemove() {
		key, err := checkName(dir, "remove", name)
		if err != nil {
			return nil, nil, err
		}
		explicitRemove[key] = true
		removed[key] = true
		delete(setVals, key) // remove wins over the preset's header
		delete(ifAbsent, key)
	}
	for name, value := range ops.GetAdd() {
		key, err := checkName(dir, "add", name)
		if err != nil {
			return nil, nil, err
		}
		if slices.Contains(hopByHop, key) {
			return nil, nil, fmt.Errorf("headers: %s.add %q: a hop-by-hop header describes one connection and is never forwarded", dir, name)
		}
		if !httpguts.ValidHeaderFieldValue(value) || strings.ContainsAny(value, "\r\n") {
			return nil, nil, fmt.Errorf("headers: %s.add %s: value %q holds a control character (CR, LF, ...)", dir, name, value)
		}
		setVals[key] = value
		delete(ifAbsent, key)
		if !explicitRemove[key] {
			delete(removed, key) // an explicit add cancels the preset's removal
		}
	}
	for key := range removed {
		remove = append(remove, key)
	}
	sort.Strings(remove)
	keys := make([]string, 0, len(setVals))
	for k := range setVals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		tpl, err := parseTemplate(setVals[key])
		if err != nil {
			return nil, nil, fmt.Errorf("headers: %s.add %s: %w", dir, key, err)
		}
		if dir == "request" && key == "Host" && len(tpl.parts) == 0 && tpl.lit[0] == "" {
			return nil, nil, fmt.Errorf("headers: request.add Host: empty value")
		}
		set = append(set, setOp{key: key, tpl: tpl, ifAbsent: ifAbsent[key]})
	}
	return remove, set, nil
}

// checkName validates a configured header name and returns its canonical form.
func checkName(dir, op, name string) (string, error) {
	if !httpguts.ValidHeaderFieldName(name) {
		return "", fmt.Errorf("headers: %s.%s: %q is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~ only)", dir, op, name)
	}
	key := http.CanonicalHeaderKey(name)
	if slices.Contains(framing, key) {
		return "", fmt.Errorf("headers: %s.%s %s: the body's framing is managed by the proxy", dir, op, key)
	}
	return key, nil
}

// ApplyRequest removes and sets the configured request headers on r before it is proxied.
// A configured Host sets r.Host, the Host the backend sees.
func (p *Policy) ApplyRequest(r *http.Request, v Vars) {
	if p == nil {
		return
	}
	for _, k := range p.reqRemove {
		delete(r.Header, k)
	}
	for i := range p.reqSet {
		op := &p.reqSet[i]
		if op.key == "Host" {
			r.Host = op.tpl.expand(&v)
			continue
		}
		r.Header[op.key] = op.tpl.values(&v)
	}
}

// ApplyResponse removes and sets the configured response headers on h, the headers about to
// be sent to the client. Call it once per response, when the backend's headers are final and
// before they are written (see the package README for where the edge calls it).
func (p *Policy) ApplyResponse(h http.Header, v Vars) {
	if p == nil {
		return
	}
	p.applyResponse(h, &v, false)
}

func (p *Policy) applyResponse(h http.Header, v *Vars, preflight bool) {
	for _, k := range p.respRemove {
		delete(h, k)
	}
	for i := range p.respSet {
		op := &p.respSet[i]
		if op.ifAbsent {
			if preflight {
				continue
			}
			if _, ok := h[op.key]; ok {
				continue
			}
		}
		h[op.key] = op.tpl.values(v)
	}
	if p.cors != nil {
		p.cors.applyOrigin(h, v.Origin)
	}
}

// IsPreflight reports whether r is a CORS preflight request the policy answers itself: an
// OPTIONS request with Origin and Access-Control-Request-Method, on a route whose response
// headers set Access-Control-Allow-Origin.
func (p *Policy) IsPreflight(r *http.Request) bool {
	return p != nil && p.cors != nil && r.Method == http.MethodOptions &&
		r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// ServePreflight answers a CORS preflight request without the backend when IsPreflight(r):
// 204 No Content with the route's response headers, CORS ones included, and reports whether it
// did. An origin not in the configured list gets the 204 without Access-Control-Allow-Origin,
// which the browser takes as a refusal.
func (p *Policy) ServePreflight(w http.ResponseWriter, r *http.Request, v Vars) bool {
	if !p.IsPreflight(r) {
		return false
	}
	if v.Origin == "" {
		v.Origin = r.Header.Get("Origin")
	}
	h := w.Header()
	p.applyResponse(h, &v, true)
	p.cors.preflight(h, r)
	w.WriteHeader(http.StatusNoContent)
	return true
}

var errEmptyVar = errors.New("empty variable name in ${}")
