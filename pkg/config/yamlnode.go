package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

const (
	// maxFileSize bounds a configuration file; real ones are a few kilobytes.
	maxFileSize = 1 << 20
	// maxNodes bounds the nodes of a document after aliases are expanded (a "billion laughs"
	// document is small on disk and huge once expanded).
	maxNodes = 100_000
)

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocument parses data as one YAML document and returns its root with aliases and
// merge keys ("<<") expanded and duplicate keys reported, so that the rest of the package
// sees a plain tree in which every node still has the position it was written at. It returns
// nil for an empty document and on syntax errors (which it reports).
func parseDocument(d *decoder, data []byte) *yaml.Node {
	if len(data) > maxFileSize {
		d.errs.add(Error{File: d.file, Msg: fmt.Sprintf("file is %d bytes, more than the limit of %d", len(data), maxFileSize)})
		return nil
	}
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			i += size
		}
		line, col := position(data, i)
		d.errs.add(Error{File: d.file, Line: line, Column: col, Msg: "file is not valid UTF-8"})
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := safeDecode(dec, &doc); err != nil {
		if !errors.Is(err, io.EOF) {
			d.syntaxError(data, err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := safeDecode(dec, &extra); {
	case err == nil:
		n := &extra
		if len(extra.Content) > 0 {
			n = extra.Content[0]
		}
		d.errs.add(Error{File: d.file, Line: n.Line, Column: n.Column,
			Msg: "a second YAML document (after ---) is not allowed: one file holds one configuration"})
		return nil
	case !errors.Is(err, io.EOF):
		d.syntaxError(data, err)
		return nil
	}
	if len(doc.Content) == 0 {
		return nil
	}
	x := expander{d: d, budget: maxNodes, active: map[*yaml.Node]bool{}}
	return x.expand(doc.Content[0])
}

// safeDecode turns a panic of the YAML library on hostile input into an error: a bad file
// must never take the control plane down.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	return dec.Decode(n)
}

// syntaxError reports a YAML syntax error. The library gives the line but not the column;
// the column is that of the first character on that line.
func (d *decoder) syntaxError(data []byte, err error) {
	msg := err.Error()
	line := 0
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	col := 0
	if line > 0 {
		col = 1
		lines := bytes.Split(data, []byte("\n"))
		if line <= len(lines) {
			l := lines[line-1]
			col = len(l) - len(bytes.TrimLeft(l, " \t")) + 1
		}
	}
	d.errs.add(Error{File: d.file, Line: line, Column: col, Msg: "YAML syntax error: " + msg})
}

// position converts a byte offset into a 1-based line and column (in characters).
func position(data []byte, off int) (line, col int) {
	line, start := 1, 0
	for i := 0; i < off && i < len(data); i++ {
		if data[i] == '\n' {
			line++
			start = i + 1
		}
	}
	return line, utf8.RuneCount(data[start:min(off, len(data))]) + 1
}

// expander copies a node tree, replacing aliases by (copies of) what they refer to and
// merge keys by the keys they bring in.
type expander struct {
	d      *decoder
	budget int
	active map[*yaml.Node]bool // anchors being expanded, to detect an alias inside its anchor
	failed bool
}

func (x *expander) expand(n *yaml.Node) *yaml.Node {
	if x.failed {
		return nil
	}
	x.budget--
	if x.budget < 0 {
		x.failed = true
		x.d.failf(n, "", "document has more than %d values once aliases are expanded", maxNodes)
		return nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return x.expand(n.Content[0])
	case yaml.AliasNode:
		if n.Alias == nil {
			x.d.failf(n, "", "unknown anchor %q", n.Value)
			return nil
		}
		if x.active[n.Alias] {
			x.d.failf(n, "", "alias *%s refers to a value that contains it", n.Value)
			return nil
		}
		x.active[n.Alias] = true
		defer delete(x.active, n.Alias)
		return x.expand(n.Alias)
	case yaml.SequenceNode:
		c := *n
		c.Anchor = ""
		c.Content = make([]*yaml.Node, 0, len(n.Content))
		for _, item := range n.Content {
			if e := x.expand(item); e != nil {
				c.Content = append(c.Content, e)
			}
		}
		return &c
	case yaml.MappingNode:
		return x.mapping(n)
	default:
		c := *n
		c.Anchor = ""
		return &c
	}
}

func (x *expander) mapping(n *yaml.Node) *yaml.Node {
	c := *n
	c.Anchor = ""
	c.Content = nil
	seen := map[string]*yaml.Node{}
	var merged []*yaml.Node // pairs brought in by merge keys, first source wins
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			merged = append(merged, x.mergeSources(v)...)
			continue
		}
		if k.Kind == yaml.ScalarNode {
			if prev, ok := seen[k.Value]; ok {
				x.d.failf(k, "", "key %q is already defined at line %d", k.Value, prev.Line)
				continue
			}
			seen[k.Value] = k
		}
		ek, ev := x.expand(k), x.expand(v)
		if ek == nil || ev == nil {
			continue
		}
		c.Content = append(c.Content, ek, ev)
	}
	for i := 0; i+1 < len(merged); i += 2 {
		k := merged[i]
		if _, ok := seen[k.Value]; ok {
			continue
		}
		seen[k.Value] = k
		c.Content = append(c.Content, merged[i], merged[i+1])
	}
	return &c
}

// mergeSources expands the value of a merge key: a mapping, or a list of mappings.
func (x *expander) mergeSources(v *yaml.Node) []*yaml.Node {
	e := x.expand(v)
	if e == nil {
		return nil
	}
	var out []*yaml.Node
	switch e.Kind {
	case yaml.MappingNode:
		out = append(out, e.Content...)
	case yaml.SequenceNode:
		for _, item := range e.Content {
			if item.Kind != yaml.MappingNode {
				x.d.failf(item, "", "a merge key (<<) takes a mapping or a list of mappings")
				continue
			}
			out = append(out, item.Content...)
		}
	default:
		x.d.failf(v, "", "a merge key (<<) takes a mapping or a list of mappings")
	}
	return out
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// overlay lays over on top of base: mappings are merged key by key (recursively), anything
// else in over replaces base; a null or missing value in over keeps base. The trees are not
// modified; unchanged subtrees are shared.
func overlay(base, over *yaml.Node) *yaml.Node {
	if isNull(over) {
		return base
	}
	if isNull(base) || base.Kind != yaml.MappingNode || over.Kind != yaml.MappingNode {
		return over
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: over.Line, Column: over.Column}
	overVals := map[string]int{}
	for i := 0; i+1 < len(over.Content); i += 2 {
		overVals[over.Content[i].Value] = i
	}
	used := map[string]bool{}
	for i := 0; i+1 < len(base.Content); i += 2 {
		k := base.Content[i]
		if j, ok := overVals[k.Value]; ok {
			out.Content = append(out.Content, over.Content[j], overlay(base.Content[i+1], over.Content[j+1]))
			used[k.Value] = true
			continue
		}
		out.Content = append(out.Content, k, base.Content[i+1])
	}
	for i := 0; i+1 < len(over.Content); i += 2 {
		if !used[over.Content[i].Value] {
			out.Content = append(out.Content, over.Content[i], over.Content[i+1])
		}
	}
	return out
}

// describe names the kind of a node for "expected X, found Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int":
			return "an integer (" + n.Value + ")"
		case "!!float":
			return "a number (" + n.Value + ")"
		}
		return strconv.Quote(n.Value)
	}
	return "a value"
}

// mappingNode builds a synthetic mapping from pairs, positioned at at.
func mappingNode(at *yaml.Node, pairs []*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: at.Line, Column: at.Column, Content: pairs}
}
