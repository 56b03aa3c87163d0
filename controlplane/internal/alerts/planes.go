package alerts

import (
	"fmt"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// CheckDataplanes is dataplane_disconnected: a data plane the fleet knows that has not been
// heard from for alerts.dataplane_disconnected.after — no snapshot stream, no event batch (data
// planes send one with their system report every 5 s, so a live one is never silent that long).
// It raises the alert once, and an info alert of the same type when the data plane is heard from
// again. Run calls it every Options.PollEvery.
func (a *Alerts) CheckDataplanes() []alert.Alert {
	if a.fleet == nil {
		return nil
	}
	now := a.opts.Now()
	after := a.thresholds().DataplaneDisconnected.After
	planes := a.fleet.Dataplanes()
	a.planeMu.Lock()
	defer a.planeMu.Unlock()
	var out []alert.Alert
	seen := make(map[string]bool, len(planes))
	for _, d := range planes {
		id := d.GetNodeId()
		seen[id] = true
		last := d.GetLastSeen().AsTime()
		if d.GetLastSeen() == nil {
			last = d.GetConnectedSince().AsTime()
		}
		silent := now.Sub(last) > after
		since, alerted := a.planes[id]
		switch {
		case silent && !alerted:
			a.planes[id] = last
			out = append(out, alert.Alert{Type: alert.DataplaneDisconnected, Severity: alert.Critical,
				Title:       "Data plane disconnected: " + id,
				Description: fmt.Sprintf("No stream and no event batch from %s for %s: it serves no new configuration and its events wait.", id, now.Sub(last).Round(time.Second)),
				Fields:      planeFields(d, last), Time: now})
		case !silent && alerted:
			delete(a.planes, id)
			out = append(out, alert.Alert{Type: alert.DataplaneDisconnected, Severity: alert.Info,
				Title:       "Data plane back: " + id,
				Description: fmt.Sprintf("%s is connected again after %s of silence.", id, last.Sub(since).Round(time.Second)),
				Fields:      planeFields(d, last), Time: now})
		}
	}
	for id := range a.planes { // bounded by the fleet: forget nodes it no longer lists
		if !seen[id] {
			delete(a.planes, id)
		}
	}
	return out
}

func planeFields(d *proxyv1.Dataplane, last time.Time) []alert.Field {
	f := []alert.Field{{Name: "Data plane", Value: d.GetNodeId(), Inline: true},
		{Name: "Last seen", Value: last.UTC().Format(time.RFC3339), Inline: true},
		{Name: "Snapshot version", Value: fmt.Sprint(d.GetAppliedVersion()), Inline: true}}
	if v := d.GetBinaryVersion(); v != "" {
		f = append(f, alert.Field{Name: "Version", Value: v, Inline: true})
	}
	return f
}
