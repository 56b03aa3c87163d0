package alerts

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
)

func TestLogSender(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	LogSender{Log: zap.New(core)}.Send(alert.Alert{Type: alert.ServiceDown, Severity: alert.Critical, Title: "Service down: a.example.org",
		RouteID: "a.example.org/", Host: "a.example.org", Fields: []alert.Field{{Name: "Backend", Value: "http://a:80"}}})
	entries := logs.All()
	if len(entries) != 1 || entries[0].Message != "alert" {
		t.Fatalf("logged %+v", entries)
	}
	m := entries[0].ContextMap()
	if m["type"] != "service_down" || m["severity"] != "critical" || m["host"] != "a.example.org" || m["field.Backend"] != "http://a:80" {
		t.Fatalf("fields %v", m)
	}
	if _, ok := m["request_id"]; ok {
		t.Fatal("empty request id logged")
	}
}

type countSender struct{ n *int }

func (c countSender) Send(alert.Alert) { *c.n++ }

func TestSendersSendToEach(t *testing.T) {
	var a, b int
	Senders{countSender{&a}, countSender{&b}}.Send(alert.Alert{Type: alert.Test})
	if a != 1 || b != 1 {
		t.Fatalf("senders got %d and %d alerts, want 1 each", a, b)
	}
}
