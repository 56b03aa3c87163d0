package store

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestPolicyEvents(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	at := timestamppb.New(time.Unix(1_800_000_000, 0))
	b := testBatch("n1", "boot", 1, 1, "r1")
	b.Requests[0].RetryCount = 2
	b.Requests[0].ContentEncoding = "br"
	b.Requests[0].BytesSavedCompression = 4000
	b.Requests[0].Timeout = "read"
	b.Requests[0].Slow = "critical"
	b.Circuits = []*proxyv1.CircuitEvent{
		{Time: at, Backend: "http://panel:8080", From: "closed", To: "open", Failures: 5, Reason: "5 failures in 60s"},
		{Time: at, Backend: "http://panel:8080", From: "open", To: "half-open"},
	}
	b.Pools = []*proxyv1.PoolStats{{Time: at, Backend: "http://panel:8080", Active: 3, Idle: 7, Requests: 100, Reused: 92, AverageConnectionAge: durationpb.New(45 * time.Second), MaxConns: 50}}
	if stored, err := s.SaveBatch(ctx, b); err != nil || !stored {
		t.Fatalf("SaveBatch: %v %v", stored, err)
	}
	if stored, err := s.SaveBatch(ctx, b); err != nil || stored {
		t.Fatalf("SaveBatch again: %v %v; want it recognised as stored", stored, err)
	}

	var retries, saved int64
	var enc, timeout, slow string
	if err := s.read.QueryRowContext(ctx, `SELECT retry_count, content_encoding, bytes_saved_compression, timeout_kind, slow FROM request_logs`).Scan(&retries, &enc, &saved, &timeout, &slow); err != nil {
		t.Fatal(err)
	}
	if retries != 2 || enc != "br" || saved != 4000 || timeout != "read" || slow != "critical" {
		t.Fatalf("request_logs policy columns: %d %q %d %q %q", retries, enc, saved, timeout, slow)
	}
	var events int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM circuit_breaker_events`).Scan(&events); err != nil || events != 2 {
		t.Fatalf("circuit_breaker_events: %d (%v), want 2 (the re-sent batch stores nothing)", events, err)
	}
	states, err := s.CircuitStates(ctx)
	if err != nil || len(states) != 1 || states[0].Service != "panel" || states[0].Port != 8080 || states[0].State != "half-open" {
		t.Fatalf("CircuitStates = %+v, %v", states, err)
	}
	var active, reused, ageMS int64
	if err := s.read.QueryRowContext(ctx, `SELECT active, reused, average_connection_age_ms FROM pool_stats`).Scan(&active, &reused, &ageMS); err != nil || active != 3 || reused != 92 || ageMS != 45000 {
		t.Fatalf("pool_stats: %d %d %d (%v)", active, reused, ageMS, err)
	}
}
