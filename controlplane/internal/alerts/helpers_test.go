package alerts

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is the Sender of the tests: it keeps every alert raised.
type recorder struct {
	mu  sync.Mutex
	got []alert.Alert
	new chan struct{} // signalled on every alert
}

func newRecorder() *recorder { return &recorder{new: make(chan struct{}, 1000)} }

func (r *recorder) Send(a alert.Alert) {
	r.mu.Lock()
	r.got = append(r.got, a)
	r.mu.Unlock()
	r.new <- struct{}{}
}

// take returns the alerts raised since the last take.
func (r *recorder) take() []alert.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// wait returns the first alert of type typ raised from now on, failing after a few seconds.
func (r *recorder) wait(t *testing.T, typ alert.Type) alert.Alert {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		for i, a := range r.got {
			if a.Type == typ {
				r.got = append(r.got[:i:i], r.got[i+1:]...)
				r.mu.Unlock()
				return a
			}
		}
		r.mu.Unlock()
		select {
		case <-r.new:
		case <-deadline:
			t.Fatalf("no %s alert raised", typ)
		}
	}
}

// clock is a test clock moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// testRoute is a route of the snapshot the unit tests run with; method is its mask_ip_method.
func testRoute(host, backend, method string) *proxyv1.Route {
	return &proxyv1.Route{Id: host + "/", Site: host, Hosts: []string{host}, PathPrefix: "/", BackendUrl: backend,
		Policy: &proxyv1.Policy{Logging: &proxyv1.Logging{MaskIpMethod: method}}}
}

// fixture is a set of detectors over a real fleet holding routes with each mask method.
func fixture(t *testing.T) (*Alerts, *recorder, *clock, *fleet.Fleet) {
	t.Helper()
	fl := fleet.New(zaptest.NewLogger(t))
	fl.Publish(&proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{
		testRoute("gpanel.example.org", "http://panel:80", ""),
		testRoute("vault.example.org", "http://vault:80", "prefix:16:48"),
		testRoute("hashed.example.org", "http://hashed:80", "hash"),
		testRoute("open.example.org", "http://open:80", "none"),
	}})
	rec := newRecorder()
	clk := &clock{t: t0}
	return New(zaptest.NewLogger(t), rec, fl, fl, nil, Options{Now: clk.now}), rec, clk, fl
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func itoa(i int) string { return strconv.Itoa(i) }
