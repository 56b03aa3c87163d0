package cpclient

import (
	"net/netip"
	"testing"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/maintenance"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// maintenanceRecorder is the real holder, and a channel to wait on each list.
type maintenanceRecorder struct {
	*maintenance.Holder
	got chan *proxyv1.MaintenanceList
}

func (r maintenanceRecorder) SetMaintenance(l *proxyv1.MaintenanceList) {
	r.Holder.SetMaintenance(l)
	r.got <- l
}

func TestMaintenanceListsReachTheHolderUnanswered(t *testing.T) {
	cp := newFakeCP()
	rec := maintenanceRecorder{Holder: maintenance.NewHolder(nil), got: make(chan *proxyv1.MaintenanceList, 4)}
	start(t, cp, events.NewQueue(100), Options{Maintenance: rec})
	wait(t, cp.hellos, "hello")
	cp.snapshots <- snap(1, "http://127.0.0.1:9")
	if v := wait(t, cp.verdicts, "verdict on 1"); v.GetAck().GetVersion() != 1 {
		t.Fatalf("verdict on 1: %v", v)
	}
	cp.maint <- &proxyv1.MaintenanceList{Version: 3, Routes: []*proxyv1.Maintenance{{RouteId: "a.test/", Allow: []string{"10.0.0.0/8"}, Reason: "admin"}}}
	if l := wait(t, rec.got, "maintenance list"); l.GetVersion() != 3 {
		t.Fatalf("list %v", l)
	}
	m := rec.Lookup("a.test/")
	if m == nil || !m.Allows(netip.MustParseAddr("10.1.2.3")) || m.Allows(netip.MustParseAddr("192.0.2.1")) {
		t.Fatalf("route a.test/ after the list: %+v", m)
	}
	// Not answered: the next answer on the stream is the verdict on the next snapshot.
	cp.snapshots <- snap(2, "http://127.0.0.1:9")
	if v := wait(t, cp.verdicts, "verdict on 2"); v.GetAck().GetVersion() != 2 {
		t.Fatalf("answer after a maintenance list: %v, want the Ack of snapshot 2", v)
	}
	cp.maint <- &proxyv1.MaintenanceList{Version: 4}
	wait(t, rec.got, "empty list")
	if rec.Lookup("a.test/") != nil {
		t.Fatal("still in maintenance after an empty list")
	}
}
