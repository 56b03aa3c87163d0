package health

import (
	"testing"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestDown(t *testing.T) {
	list := &proxyv1.HealthList{Version: 3, Backends: []*proxyv1.BackendHealth{
		{RouteId: "a.test/", BackendUrl: "http://app:8080", State: "down"},
		{RouteId: "b.test/", BackendUrl: "http://app:8081", State: "degraded"},
		{RouteId: "c.test/", BackendUrl: "http://app:8082", State: "healthy"},
		{RouteId: "d.test/", BackendUrl: "http://app:8083", State: "unknown"},
		{RouteId: "e.test/", State: "down"},
		{RouteId: "f.test/", BackendUrl: "HTTP://app:8084", State: "down"},
	}}
	tests := []struct {
		route, backend string
		want           bool
	}{
		{"a.test/", "http://app:8080", true},
		{"a.test/", "http://app:9090", false}, // the route serves another backend now
		{"b.test/", "http://app:8081", false},
		{"c.test/", "http://app:8082", false},
		{"d.test/", "http://app:8083", false},
		{"e.test/", "http://anything", true}, // the list does not name the backend
		{"f.test/", "http://app:8084", true}, // written as the data plane writes it
		{"g.test/", "http://app:8080", false},
	}
	var h Holder
	for _, tt := range tests {
		if h.Down(tt.route, tt.backend) {
			t.Fatalf("%s down before any list", tt.route)
		}
	}
	h.SetHealth(list)
	for _, tt := range tests {
		if got := h.Down(tt.route, tt.backend); got != tt.want {
			t.Errorf("Down(%q, %q) = %v, want %v", tt.route, tt.backend, got, tt.want)
		}
	}
	if h.List() != list {
		t.Error("List() is not the list set")
	}
	// A new list replaces the old one whole.
	h.SetHealth(&proxyv1.HealthList{Version: 4})
	if h.Down("a.test/", "http://app:8080") {
		t.Error("a.test/ still down after a list without it")
	}
}

func BenchmarkDownNoneDown(b *testing.B) {
	var h Holder
	h.SetHealth(&proxyv1.HealthList{Backends: []*proxyv1.BackendHealth{{RouteId: "a.test/", State: "healthy"}}})
	b.ReportAllocs()
	for b.Loop() {
		h.Down("a.test/", "http://app:8080")
	}
}

func BenchmarkDownSomeDown(b *testing.B) {
	var h Holder
	h.SetHealth(&proxyv1.HealthList{Backends: []*proxyv1.BackendHealth{{RouteId: "b.test/", State: "down"}}})
	b.ReportAllocs()
	for b.Loop() {
		h.Down("a.test/", "http://app:8080")
	}
}
