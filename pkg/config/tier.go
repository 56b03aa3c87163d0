package config

import (
	"fmt"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Security tiers (the seeds' security tier matrix). A site that says tier: NAME gets the
// tier's policy as a layer of defaults between the global file's defaults: and its own keys:
//
//	built-in defaults < global defaults: < tier < site < route options
//
// The tier wins over the global defaults because it is written in the site file, closer to
// the service it describes: an administrator who writes tier: admin expects the admin values,
// whatever the global file sets for every site. Keys the tier does not set (timeouts,
// headers, rate_limit.whitelist, ...) still come from the global defaults, and any key the
// site or a route writes wins over the tier, key by key.
const (
	TierPublic  = "public"  // community sites: moderate rate limits, strict WAF, 7-day logs
	TierPrivate = "private" // personal services: aggressive rate limits, 30-day logs
	TierAdmin   = "admin"   // dashboards, management: tightest rate limits, 365-day logs
)

// Audit levels: what the control plane writes to its audit log about a site's routes (see
// docs/configuration.md, "Security tiers"). The default, without a tier, is standard.
const (
	// AuditStandard: configuration reloads and rejections, one entry per reload.
	AuditStandard = "standard"
	// AuditEnhanced: standard, and one entry per route of the site that a reload adds,
	// changes or removes, naming what changed.
	AuditEnhanced = "enhanced"
	// AuditFull: enhanced, and each of those entries holds the route's configuration before
	// and after.
	AuditFull = "full"
)

var (
	tierNames   = []string{TierPublic, TierPrivate, TierAdmin}
	auditLevels = []string{AuditStandard, AuditEnhanced, AuditFull}
	tierAudit   = map[string]string{TierPublic: AuditStandard, TierPrivate: AuditEnhanced, TierAdmin: AuditFull}
)

// Tiers returns the tier names a site may write.
func Tiers() []string { return append([]string(nil), tierNames...) }

// AuditLevels returns the audit levels a site may write, from least to most.
func AuditLevels() []string { return append([]string(nil), auditLevels...) }

// TierAudit returns the audit level a tier implies.
func TierAudit(tier string) string {
	if a, ok := tierAudit[tier]; ok {
		return a
	}
	return AuditStandard
}

// tierYAML is each tier's layer, written with the keys of the policy sections. Rate limits
// are requests per minute per data plane replica. The WAF rules are filled in by tierRules,
// so that a rule added to WAFRules is on in the strict tiers without editing this table.
var tierYAML = map[string]string{
	// Moderate limits (the seeds' Pterodactyl example); strict WAF; PII masked; 7 days.
	TierPublic: `
rate_limit: {global: 1000, per_ip: 100}
waf: {enabled: true, mode: block, rules: {%s}}
logging: {mask_pii: true, mask_ip_method: last_octet}
data_retention: {access_logs: 7d, error_logs: 30d, security_logs: 90d, audit_logs: 365d, metrics: 30d}
`,
	// Aggressive limits: a few known users; moderate WAF (see tierRules); PII masked; the
	// seeds' Vaultwarden retention.
	TierPrivate: `
rate_limit: {global: 300, per_ip: 30}
waf: {enabled: true, mode: block, rules: {%s}}
logging: {mask_pii: true, mask_ip_method: last_octet}
data_retention: {access_logs: 30d, error_logs: 90d, security_logs: 365d, audit_logs: 365d, metrics: 90d}
`,
	// Tightest limits; strict WAF; client addresses kept whole (who used an admin interface
	// is what its logs are for), e-mail addresses in URLs still masked; a year of logs.
	TierAdmin: `
rate_limit: {global: 120, per_ip: 20}
waf: {enabled: true, mode: block, rules: {%s}}
logging: {mask_pii: true, mask_ip_method: none}
data_retention: {access_logs: 365d, error_logs: 365d, security_logs: 365d, audit_logs: 365d, metrics: 90d}
`,
}

// moderateOff are the WAF rules the moderate tier (private) leaves off: suspicious_headers
// judges requests by heuristics on their headers (unusual user agents and header values),
// which is what the native apps and browser extensions of private services (Bitwarden
// clients, sync tools) look like. The signature rules stay on.
var moderateOff = []string{"suspicious_headers"}

// tierRules writes the rules: mapping of a tier: every rule of WAFRules on, but for the ones
// the moderate WAF of the private tier leaves off.
func tierRules(tier string) string {
	var rules []string
	for _, k := range keysOf(WAFRules{}) {
		on := tier != TierPrivate || !contains(moderateOff, k)
		rules = append(rules, fmt.Sprintf("%s: %t", k, on))
	}
	return strings.Join(rules, ", ")
}

// tierFile names a tier's layer in origins and (never expected) errors.
func tierFile(tier string) string { return "<tier " + tier + ">" }

// tierRoots parses each tier's layer once.
var tierRoots = sync.OnceValue(func() map[string]*yaml.Node {
	roots := map[string]*yaml.Node{}
	for _, t := range tierNames {
		d := &decoder{file: tierFile(t), root: "tier", errs: &errorSink{}}
		roots[t] = parseDocument(d, []byte(fmt.Sprintf(tierYAML[t], tierRules(t))))
	}
	return roots
})

// tierBase returns the layer a site of tier starts from: g's defaults with the tier on top,
// or g's defaults for no (or an unknown) tier. The tier's nodes are named in g.origin, so that
// the effective configuration can say where each value comes from.
func (g *Global) tierBase(tier string) *yaml.Node {
	root, ok := tierRoots()[tier]
	if !ok {
		return g.defaults
	}
	if layer, ok := g.tiers[tier]; ok {
		return layer
	}
	if g.tiers == nil {
		g.tiers = map[string]*yaml.Node{}
	}
	layer := overlay(g.defaults, root)
	walk(layer, func(n *yaml.Node) {
		if _, ok := g.origin[n]; !ok {
			g.origin[n] = tierFile(tier)
		}
	})
	g.tiers[tier] = layer
	return layer
}

// check validates the site keys tier: and audit:.
func (f *siteFile) check(s *section) {
	if s.has("tier") {
		s.enum("tier", f.Tier, tierNames...)
	}
	if s.has("audit") {
		s.enum("audit", f.Audit, auditLevels...)
	}
}

// hint explains tier: and audit: written among the policy sections.
func (p *Policy) hint(key string) string {
	if key == "tier" || key == "audit" {
		return fmt.Sprintf("; %q is a site key: write it at the top level of the site file", key)
	}
	return ""
}
