package breaker

import (
	"fmt"
	"net/http"
	"sync"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Registry keeps one Breaker per backend and policy across snapshots, so that routes on one
// backend share a circuit and an open circuit stays open through a configuration reload.
type Registry struct {
	onChange func(*proxyv1.CircuitEvent)

	mu       sync.Mutex
	breakers map[string]*Breaker
}

// NewRegistry returns a Registry whose breakers report state changes to onChange, which must
// not block (it runs on the request path).
func NewRegistry(onChange func(*proxyv1.CircuitEvent)) *Registry {
	return &Registry{onChange: onChange, breakers: make(map[string]*Breaker)}
}

// Get returns the breaker for backend under cfg, nil when cfg is nil or disabled.
func (r *Registry) Get(backend string, cfg *proxyv1.CircuitBreaker) (*Breaker, error) {
	if !cfg.GetEnabled() {
		return nil, nil
	}
	key := fmt.Sprintf("%s|%d|%d|%v|%v", backend, cfg.GetFailureThreshold(), cfg.GetSuccessThreshold(),
		cfg.GetTimeout().AsDuration(), cfg.GetWindow().AsDuration())
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.breakers[key]; ok {
		return b, nil
	}
	// The transport given here is never used: callers put the breaker in front of their own
	// chain with Wrap.
	rt, err := New(cfg, backend, r.onChange, http.DefaultTransport)
	if err != nil {
		return nil, err
	}
	b := rt.(*Breaker)
	r.breakers[key] = b
	return b, nil
}
