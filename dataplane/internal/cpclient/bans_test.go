package cpclient

import (
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// banRecorder is a BanSetter that keeps every list it is given, in order.
type banRecorder chan *proxyv1.BanList

func (r banRecorder) SetBans(l *proxyv1.BanList) { r <- l }

func TestBanListsReachTheBanSetterUnanswered(t *testing.T) {
	cp := newFakeCP()
	cp.helloBans = &proxyv1.BanList{Version: 100}
	rec := make(banRecorder, 16)
	h := start(t, cp, events.NewQueue(100), Options{Bans: rec})
	wait(t, cp.hellos, "hello")
	if l := wait(t, rec, "the list sent after Hello"); l.GetVersion() != 100 {
		t.Fatalf("first list %v, want version 100", l)
	}

	cp.snapshots <- snap(1, "http://127.0.0.1:9")
	if v := wait(t, cp.verdicts, "verdict on 1"); v.GetAck().GetVersion() != 1 {
		t.Fatalf("verdict on 1: %v, want Ack", v)
	}
	ban := &proxyv1.Ban{ClientIp: "203.0.113.7", RouteId: "a.test/"}
	cp.banLists <- &proxyv1.BanList{Version: 101, Bans: []*proxyv1.Ban{ban}}
	if l := wait(t, rec, "the second list"); l.GetVersion() != 101 || len(l.GetBans()) != 1 || l.GetBans()[0].GetClientIp() != "203.0.113.7" {
		t.Fatalf("second list %v", l)
	}
	// A ban list is never answered, and does not disturb the snapshot protocol.
	cp.snapshots <- snap(2, "ftp://files.example")
	if v := wait(t, cp.verdicts, "verdict on 2"); v.GetNack().GetVersion() != 2 {
		t.Fatalf("verdict after a ban list: %v, want the Nack of snapshot 2", v)
	}
	select {
	case v := <-cp.verdicts:
		t.Fatalf("unexpected answer %v", v)
	case <-time.After(200 * time.Millisecond):
	}
	if h.client.Version() != 1 {
		t.Fatalf("serving %d, want 1", h.client.Version())
	}

	// After a reconnect the control plane sends the whole list again; it replaces the last one.
	cp.mu.Lock()
	cp.helloBans = &proxyv1.BanList{Version: 102}
	cp.mu.Unlock()
	close(cp.snapshots)
	for {
		if l := wait(t, rec, "the list after reconnecting"); l.GetVersion() == 102 {
			break
		}
	}
}

func TestBanListsIgnoredWithoutBanSetter(t *testing.T) {
	cp := newFakeCP()
	cp.helloBans = &proxyv1.BanList{Version: 1, Bans: []*proxyv1.Ban{{ClientIp: "203.0.113.7"}}}
	start(t, cp, events.NewQueue(100), Options{})
	wait(t, cp.hellos, "hello")
	cp.snapshots <- snap(1, "http://127.0.0.1:9")
	if v := wait(t, cp.verdicts, "verdict on 1"); v.GetAck().GetVersion() != 1 {
		t.Fatalf("first answer %v, want the Ack of snapshot 1: a ban list is not a snapshot", v)
	}
}
