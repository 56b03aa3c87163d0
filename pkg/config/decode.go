package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder turns node trees into the typed configuration. It replaces yaml.v3's own decoding
// because every problem must name its file, line and column, unknown keys must come with a
// suggestion, and all problems of a file are reported, not only the first.
//
// Struct fields are matched by their `yaml:"name"` tag. A struct that implements checker is
// checked (and given its defaults) right after its fields are decoded; a type that implements
// nodeDecoder decodes itself.
type decoder struct {
	file string
	root string // what the file is ("site", "global"), for messages about its top level
	errs *errorSink
	// origin names the file of nodes that came from another file (global defaults merged
	// under a site's own values).
	origin map[*yaml.Node]string
}

// nodeDecoder is implemented by types with their own syntax (Size, Schedule, Hosts, ...).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

// checker is implemented by structs that validate their decoded fields together.
type checker interface {
	check(s *section)
}

// keyHinter is implemented by structs that explain some unknown keys better than a
// suggestion by spelling can; hint returns a message suffix or "".
type keyHinter interface {
	hint(key string) string
}

var durationType = reflect.TypeFor[time.Duration]()

// fileOf is the file a node was written in.
func (d *decoder) fileOf(n *yaml.Node) string {
	if f, ok := d.origin[n]; ok {
		return f
	}
	return d.file
}

// failf reports a problem at node n. path, if not empty, names the value ("waf.mode") and
// prefixes the message.
func (d *decoder) failf(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.errs.add(Error{File: d.fileOf(n), Line: n.Line, Column: n.Column, Msg: msg})
}

// unknownKey reports a key that the mapping at path does not have.
func (d *decoder) unknownKey(k *yaml.Node, where string, known []string) {
	d.failf(k, "", "unknown key %q in %s%s", k.Value, where, didYouMean(k.Value, known))
}

// decode decodes n into v (a pointer); a nil n leaves v as it is.
func (d *decoder) decode(n *yaml.Node, path string, v any) {
	if n == nil {
		return
	}
	d.value(n, path, reflect.ValueOf(v).Elem())
}

func (d *decoder) value(n *yaml.Node, path string, v reflect.Value) {
	if v.CanAddr() {
		if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
			nd.decodeNode(d, n, path)
			return
		}
	}
	if v.Type() == durationType {
		if dur, ok := d.duration(n, path); ok {
			v.SetInt(int64(dur))
		}
		return
	}
	if v.Type() == reflect.TypeFor[*yaml.Node]() {
		v.Set(reflect.ValueOf(n))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		p := reflect.New(v.Type().Elem())
		d.value(n, path, p.Elem())
		v.Set(p)
	case reflect.Struct:
		d.structure(n, path, v)
	case reflect.Slice:
		d.slice(n, path, v)
	case reflect.String:
		if s, ok := d.scalar(n, path); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if b, ok := d.boolean(n, path); ok {
			v.SetBool(b)
		}
	case reflect.Int, reflect.Int32, reflect.Int64:
		if i, ok := d.integer(n, path); ok {
			if v.OverflowInt(i) {
				d.failf(n, path, "%d is too large", i)
				return
			}
			v.SetInt(i)
		}
	default:
		d.failf(n, path, "internal error: no decoder for %s", v.Type())
	}
}

type fieldInfo struct {
	index map[string]int
	names []string
}

var fieldCache sync.Map // reflect.Type → *fieldInfo

func fieldsOf(t reflect.Type) *fieldInfo {
	if fi, ok := fieldCache.Load(t); ok {
		return fi.(*fieldInfo)
	}
	fi := &fieldInfo{index: map[string]int{}}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		fi.index[name] = i
		fi.names = append(fi.names, name)
	}
	fieldCache.Store(t, fi)
	return fi
}

// keysOf returns the yaml keys of a struct type, in declaration order.
func keysOf(v any) []string {
	return fieldsOf(reflect.TypeOf(v)).names
}

// section is a decoded mapping as its checker sees it: which keys were written (with a
// non-null value) and where, so that a problem is reported at the value it concerns.
type section struct {
	d    *decoder
	path string
	node *yaml.Node
	vals map[string]*yaml.Node
}

// has reports whether key was written with a value.
func (s *section) has(key string) bool { _, ok := s.vals[key]; return ok }

// empty reports whether no key was written.
func (s *section) empty() bool { return len(s.vals) == 0 }

// at returns the node of key's value, or the mapping itself when key is absent.
func (s *section) at(key string) *yaml.Node {
	if n, ok := s.vals[key]; ok {
		return n
	}
	return s.node
}

// errorf reports a problem with key's value (or with the mapping when key is "" or absent).
func (s *section) errorf(key, format string, args ...any) {
	path := s.path
	if key != "" && s.has(key) {
		path = join(path, key)
	}
	s.d.failf(s.at(key), path, format, args...)
}

// enum checks that key's value is one of allowed (the empty value is checked by the caller).
func (s *section) enum(key, val string, allowed ...string) bool {
	for _, a := range allowed {
		if val == a {
			return true
		}
	}
	s.errorf(key, "invalid value %q (want %s)%s", val, joinOr(allowed), didYouMean(val, allowed))
	return false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) structure(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.failf(n, path, "expected a mapping, found %s", describe(n))
		return
	}
	fi := fieldsOf(v.Type())
	s := &section{d: d, path: path, node: n, vals: map[string]*yaml.Node{}}
	where := path
	if where == "" {
		where = d.root
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.failf(k, path, "keys must be plain names, found %s", describe(k))
			continue
		}
		idx, ok := fi.index[k.Value]
		if !ok {
			if h, isHinter := v.Addr().Interface().(keyHinter); isHinter && h.hint(k.Value) != "" {
				d.failf(k, "", "unknown key %q in %s%s", k.Value, where, h.hint(k.Value))
				continue
			}
			d.unknownKey(k, where, fi.names)
			continue
		}
		if isNull(val) {
			continue
		}
		s.vals[k.Value] = val
		d.value(val, join(path, k.Value), v.Field(idx))
	}
	if c, ok := v.Addr().Interface().(checker); ok {
		c.check(s)
	}
}

func (d *decoder) slice(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.failf(n, path, "expected a list, found %s", describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		e := reflect.New(v.Type().Elem()).Elem()
		// A null item is reported and kept as a zero value, so that item i of the result is
		// still item i of the list for the checks that report at it.
		if isNull(item) {
			d.failf(item, fmt.Sprintf("%s[%d]", path, i), "empty list item")
		} else {
			d.value(item, fmt.Sprintf("%s[%d]", path, i), e)
		}
		out = reflect.Append(out, e)
	}
	v.Set(out)
}

// scalar returns the text of a scalar; any scalar (a number, a boolean) is accepted as text.
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.failf(n, path, "expected a text value, found %s", describe(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err == nil {
			return b, true
		}
	}
	d.failf(n, path, "expected true or false, found %s", describe(n))
	return false, false
}

// integer accepts a YAML integer, or a quoted one; it must not be negative.
func (d *decoder) integer(n *yaml.Node, path string) (int64, bool) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!str") {
		d.failf(n, path, "expected a whole number, found %s", describe(n))
		return 0, false
	}
	i, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			d.failf(n, path, "%s is too large", n.Value)
		} else {
			d.failf(n, path, "expected a whole number, found %s", describe(n))
		}
		return 0, false
	}
	if i < 0 {
		d.failf(n, path, "must not be negative, found %d", i)
		return 0, false
	}
	return i, true
}

// duration accepts a whole number of seconds or a duration text (see ParseDuration).
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode {
		d.failf(n, path, "expected a duration such as 30s or 7d, found %s", describe(n))
		return 0, false
	}
	switch n.ShortTag() {
	case "!!int":
		i, err := strconv.ParseInt(n.Value, 0, 64)
		switch {
		case err != nil || i > math.MaxInt64/int64(time.Second):
			d.failf(n, path, "duration %s is too long", n.Value)
		case i < 0:
			d.failf(n, path, "duration %s must not be negative", n.Value)
		default:
			return time.Duration(i) * time.Second, true
		}
		return 0, false
	case "!!str":
		dur, err := ParseDuration(n.Value)
		if err != nil {
			d.failf(n, path, "%v", err)
			return 0, false
		}
		return dur, true
	case "!!float":
		d.failf(n, path, "expected a duration such as 30s or 7d, found %s (write fractions with a unit: 1.5s)", n.Value)
		return 0, false
	}
	d.failf(n, path, "expected a duration such as 30s or 7d, found %s", describe(n))
	return 0, false
}

// decodeNode implements nodeDecoder: a whole number of bytes, or a size text (see ParseSize).
func (s *Size) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int":
			i, ok := d.integer(n, path)
			if ok {
				*s = Size(i)
			}
			return
		case "!!str":
			v, err := ParseSize(n.Value)
			if err != nil {
				d.failf(n, path, "%v", err)
				return
			}
			*s = v
			return
		}
	}
	d.failf(n, path, "expected a size such as 1048576, 512KB or 10MiB, found %s", describe(n))
}

// decodeNode implements nodeDecoder for cron schedules.
func (s *Schedule) decodeNode(d *decoder, n *yaml.Node, path string) {
	str, ok := d.scalar(n, path)
	if !ok {
		return
	}
	v, err := ParseSchedule(str)
	if err != nil {
		d.failf(n, path, "%v", err)
		return
	}
	*s = v
}

// joinOr lists words as "a, b or c".
func joinOr(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
