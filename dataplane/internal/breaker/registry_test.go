package breaker

import (
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestRegistry(t *testing.T) {
	r := NewRegistry(func(*proxyv1.CircuitEvent) {})
	cfg := &proxyv1.CircuitBreaker{Enabled: true, FailureThreshold: 5, Timeout: durationpb.New(30e9)}
	a, err := r.Get("http://a:80", cfg)
	if err != nil || a == nil {
		t.Fatalf("Get: %v %v", a, err)
	}
	if again, _ := r.Get("http://a:80", &proxyv1.CircuitBreaker{Enabled: true, FailureThreshold: 5, Timeout: durationpb.New(30e9)}); again != a {
		t.Fatal("the same backend and policy got a new breaker: an open circuit would close on reload")
	}
	if other, _ := r.Get("http://b:80", cfg); other == a {
		t.Fatal("two backends share a breaker")
	}
	if changed, _ := r.Get("http://a:80", &proxyv1.CircuitBreaker{Enabled: true, FailureThreshold: 9}); changed == a {
		t.Fatal("a changed policy kept the old breaker")
	}
	if off, err := r.Get("http://a:80", &proxyv1.CircuitBreaker{Enabled: false}); off != nil || err != nil {
		t.Fatalf("disabled: %v %v, want nil", off, err)
	}
}
