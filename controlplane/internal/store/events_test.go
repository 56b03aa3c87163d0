package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestSaveBatchStoresEveryField(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	if err := s.SyncRoutes(ctx, []*proxyv1.Route{{Id: "panel", Hosts: []string{"panel.example.org"}, BackendUrl: "http://panel:8080"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	b := testBatch("node-1", "boot-1", 1, 5, "panel")
	b.Requests[4].Error = "upstream timeout"
	b.Requests[4].Status = 504

	stored, err := s.SaveBatch(ctx, b)
	if err != nil || !stored {
		t.Fatalf("SaveBatch = %v, %v; want stored", stored, err)
	}
	logs, err := s.RequestLogs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 5 {
		t.Fatalf("got %d request logs, want 5", len(logs))
	}
	// Newest first: logs[0] is the last event.
	got, ev := logs[0], b.Requests[4]
	want := RequestLog{
		ID:              got.ID,
		Time:            ev.GetTime().AsTime().Truncate(time.Millisecond),
		RouteKey:        "panel",
		NodeID:          "node-1",
		Host:            ev.GetHost(),
		Method:          ev.GetMethod(),
		Path:            ev.GetPath(),
		Status:          504,
		Duration:        12 * time.Millisecond,
		BytesIn:         100,
		BytesOut:        2048,
		ClientIP:        ev.GetClientIp(),
		UserAgent:       ev.GetUserAgent(),
		Backend:         ev.GetBackend(),
		Error:           "upstream timeout",
		RequestID:       ev.GetRequestId(),
		Protocol:        ev.GetProtocol(),
		SnapshotVersion: 7,
	}
	if !got.Time.Equal(want.Time) {
		t.Errorf("Time = %v, want %v", got.Time, want.Time)
	}
	got.Time = want.Time
	if got != want {
		t.Errorf("request log\n got %+v\nwant %+v", got, want)
	}
	for i := 1; i < len(logs); i++ {
		if logs[i].Time.After(logs[i-1].Time) {
			t.Errorf("logs not newest first at %d", i)
		}
	}

	// The columns the API does not expose: seconds timestamp and the route's service.
	var sec int64
	var serviceID sql.NullInt64
	err = s.read.QueryRowContext(ctx, "SELECT timestamp, service_id FROM request_logs WHERE log_id = ?", got.ID).Scan(&sec, &serviceID)
	if err != nil {
		t.Fatal(err)
	}
	if sec != ev.GetTime().AsTime().Unix() || !serviceID.Valid {
		t.Errorf("timestamp = %d, service_id = %v; want %d and the panel service", sec, serviceID, ev.GetTime().AsTime().Unix())
	}
}

func TestSaveBatchIdempotency(t *testing.T) {
	testCases := []struct {
		desc       string
		second     *proxyv1.EventBatch
		wantStored bool
		wantRows   int64
	}{
		{desc: "same batch again is not stored twice", second: testBatch("n1", "boot-a", 1, 4, "r"), wantStored: false, wantRows: 4},
		{desc: "new boot with the same sequence is stored", second: testBatch("n1", "boot-b", 1, 4, "r"), wantStored: true, wantRows: 8},
		{desc: "other node with the same boot and sequence is stored", second: testBatch("n2", "boot-a", 1, 4, "r"), wantStored: true, wantRows: 8},
		{desc: "next sequence is stored", second: testBatch("n1", "boot-a", 2, 4, "r"), wantStored: true, wantRows: 8},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			ctx := context.Background()
			s, _ := openTestStore(t)
			if stored, err := s.SaveBatch(ctx, testBatch("n1", "boot-a", 1, 4, "r")); err != nil || !stored {
				t.Fatalf("first SaveBatch = %v, %v", stored, err)
			}
			stored, err := s.SaveBatch(ctx, tc.second)
			if err != nil || stored != tc.wantStored {
				t.Fatalf("second SaveBatch = %v, %v; want stored=%v", stored, err, tc.wantStored)
			}
			if n, err := s.CountRequestLogs(ctx); err != nil || n != tc.wantRows {
				t.Fatalf("CountRequestLogs = %d, %v; want %d", n, err, tc.wantRows)
			}
		})
	}
}

func TestSaveBatchUnknownRouteKeyCreatesRoute(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	b := testBatch("n1", "b1", 1, 3, "site/new.example.org/")
	b.Requests[2].RouteId = "" // no route matched

	if _, err := s.SaveBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	var (
		routeID            int64
		domain, hosts      string
		active             int
		withRoute, noRoute int
	)
	err := s.read.QueryRowContext(ctx, "SELECT route_id, domain, hosts, active FROM routes WHERE route_key = ?",
		"site/new.example.org/").Scan(&routeID, &domain, &hosts, &active)
	if err != nil {
		t.Fatalf("route not created: %v", err)
	}
	if domain != "panel.example.org" || hosts != `["panel.example.org"]` || active != 0 {
		t.Errorf("created route: domain %q hosts %s active %d; want the event's host, inactive", domain, hosts, active)
	}
	err = s.read.QueryRowContext(ctx,
		"SELECT COUNT(*) FILTER (WHERE route_id = ?), COUNT(*) FILTER (WHERE route_id IS NULL) FROM request_logs",
		routeID).Scan(&withRoute, &noRoute)
	if err != nil {
		t.Fatal(err)
	}
	if withRoute != 2 || noRoute != 1 {
		t.Errorf("rows with the new route: %d, without a route: %d; want 2 and 1", withRoute, noRoute)
	}

	// A snapshot that has the route later takes over the same row, so history stays attached.
	if err := s.SyncRoutes(ctx, []*proxyv1.Route{{Id: "site/new.example.org/", Hosts: []string{"new.example.org"}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var syncedID int64
	if err := s.read.QueryRowContext(ctx, "SELECT route_id, active FROM routes WHERE route_key = ?", "site/new.example.org/").Scan(&syncedID, &active); err != nil {
		t.Fatal(err)
	}
	if syncedID != routeID || active != 1 {
		t.Errorf("after sync: route_id %d active %d; want %d active", syncedID, active, routeID)
	}
}

func TestSaveBatchRecordsDroppedEvents(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	batches := []*proxyv1.EventBatch{
		{NodeId: "n1", BootId: "b1", Sequence: 1, DroppedEvents: 10},
		{NodeId: "n1", BootId: "b1", Sequence: 1, DroppedEvents: 10}, // re-sent: not counted twice
		{NodeId: "n1", BootId: "b1", Sequence: 2, DroppedEvents: 5},
		{NodeId: "n2", BootId: "b9", Sequence: 1, DroppedEvents: 1},
		{NodeId: "n2", BootId: "b9", Sequence: 2},
	}
	for _, b := range batches {
		if _, err := s.SaveBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for node, want := range map[string]int64{"n1": 15, "n2": 1, "n3": 0, "": 16} {
		if got, err := s.DroppedEvents(ctx, node); err != nil || got != want {
			t.Errorf("DroppedEvents(%q) = %d, %v; want %d", node, got, err, want)
		}
	}
}

func TestSaveBatchRejectsInvalidBatches(t *testing.T) {
	testCases := []struct {
		desc  string
		batch *proxyv1.EventBatch
	}{
		{desc: "nil batch", batch: nil},
		{desc: "no node id", batch: &proxyv1.EventBatch{BootId: "b", Sequence: 1}},
		{desc: "no boot id", batch: &proxyv1.EventBatch{NodeId: "n", Sequence: 1}},
		{desc: "sequence beyond int64", batch: &proxyv1.EventBatch{NodeId: "n", BootId: "b", Sequence: 1 << 63}},
		{desc: "nil event", batch: &proxyv1.EventBatch{NodeId: "n", BootId: "b", Sequence: 1, Requests: []*proxyv1.RequestEvent{nil}}},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			ctx := context.Background()
			s, _ := openTestStore(t)
			if stored, err := s.SaveBatch(ctx, tc.batch); err == nil || stored {
				t.Fatalf("SaveBatch = %v, %v; want an error", stored, err)
			}
			var n int
			if err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM event_batches").Scan(&n); err != nil || n != 0 {
				t.Fatalf("event_batches has %d rows (%v) after a rejected batch", n, err)
			}
		})
	}
}

// Several streams re-sending the same batches at once: each batch is stored exactly once.
func TestSaveBatchConcurrentExactlyOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	const (
		senders   = 8
		batches   = 25
		perBatch  = 20
		nodeCount = 2
	)
	var storedCount [nodeCount][batches + 1]atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, senders*nodeCount*batches)
	for range senders {
		wg.Go(func() {
			for seq := 1; seq <= batches; seq++ {
				for node := range nodeCount {
					b := testBatch(fmt.Sprintf("node-%d", node), "boot", uint64(seq), perBatch, fmt.Sprintf("route-%d", seq%3))
					stored, err := s.SaveBatch(ctx, b)
					if err != nil {
						errs <- err
						continue
					}
					if stored {
						storedCount[node][seq].Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for node := range nodeCount {
		for seq := 1; seq <= batches; seq++ {
			if n := storedCount[node][seq].Load(); n != 1 {
				t.Errorf("node %d batch %d reported stored %d times, want 1", node, seq, n)
			}
		}
	}
	if n, err := s.CountRequestLogs(ctx); err != nil || n != nodeCount*batches*perBatch {
		t.Errorf("CountRequestLogs = %d, %v; want %d", n, err, nodeCount*batches*perBatch)
	}
	var routes int
	if err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM routes").Scan(&routes); err != nil || routes != 3 {
		t.Errorf("routes = %d, %v; want 3 (each unknown key created once)", routes, err)
	}
}

// TestSaveBatchChunkBoundaries stores batches whose sizes fall on and around the multi-row
// INSERT chunk sizes (requestLogChunks): every event is stored once, in order.
func TestSaveBatchChunkBoundaries(t *testing.T) {
	for _, n := range []int{1, 3, 4, 5, 15, 16, 17, 20, 21, 33, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := context.Background()
			s, _ := openTestStore(t)
			b := testBatch("n1", "boot-a", 1, n, "r")
			for i, ev := range b.Requests {
				ev.Path = fmt.Sprintf("/e/%03d", i)
			}
			if stored, err := s.SaveBatch(ctx, b); err != nil || !stored {
				t.Fatalf("SaveBatch = %v, %v", stored, err)
			}
			rows, err := s.read.QueryContext(ctx, `SELECT path FROM request_logs ORDER BY rowid`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var p string
				if err := rows.Scan(&p); err != nil {
					t.Fatal(err)
				}
				got = append(got, p)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("stored %d rows, want %d", len(got), n)
			}
			for i, p := range got {
				if want := fmt.Sprintf("/e/%03d", i); p != want {
					t.Fatalf("row %d has path %q, want %q", i, p, want)
				}
			}
		})
	}
}
