package maintenance

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

var now = time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  time.Time
		want int64
	}{
		{"unknown end", time.Time{}, UnknownRetryAfter},
		{"in 90 s", now.Add(90 * time.Second), 90},
		{"rounded up", now.Add(1500 * time.Millisecond), 2},
		{"passed, the new list not here yet", now.Add(-time.Second), overdueRetryAfter},
	} {
		r := &Route{endsAt: tc.end}
		if got := r.RetryAfter(now); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestSetMaintenance(t *testing.T) {
	h := NewHolder(nil)
	if h.Lookup("a/") != nil || (*Holder)(nil).Lookup("a/") != nil {
		t.Fatal("an empty holder has a route in maintenance")
	}
	h.SetMaintenance(&proxyv1.MaintenanceList{Routes: []*proxyv1.Maintenance{
		{RouteId: "a/", Allow: []string{"10.0.0.0/8", "not-a-network", "2001:db8::1"}, EndsAt: timestamppb.New(now.Add(time.Minute))},
	}})
	r := h.Lookup("a/")
	if r == nil || h.Lookup("b/") != nil {
		t.Fatalf("lookup a/ %v", r)
	}
	for ip, want := range map[string]bool{"10.9.9.9": true, "::ffff:10.1.1.1": true, "2001:db8::1": true, "192.0.2.1": false, "2001:db8::2": false} {
		if got := r.Allows(netip.MustParseAddr(ip)); got != want {
			t.Errorf("allows %s = %v, want %v", ip, got, want)
		}
	}
	if r.Allows(netip.Addr{}) {
		t.Error("an unknown client is allowed")
	}
}

func TestDefaultPageEscapesTheRequestID(t *testing.T) {
	r := &Route{}
	w := httptest.NewRecorder()
	if err := r.Write(w, httptest.NewRequest("GET", "/", nil), `<x>"`, now); err != nil {
		t.Fatal(err)
	}
	body := w.Body.String()
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(body, "&lt;x&gt;&#34;") || strings.Contains(body, "<x>") || strings.Contains(body, "{{") {
		t.Fatalf("%d\n%s", w.Code, body)
	}
	if w.Header().Get("Retry-After") != "300" || w.Header().Get("Content-Length") == "" {
		t.Fatalf("headers %v", w.Header())
	}
}

// BenchmarkLookupMiss is the cost for every request of a route not in maintenance while another
// route is.
func BenchmarkLookupMiss(b *testing.B) {
	h := NewHolder(nil)
	h.SetMaintenance(&proxyv1.MaintenanceList{Routes: []*proxyv1.Maintenance{{RouteId: "other/"}}})
	b.ReportAllocs()
	for b.Loop() {
		if h.Lookup("site/panel.example.org/") != nil {
			b.Fatal("in maintenance")
		}
	}
}

// BenchmarkWriteDefault is answering one request with the default page.
func BenchmarkWriteDefault(b *testing.B) {
	r := &Route{endsAt: now.Add(time.Hour)}
	req := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		w.Body.Reset()
		if err := r.Write(w, req, "01JDQ5Z4Y8", now); err != nil {
			b.Fatal(err)
		}
	}
}
