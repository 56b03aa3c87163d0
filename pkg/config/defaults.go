package config

import (
	"maps"
	"sync"

	"go.yaml.in/yaml/v3"
)

// builtinFile names the built-in defaults in the (never expected) case that a problem is
// found in them.
const builtinFile = "<built-in defaults>"

// builtinYAML is the lowest layer of every route's policy, under the global defaults: the
// sections every route has even when nobody configured them, because their zero values would
// be wrong (no timeouts, logging raw client IPs, keeping logs forever). Defaults of sections
// that must be switched on are applied by their checks when they are enabled (validate.go).
const builtinYAML = `
timeouts:
  connect: 5s
  read: 30s
  write: 30s
  idle: 120s
logging:
  mask_pii: true
  mask_ip_method: last_octet
data_retention:
  access_logs: 7d
  error_logs: 30d
  security_logs: 90d
  audit_logs: 365d
  metrics: 30d
`

// builtin parses builtinYAML once; origin marks its nodes as built-in.
var builtin = sync.OnceValues(func() (root *yaml.Node, origin map[*yaml.Node]string) {
	d := &decoder{file: builtinFile, root: "defaults", errs: &errorSink{}}
	root = parseDocument(d, []byte(builtinYAML))
	origin = map[*yaml.Node]string{}
	walk(root, func(n *yaml.Node) { origin[n] = builtinFile })
	return root, origin
})

func builtinRoot() *yaml.Node { r, _ := builtin(); return r }

// builtinOrigin returns a copy of the origin map of the built-in nodes, to extend.
func builtinOrigin() map[*yaml.Node]string {
	_, o := builtin()
	return maps.Clone(o)
}

// walk calls f for n and every node below it.
func walk(n *yaml.Node, f func(*yaml.Node)) {
	if n == nil {
		return
	}
	f(n)
	for _, c := range n.Content {
		walk(c, f)
	}
}
