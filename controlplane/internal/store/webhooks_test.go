package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestWebhookDeliveriesNewestFirstAndFiltered(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	saved := []WebhookDelivery{
		{MessageID: "m1", Time: t0, Webhook: "discord", Event: "service_down", RouteID: "gpanel#0", Host: "gpanel.example.org",
			Attempt: 1, StatusCode: 503, Error: "503 Service Unavailable", Duration: 120 * time.Millisecond},
		{MessageID: "m1", Time: t0.Add(1500 * time.Millisecond), Webhook: "discord", Event: "service_down", RouteID: "gpanel#0",
			Host: "gpanel.example.org", Attempt: 2, StatusCode: 204, Duration: 80 * time.Millisecond, Suppressed: 7},
		{MessageID: "m2", Time: t0.Add(2 * time.Second), Webhook: "ops", Event: "cert_expired", Attempt: 1,
			Error: "dial tcp 127.0.0.1:9: connection refused", Duration: time.Millisecond},
		{MessageID: "m3", Time: t0.Add(3 * time.Second), Webhook: "discord", Event: "waf_block_spike", Attempt: 1, StatusCode: 204},
	}
	for _, d := range saved {
		if err := s.SaveWebhookDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	summary := func(ds []WebhookDelivery) string {
		var b []string
		for _, d := range ds {
			b = append(b, fmt.Sprintf("%s/%d/%d/%q/%d/%d", d.MessageID, d.Attempt, d.StatusCode, d.Error, d.DurationMS, d.Suppressed))
		}
		return strings.Join(b, " ")
	}
	tests := []struct {
		q    WebhookDeliveryQuery
		want string
	}{
		{WebhookDeliveryQuery{Limit: 10}, `m3/1/204/""/0/0 m2/1/0/"dial tcp 127.0.0.1:9: connection refused"/1/0 m1/2/204/""/80/7 m1/1/503/"503 Service Unavailable"/120/0`},
		{WebhookDeliveryQuery{Limit: 2}, `m3/1/204/""/0/0 m2/1/0/"dial tcp 127.0.0.1:9: connection refused"/1/0`},
		{WebhookDeliveryQuery{Limit: 10, Webhook: "discord", Event: "service_down"}, `m1/2/204/""/80/7 m1/1/503/"503 Service Unavailable"/120/0`},
		{WebhookDeliveryQuery{Limit: 10, Webhook: "ops"}, `m2/1/0/"dial tcp 127.0.0.1:9: connection refused"/1/0`},
		{WebhookDeliveryQuery{Limit: 10, Event: "backup_failed"}, ``},
	}
	for _, tc := range tests {
		got, err := s.WebhookDeliveries(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if s := summary(got); s != tc.want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.q, s, tc.want)
		}
	}
	got, err := s.WebhookDeliveries(ctx, WebhookDeliveryQuery{Limit: 10, Event: "service_down"})
	if err != nil {
		t.Fatal(err)
	}
	if d := got[0]; !d.Time.Equal(t0.Add(1500*time.Millisecond)) || d.RouteID != "gpanel#0" || d.Host != "gpanel.example.org" || d.Webhook != "discord" {
		t.Errorf("stored %+v", d)
	}
	if _, err := s.WebhookDeliveries(ctx, WebhookDeliveryQuery{}); err == nil {
		t.Error("limit 0 accepted")
	}
}
