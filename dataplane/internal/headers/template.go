package headers

import (
	"fmt"
	"strings"
)

// variable is one of the values a header template can refer to.
type variable uint8

const (
	varClientIP variable = iota
	varRequestID
	varHost
	varScheme
)

var variables = map[string]variable{
	"client_ip":  varClientIP,
	"request_id": varRequestID,
	"host":       varHost,
	"scheme":     varScheme,
}

func (v variable) value(vars *Vars) string {
	switch v {
	case varClientIP:
		return vars.ClientIP
	case varRequestID:
		return vars.RequestID
	case varHost:
		return vars.Host
	default:
		return vars.Scheme
	}
}

// template is a header value split at its variables: lit[0] parts[0] lit[1] parts[1] ...
// lit[n]. A value without variables has no parts and its values slice is built once.
type template struct {
	lit    []string
	parts  []variable
	litLen int
	// constant is []string{lit[0]} for a value without variables, shared by every response.
	// Header values slices have capacity 1, so an append (http.Header.Add) copies rather than
	// writes into it; nothing in the request path assigns to an element of it.
	constant []string
}

// parseTemplate splits s at ${name}. A "$" not followed by "{" is literal; "${" without "}"
// and unknown names are errors, so that a typo does not reach clients.
func parseTemplate(s string) (template, error) {
	var t template
	rest := s
	var cur strings.Builder
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			cur.WriteString(rest)
			break
		}
		cur.WriteString(rest[:i])
		rest = rest[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return template{}, fmt.Errorf("unterminated variable in %q", s)
		}
		name := rest[:j]
		if name == "" {
			return template{}, errEmptyVar
		}
		v, ok := variables[name]
		if !ok {
			return template{}, fmt.Errorf("unknown variable ${%s} (want ${client_ip}, ${request_id}, ${host} or ${scheme})", name)
		}
		t.lit = append(t.lit, cur.String())
		t.litLen += cur.Len()
		cur.Reset()
		t.parts = append(t.parts, v)
		rest = rest[j+1:]
	}
	t.lit = append(t.lit, cur.String())
	t.litLen += cur.Len()
	if len(t.parts) == 0 {
		t.constant = []string{t.lit[0]}
	}
	return t, nil
}

// expand returns the value for one request.
func (t *template) expand(v *Vars) string {
	if len(t.parts) == 0 {
		return t.lit[0]
	}
	if len(t.parts) == 1 && t.lit[0] == "" && t.lit[1] == "" {
		return t.parts[0].value(v)
	}
	n := t.litLen
	for _, p := range t.parts {
		n += len(p.value(v))
	}
	var b strings.Builder
	b.Grow(n)
	for i, p := range t.parts {
		b.WriteString(t.lit[i])
		b.WriteString(p.value(v))
	}
	b.WriteString(t.lit[len(t.lit)-1])
	return b.String()
}

// values returns the header's values slice for one request.
func (t *template) values(v *Vars) []string {
	if t.constant != nil {
		return t.constant
	}
	return []string{t.expand(v)}
}
