package headers

import (
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

const (
	hdrAllowOrigin  = "Access-Control-Allow-Origin"
	hdrAllowMethods = "Access-Control-Allow-Methods"
	hdrAllowHeaders = "Access-Control-Allow-Headers"
)

// cors answers Access-Control-Allow-Origin per request: "*" and a single origin are sent as
// they are; a comma-separated list echoes the request's Origin when it is in the list (with
// Vary: Origin, since the answer depends on it) and sends none otherwise.
type cors struct {
	constant   []string // "*" or the one origin; nil for a list
	origins    []string // the list
	hasMethods bool     // Access-Control-Allow-Methods configured
	hasHeaders bool     // Access-Control-Allow-Headers configured
}

func newCORS(value string, set []setOp) (*cors, error) {
	c := &cors{}
	for _, op := range set {
		switch op.key {
		case hdrAllowMethods:
			c.hasMethods = true
		case hdrAllowHeaders:
			c.hasHeaders = true
		}
	}
	value = strings.TrimSpace(value)
	if !strings.Contains(value, ",") {
		if value == "" {
			return nil, fmt.Errorf("headers: response.add %s: empty value", hdrAllowOrigin)
		}
		c.constant = []string{value}
		return c, nil
	}
	for _, o := range strings.Split(value, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o == "*" {
			return nil, fmt.Errorf("headers: response.add %s: \"*\" cannot be part of a list", hdrAllowOrigin)
		}
		c.origins = append(c.origins, o)
	}
	return c, nil
}

// applyOrigin sets Access-Control-Allow-Origin for a request from origin.
func (c *cors) applyOrigin(h http.Header, origin string) {
	if c.constant != nil {
		h[hdrAllowOrigin] = c.constant
		return
	}
	addVary(h, "Origin")
	for _, o := range c.origins {
		// Origins are ASCII scheme://host[:port]; browsers send them lower case.
		if origin != "" && strings.EqualFold(o, origin) {
			h[hdrAllowOrigin] = []string{origin}
			return
		}
	}
	delete(h, hdrAllowOrigin)
}

// preflight completes the answer to a preflight request: when methods or headers are not
// configured, those the browser asks for are allowed (the response then varies by them).
func (c *cors) preflight(h http.Header, r *http.Request) {
	if !c.hasMethods {
		h[hdrAllowMethods] = []string{r.Header.Get("Access-Control-Request-Method")}
		addVary(h, "Access-Control-Request-Method")
	}
	if !c.hasHeaders {
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" && httpguts.ValidHeaderFieldValue(req) {
			h[hdrAllowHeaders] = []string{req}
		}
		addVary(h, "Access-Control-Request-Headers")
	}
}

// addVary adds token to the Vary header unless it is there already (or Vary is "*").
func addVary(h http.Header, token string) {
	for _, v := range h["Vary"] {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.EqualFold(t, token) {
				return
			}
		}
	}
	h["Vary"] = append(h["Vary"], token)
}
