package edge

import (
	"sync"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// securityLog is a SecuritySink that keeps every event.
type securityLog struct {
	mu     sync.Mutex
	events []*proxyv1.SecurityEvent
}

func (l *securityLog) PushSecurity(e *proxyv1.SecurityEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// take returns the events pushed since the last take.
func (l *securityLog) take() []*proxyv1.SecurityEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.events
	l.events = nil
	return evs
}

// all returns every event pushed since the last take, keeping them.
func (l *securityLog) all() []*proxyv1.SecurityEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*proxyv1.SecurityEvent(nil), l.events...)
}
