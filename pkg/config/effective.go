package config

import (
	"bytes"
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Origins of values in the effective configuration (besides "FILE:LINE" for the site file
// and "global FILE:LINE" for the global file).
const (
	originBuiltin = "built-in"         // the built-in defaults layer
	originDefault = "built-in default" // filled in by a section's check (waf.mode, ...)
)

// EffectiveYAML writes the site as it will run: its tier and audit level, and for each route
// the effective policy after every layer (built-in defaults, global defaults, tier, site,
// route) and the defaults of enabled sections. Each value has a comment saying where it
// comes from: "built-in", "global FILE:LINE", "tier NAME", "FILE:LINE" (the site file), or
// "built-in default" (filled in because its section is on). Sections that no layer writes
// are left out: their feature is off.
func (s *Site) EffectiveYAML() ([]byte, error) {
	e := effective{site: s}
	doc := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, v *yaml.Node) { doc.Content = append(doc.Content, str(key), v) }
	add("site", str(s.Name))
	add("file", str(s.File))
	add("enabled", scalar("!!bool", strconv.FormatBool(s.Enabled)))
	if s.Tier != "" {
		add("tier", e.annotate(str(s.Tier), s.tierAt, ""))
	}
	auditFrom := "tier " + s.Tier
	if s.Tier == "" {
		auditFrom = originDefault
	}
	add("audit", e.annotate(str(s.Audit), s.auditAt, auditFrom))
	routes := &yaml.Node{Kind: yaml.SequenceNode}
	for i, r := range s.Routes {
		m := &yaml.Node{Kind: yaml.MappingNode}
		hosts := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, h := range r.Hosts {
			hosts.Content = append(hosts.Content, str(h))
		}
		m.Content = append(m.Content,
			str("route"), scalarComment(str(r.Hosts[0]+r.Path), fmt.Sprintf("%s:%d", s.File, r.Line)),
			str("hosts"), hosts,
			str("path"), str(r.Path),
			str("backend"), str(r.Backend),
			str("policy"), e.value(reflect.ValueOf(r.Policy), e.tree(i)))
		routes.Content = append(routes.Content, m)
	}
	add("routes", routes)

	var b bytes.Buffer
	b.WriteString("# Effective configuration: each value says where it comes from (built-in, global FILE:LINE,\n" +
		"# tier NAME, the site FILE:LINE, or \"built-in default\" of a section that is on).\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("effective configuration of %s: %w", s.File, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("effective configuration of %s: %w", s.File, err)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		b.WriteByte('\n') // the encoder ends on a comment without one
	}
	return b.Bytes(), nil
}

type effective struct{ site *Site }

// tree returns route i's policy as written (nil for a Site not made by this package).
func (e effective) tree(i int) *yaml.Node {
	if i < len(e.site.trees) {
		return e.site.trees[i]
	}
	return nil
}

// from names where node n was written.
func (e effective) from(n *yaml.Node) string {
	f, ok := e.site.origin[n]
	switch {
	case !ok:
		return fmt.Sprintf("%s:%d", e.site.File, n.Line)
	case f == builtinFile:
		return originBuiltin
	case strings.HasPrefix(f, "<tier "):
		return "tier " + strings.TrimSuffix(strings.TrimPrefix(f, "<tier "), ">")
	}
	return fmt.Sprintf("global %s:%d", f, n.Line)
}

// annotate comments out with where src was written, or with fallback when src is nil.
func (e effective) annotate(out, src *yaml.Node, fallback string) *yaml.Node {
	if src != nil {
		return scalarComment(out, e.from(src))
	}
	return scalarComment(out, fallback)
}

var (
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	stringer      = reflect.TypeFor[fmt.Stringer]()
)

// value encodes v, whose source (when one layer wrote it) is src.
func (e effective) value(v reflect.Value, src *yaml.Node) *yaml.Node {
	if v.Type() == durationType {
		return e.annotate(str(FormatDuration(time.Duration(v.Int()))), src, originDefault)
	}
	if v.Type().Implements(textMarshaler) {
		t, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			t = []byte(err.Error())
		}
		return e.annotate(str(string(t)), src, originDefault)
	}
	if v.Type().Implements(stringer) && v.CanInt() {
		if v.Int() == 0 {
			return e.annotate(scalar("!!int", "0"), src, originDefault) // no limit, clearer than 0B
		}
		return e.annotate(str(v.Interface().(fmt.Stringer).String()), src, originDefault) // a Size
	}
	switch v.Kind() {
	case reflect.Pointer:
		return e.value(v.Elem(), src)
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode}
		fi := fieldsOf(v.Type())
		for _, name := range fi.names {
			f := v.Field(fi.index[name])
			if isUnset(f) {
				continue
			}
			m.Content = append(m.Content, str(name), e.value(f, valueOf(src, name)))
		}
		return m
	case reflect.Slice:
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range v.Len() {
			item := src // a list may be written as one value
			if src != nil && src.Kind == yaml.SequenceNode {
				item = nil
				if i < len(src.Content) {
					item = src.Content[i]
				}
			}
			seq.Content = append(seq.Content, e.value(v.Index(i), item))
		}
		return seq
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		m := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range keys {
			name := fmt.Sprint(k)
			m.Content = append(m.Content, str(name), e.value(v.MapIndex(k), valueOf(src, name)))
		}
		return m
	case reflect.String:
		return e.annotate(str(v.String()), src, originDefault)
	case reflect.Bool:
		return e.annotate(scalar("!!bool", strconv.FormatBool(v.Bool())), src, originDefault)
	case reflect.Int, reflect.Int32, reflect.Int64:
		return e.annotate(scalar("!!int", strconv.FormatInt(v.Int(), 10)), src, originDefault)
	}
	return e.annotate(str(fmt.Sprint(v.Interface())), src, originDefault)
}

// isUnset reports a section that no layer wrote, or an empty list or map: left out.
func isUnset(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		return v.IsNil() || v.Kind() != reflect.Pointer && v.Len() == 0
	}
	return false
}

func str(s string) *yaml.Node { return scalar("!!str", s) }

func scalar(tag, v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v} }

func scalarComment(n *yaml.Node, comment string) *yaml.Node {
	n.LineComment = comment
	return n
}
