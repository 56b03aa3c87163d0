package alerts

import (
	"fmt"
	"testing"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// BenchmarkObserveBatch is the detectors' share of storing a full batch (500 requests over 4
// routes, 20 security events), run on the event stream's goroutine before the ack.
func BenchmarkObserveBatch(b *testing.B) {
	fl := fleet.New(zap.NewNop())
	var routes []*proxyv1.Route
	for i := range 4 {
		routes = append(routes, testRoute(fmt.Sprintf("r%d.example.org", i), "http://app:80", ""))
	}
	fl.Publish(&proxyv1.Snapshot{Version: 1, Routes: routes})
	clk := &clock{t: t0}
	a := New(zap.NewNop(), LogSender{Log: zap.NewNop()}, fl, fl, nil, Options{Now: clk.now})
	var reqs []*proxyv1.RequestEvent
	for i := range 500 {
		reqs = append(reqs, &proxyv1.RequestEvent{RequestId: "r", RouteId: routes[i%4].GetId(), Status: int32(200 + 300*(i%50/49))})
	}
	var sec []*proxyv1.SecurityEvent
	for i := range 20 {
		sec = append(sec, &proxyv1.SecurityEvent{Time: ts(t0), Kind: proxyv1.SecurityKind_SECURITY_KIND_WAF, Action: "blocked", RouteId: routes[i%4].GetId(), ClientIp: "203.0.113.9"})
	}
	batch := &proxyv1.EventBatch{NodeId: "dp", BootId: "b", Sequence: 1, Requests: reqs, Security: sec}
	b.ReportAllocs()
	for b.Loop() {
		clk.add(100_000_000) // 0.1 s per batch
		a.ObserveBatch(batch, true, 0, nil)
	}
}
