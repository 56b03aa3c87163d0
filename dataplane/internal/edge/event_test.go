package edge

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// TestRecycledEventShowsNothingOfItsLastRequest alternates a request whose event sets nearly
// every field (a route, a backend error, a user agent) with one that sets few (no route), giving
// each event back to the pool as the control-plane client does after an ack: the second
// request's event, often the first one's recycled, must hold only what its own request says.
func TestRecycledEventShowsNothingOfItsLastRequest(t *testing.T) {
	pools := proxy.NewPools(proxy.Options{})
	t.Cleanup(pools.Close)
	var holder Holder
	rt, err := Build(&proxyv1.Snapshot{Version: 3, Routes: []*proxyv1.Route{
		newRoute("down.test/", "http://"+closedPort(t), "/", "down.test"),
	}}, pools, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holder.Store(rt)
	q := events.NewQueue(16)
	h, err := New(Config{Runtimes: &holder, Events: q})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(host, ua string) (*proxyv1.RequestEvent, int) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "http://"+host+"/x", nil)
		if ua != "" {
			req.Header.Set("User-Agent", ua)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := q.Take(2)
		if len(got) != 1 {
			t.Fatalf("%d events for one request", len(got))
		}
		return got[0], rec.Body.Len()
	}

	recycled := make(map[*proxyv1.RequestEvent]bool)
	reused := 0
	for range 20 {
		full, _ := serve("down.test", "curl/8.0")
		if full.GetRouteId() != "down.test/" || full.GetError() == "" || full.GetUserAgent() != "curl/8.0" || full.GetBackend() == "" {
			t.Fatalf("the routed request's event lacks what the test relies on: %v", full)
		}
		recycled[full] = true
		events.RecycleRequests([]*proxyv1.RequestEvent{full})

		got, body := serve("nowhere.test", "")
		if recycled[got] {
			reused++
		}
		want := &proxyv1.RequestEvent{
			Time: got.GetTime(), Duration: got.GetDuration(), RequestId: got.GetRequestId(), ClientIp: got.GetClientIp(),
			Host: "nowhere.test", Method: http.MethodGet, Path: "/x", Status: http.StatusNotFound, Protocol: "HTTP/1.1",
			BytesOut: int64(body), Error: "no route for host and path", SnapshotVersion: 3,
		}
		if !proto.Equal(got, want) {
			t.Fatalf("unmatched request's event is %v, want %v", got, want)
		}
		if got.GetTime().GetSeconds() == 0 || got.GetRequestId() == "" || got.GetClientIp() == "" {
			t.Fatalf("unmatched request's event lacks its own time, id or client: %v", got)
		}
		events.RecycleRequests([]*proxyv1.RequestEvent{got})
	}
	if reused == 0 {
		t.Fatal("no event was ever reused: the test proved nothing")
	}
}
