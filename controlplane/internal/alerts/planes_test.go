package alerts

import (
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// planes is a fleet listing fixed data planes (what fleet.Dataplanes reports).
type planes []*proxyv1.Dataplane

func (p *planes) Dataplanes() []*proxyv1.Dataplane { return *p }

func TestCheckDataplanes(t *testing.T) {
	clk := &clock{t: t0}
	list := &planes{}
	a := New(zaptest.NewLogger(t), newRecorder(), nil, list, nil, Options{Now: clk.now})
	plane := func(id string, connected bool, lastSeen time.Time) *proxyv1.Dataplane {
		return &proxyv1.Dataplane{NodeId: id, Connected: connected, LastSeen: ts(lastSeen), AppliedVersion: 3, BinaryVersion: "v1.2.0"}
	}
	for _, tc := range []struct {
		desc    string
		advance time.Duration
		planes  []*proxyv1.Dataplane
		want    []alert.Severity // one alert of dataplane_disconnected per entry, in order
		wantIDs []string
	}{
		{desc: "both heard from", planes: []*proxyv1.Dataplane{plane("dp-1", true, t0), plane("dp-2", true, t0)}},
		{desc: "dp-2's stream ended a minute ago: not yet", advance: time.Minute,
			planes: []*proxyv1.Dataplane{plane("dp-1", true, t0.Add(time.Minute)), plane("dp-2", false, t0)}},
		{desc: "two minutes and a second: disconnected", advance: 61 * time.Second,
			planes: []*proxyv1.Dataplane{plane("dp-1", true, t0.Add(2*time.Minute)), plane("dp-2", false, t0)}, want: []alert.Severity{alert.Critical}, wantIDs: []string{"dp-2"}},
		{desc: "still gone: once", advance: time.Hour,
			planes: []*proxyv1.Dataplane{plane("dp-1", true, t0.Add(time.Hour+2*time.Minute)), plane("dp-2", false, t0)}},
		{desc: "a stream without heartbeat is as silent", advance: 3 * time.Minute,
			planes: []*proxyv1.Dataplane{plane("dp-1", true, t0.Add(time.Hour+2*time.Minute)), plane("dp-2", false, t0)}, want: []alert.Severity{alert.Critical}, wantIDs: []string{"dp-1"}},
		{desc: "dp-2 back", advance: time.Second,
			planes: []*proxyv1.Dataplane{plane("dp-1", true, t0.Add(time.Hour+2*time.Minute)), plane("dp-2", true, t0.Add(66*time.Minute))}, want: []alert.Severity{alert.Info}, wantIDs: []string{"dp-2"}},
		{desc: "dp-1 no longer listed: forgotten", planes: []*proxyv1.Dataplane{plane("dp-2", true, t0.Add(66*time.Minute))}},
	} {
		clk.add(tc.advance)
		*list = tc.planes
		got := a.CheckDataplanes()
		if len(got) != len(tc.want) {
			t.Fatalf("%s: alerts %+v", tc.desc, got)
		}
		for i, g := range got {
			if g.Type != alert.DataplaneDisconnected || g.Severity != tc.want[i] || !hasField(g, "Data plane", tc.wantIDs[i]) || !hasField(g, "Version", "v1.2.0") {
				t.Fatalf("%s: alert %+v", tc.desc, g)
			}
		}
	}
	if len(a.planes) != 0 {
		t.Fatalf("remembered %v", a.planes)
	}

	// alerts.dataplane_disconnected.after in force.
	g := &config.Global{Alerts: config.Alerts{DataplaneDisconnected: config.AlertDataplaneDisconnected{After: 10 * time.Second}}}
	a.opts.Global = func() *config.Global { return g }
	*list = []*proxyv1.Dataplane{plane("dp-3", false, clk.now().Add(-11*time.Second))}
	if got := a.CheckDataplanes(); len(got) != 1 || got[0].Severity != alert.Critical {
		t.Fatalf("after 10s: %+v", got)
	}
}
