package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Decoders of the value types with their own syntax.

// headerVariables are the ${name} placeholders a header value may use.
var headerVariables = []string{"client_ip", "request_id", "host", "scheme"}

// decodeNode reads one host name or a list of them.
func (h *Hosts) decodeNode(d *decoder, n *yaml.Node, path string) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
		if len(items) == 0 {
			d.failf(n, path, "must list at least one host")
			return
		}
	}
	seen := map[string]bool{}
	for i, item := range items {
		p := path
		if n.Kind == yaml.SequenceNode {
			p = fmt.Sprintf("%s[%d]", path, i)
		}
		if item.Kind != yaml.ScalarNode || item.ShortTag() == "!!null" {
			d.failf(item, p, "expected a host name, found %s", describe(item))
			continue
		}
		host, err := normalizeHost(item.Value)
		if err != nil {
			d.failf(item, p, "%v", err)
			continue
		}
		if seen[host] {
			d.failf(item, p, "host %q is listed twice", host)
			continue
		}
		seen[host] = true
		*h = append(*h, host)
	}
}

// decodeNode reads header names and values, checking both.
func (m *HeaderMap) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		d.failf(n, path, "expected a mapping of header names to values, found %s", describe(n))
		return
	}
	*m = HeaderMap{}
	seen := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !isToken(k.Value) || k.Kind != yaml.ScalarNode {
			d.failf(k, path, "%q is not a valid header name", k.Value)
			continue
		}
		if prev, ok := seen[strings.ToLower(k.Value)]; ok {
			d.failf(k, path, "header %q is already set as %q (header names ignore case)", k.Value, prev)
			continue
		}
		seen[strings.ToLower(k.Value)] = k.Value
		p := join(path, k.Value)
		val, ok := d.scalar(v, p)
		if !ok {
			continue
		}
		if err := checkHeaderValue(val); err != nil {
			d.failf(v, p, "%v", err)
			continue
		}
		(*m)[k.Value] = val
	}
}

func checkHeaderValue(v string) error {
	for _, c := range v {
		if c == '\r' || c == '\n' || c == 0 {
			return fmt.Errorf("header value must not contain line breaks or NUL")
		}
	}
	rest := v
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			return nil
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return fmt.Errorf("unterminated ${ in header value %q", v)
		}
		name := rest[i+2 : i+end]
		if !contains(headerVariables, name) {
			return fmt.Errorf("unknown variable ${%s} (want ${%s})%s", name, strings.Join(headerVariables, "}, ${"), didYouMean(name, headerVariables))
		}
		rest = rest[i+end+1:]
	}
}

// decodeNode reads a list of header names.
func (h *HeaderNames) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.SequenceNode {
		d.failf(n, path, "expected a list of header names, found %s", describe(n))
		return
	}
	seen := map[string]bool{}
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		if item.Kind != yaml.ScalarNode || !isToken(item.Value) {
			d.failf(item, p, "%s is not a valid header name", describe(item))
			continue
		}
		if seen[strings.ToLower(item.Value)] {
			d.failf(item, p, "header %q is listed twice", item.Value)
			continue
		}
		seen[strings.ToLower(item.Value)] = true
		*h = append(*h, item.Value)
	}
}

// decodeNode reads IP addresses and CIDR networks.
func (l *PrefixList) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.SequenceNode {
		d.failf(n, path, "expected a list of IP addresses or CIDR networks, found %s", describe(n))
		return
	}
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		if item.Kind != yaml.ScalarNode {
			d.failf(item, p, "expected an IP address or CIDR network, found %s", describe(item))
			continue
		}
		pfx, err := parsePrefix(item.Value)
		if err != nil {
			d.failf(item, p, "%v", err)
			continue
		}
		*l = append(*l, pfx)
	}
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR network such as 10.0.0.0/8", s)
		}
		if m := p.Masked(); m != p {
			return netip.Prefix{}, fmt.Errorf("%q has bits set after the prefix length; did you mean %q?", s, m.String())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR network", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// decodeNode reads retry conditions and status codes.
func (r *RetryOn) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.SequenceNode {
		d.failf(n, path, "expected a list of conditions (connection_refused, timeout or a status code 500-599), found %s", describe(n))
		return
	}
	*r = RetryOn{}
	seen := map[string]bool{}
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		v := item.Value
		switch {
		case item.Kind != yaml.ScalarNode || item.ShortTag() == "!!null":
			d.failf(item, p, "expected connection_refused, timeout or a status code 500-599, found %s", describe(item))
			continue
		case isDigits(v):
			if code, err := strconv.Atoi(v); err != nil || code < 500 || code > 599 {
				d.failf(item, p, "status %s cannot be retried (want 500-599)", v)
				continue
			}
		case !contains(retryConditions, v):
			d.failf(item, p, "invalid condition %q (want connection_refused, timeout or a status code 500-599)%s", v, didYouMean(v, retryConditions))
			continue
		}
		if seen[v] {
			d.failf(item, p, "%q is listed twice", v)
			continue
		}
		seen[v] = true
		*r = append(*r, v)
	}
}

// decodeNode reads status codes and template files; a relative file is resolved against the
// directory of the configuration file that names it.
func (e *ErrorPages) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		d.failf(n, path, "expected a mapping of status codes to files, found %s", describe(n))
		return
	}
	*e = ErrorPages{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		code, err := strconv.Atoi(k.Value)
		if k.Kind != yaml.ScalarNode || err != nil {
			d.failf(k, path, "key %s is not a status code", describe(k))
			continue
		}
		if code < 400 || code > 599 {
			d.failf(k, path, "status %d has no error page (want 400-599)", code)
			continue
		}
		p := join(path, k.Value)
		file, ok := d.scalar(v, p)
		if !ok {
			continue
		}
		if file == "" || isNull(v) {
			d.failf(v, p, "missing file name")
			continue
		}
		if !filepath.IsAbs(file) {
			file = filepath.Join(filepath.Dir(d.fileOf(v)), file)
		}
		(*e)[code] = file
	}
}
