package reloader

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/snapshot"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// The audit level of a site (audit:, or its tier's) says what the audit log keeps of its
// routes beyond the config_reload and config_rejected entries every reload writes:
//
//	standard  nothing more
//	enhanced  one entry per route a reload adds, changes or removes (route_added,
//	          route_changed, route_removed), naming what changed
//	full      the same entries, with the route's configuration before (old_value) and after
//	          (new_value), as JSON of the snapshot route
//
// The level is not part of the snapshot (the data planes have no use for it): the reloader
// records each route's level and configuration in the routes table (store.RecordRouteConfigs),
// so that a change made while the control plane was stopped is still audited at the next
// start. A change is audited at the higher of the route's old and new levels, so that an edit
// lowering a site's level is itself audited at the level it had.
//
// Values of headers added to requests (headers.request.add) are often credentials for the
// backend (API keys, Authorization): they are recorded and audited as a fingerprint only, which
// still shows that they changed.

// Audit actions of the route entries.
const (
	actionRouteAdded   = "route_added"
	actionRouteChanged = "route_changed"
	actionRouteRemoved = "route_removed"
)

// routeRecord is what is recorded of a route between reloads.
type routeRecord struct {
	Audit string          `json:"audit"`
	Route json.RawMessage `json:"route"` // protojson of the snapshot route
}

// auditLevels maps the route ids of cfg's enabled sites to their site's audit level.
func auditLevels(cfg *config.Config) map[string]string {
	levels := map[string]string{}
	for _, s := range cfg.Sites {
		if !s.Enabled {
			continue
		}
		for _, r := range s.Routes {
			if len(r.Hosts) > 0 {
				levels[snapshot.RouteID(r.Hosts[0], r.Path)] = s.Audit
			}
		}
	}
	return levels
}

// levelRank orders the audit levels; an unknown level ranks as standard.
func levelRank(level string) int { return max(0, slices.Index(config.AuditLevels(), level)) }

// routeChanges compares the routes of a new snapshot with the records of the routes live before
// it (route id → record, "" when none was recorded). It returns the records to write (new or
// changed routes only) and the audit entries the routes' levels ask for.
func routeChanges(prev map[string]string, routes []*proxyv1.Route, levels map[string]string, version uint64, source string, now time.Time) (records map[string]string, entries []store.AuditEntry, err error) {
	records = map[string]string{}
	entry := func(action, id, level, notes string, old, cur json.RawMessage) {
		if levelRank(level) < levelRank(config.AuditEnhanced) {
			return
		}
		e := store.AuditEntry{Time: now, User: "system", Action: action, ResourceType: "route", ResourceID: id,
			Source: source, Notes: fmt.Sprintf("version %d, audit %s: %s", version, level, notes)}
		if level == config.AuditFull {
			e.OldValue, e.NewValue = string(old), string(cur)
		}
		entries = append(entries, e)
	}
	live := map[string]bool{}
	for _, r := range routes {
		r = withoutSecrets(r)
		id, level := r.GetId(), levels[r.GetId()]
		if level == "" {
			level = config.AuditStandard
		}
		live[id] = true
		cur, err := protojson.Marshal(r)
		if err != nil {
			return nil, nil, fmt.Errorf("route %s: %w", id, err)
		}
		rec, err := json.Marshal(routeRecord{Audit: level, Route: cur})
		if err != nil {
			return nil, nil, fmt.Errorf("route %s: %w", id, err)
		}
		text, known := prev[id]
		if !known {
			records[id] = string(rec)
			entry(actionRouteAdded, id, level, "new route of site "+r.GetSite(), nil, cur)
			continue
		}
		old, before, ok := parseRecord(text)
		if !ok {
			// Recorded before audit levels existed: nothing to compare with.
			records[id] = string(rec)
			continue
		}
		if proto.Equal(before, r) {
			if old.Audit != level {
				records[id] = string(rec)
			}
			continue
		}
		records[id] = string(rec)
		if levelRank(old.Audit) > levelRank(level) {
			level = old.Audit
		}
		entry(actionRouteChanged, id, level, "changed "+strings.Join(changedFields(before, r), ", ")+" of site "+r.GetSite(), old.Route, cur)
	}
	ids := make([]string, 0, len(prev))
	for id := range prev {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if live[id] {
			continue
		}
		if old, before, ok := parseRecord(prev[id]); ok {
			entry(actionRouteRemoved, id, old.Audit, "removed from site "+before.GetSite(), old.Route, nil)
		}
	}
	return records, entries, nil
}

// withoutSecrets returns r, or a copy of r with the values of headers added to requests
// replaced by a fingerprint.
func withoutSecrets(r *proxyv1.Route) *proxyv1.Route {
	if len(r.GetPolicy().GetHeaders().GetRequest().GetAdd()) == 0 {
		return r
	}
	c := proto.Clone(r).(*proxyv1.Route)
	add := c.GetPolicy().GetHeaders().GetRequest().GetAdd()
	for k, v := range add {
		sum := sha256.Sum256([]byte(v))
		add[k] = "redacted sha256:" + hex.EncodeToString(sum[:8])
	}
	return c
}

// parseRecord decodes a recorded route; ok is false for "" or a record that does not decode.
func parseRecord(text string) (rec routeRecord, route *proxyv1.Route, ok bool) {
	if text == "" || json.Unmarshal([]byte(text), &rec) != nil {
		return rec, nil, false
	}
	route = &proxyv1.Route{}
	if protojson.Unmarshal(rec.Route, route) != nil {
		return rec, nil, false
	}
	return rec, route, true
}

// changedFields names the fields of a route that differ between a and b, the policy's by
// section ("backend_url", "policy.rate_limit").
func changedFields(a, b *proxyv1.Route) []string {
	var out []string
	ra, rb := a.ProtoReflect(), b.ProtoReflect()
	fields := ra.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if ra.Get(fd).Equal(rb.Get(fd)) {
			continue
		}
		if fd.Name() == "policy" {
			out = append(out, differing(a.GetPolicy().ProtoReflect(), b.GetPolicy().ProtoReflect(), "policy.")...)
			continue
		}
		out = append(out, string(fd.Name()))
	}
	return out
}

func differing(a, b protoreflect.Message, prefix string) []string {
	var out []string
	fields := a.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !a.Get(fd).Equal(b.Get(fd)) {
			out = append(out, prefix+string(fd.Name()))
		}
	}
	return out
}
