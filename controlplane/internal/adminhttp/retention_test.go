package adminhttp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/retention"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/ui"
)

type builtinConfig struct{}

func (builtinConfig) Global() *config.Global { return nil }

func TestRetentionRunAPI(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	log := zaptest.NewLogger(t)
	// Two requests without a route: one past the built-in 7 days of access logs, one not.
	b := &proxyv1.EventBatch{NodeId: "n1", BootId: "b", Sequence: 1}
	for _, age := range []time.Duration{8 * 24 * time.Hour, time.Hour} {
		b.Requests = append(b.Requests, &proxyv1.RequestEvent{Time: timestamppb.New(time.Now().Add(-age)), Host: "x.test",
			Method: "GET", Path: "/", Status: 200, Duration: durationpb.New(time.Millisecond)})
	}
	if _, err := st.SaveBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	job, err := retention.New(log, st, builtinConfig{}, retention.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := Handler(Config{Health: fakeHealth{started: true}, Fleet: fleet.New(log), Config: fakeStatus{loaded: true},
		Retention: job, Dashboard: ui.Dashboard()})

	for _, tc := range []struct {
		method string
		want   int
		rows   int64
	}{{http.MethodPost, http.StatusOK, 1}, {http.MethodPost, http.StatusOK, 0}, {http.MethodGet, http.StatusMethodNotAllowed, 0}} {
		r := httptest.NewRequest(tc.method, "/api/retention/run", nil)
		r.Host = "localhost:8080"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Fatalf("%s: status %d, want %d: %s", tc.method, w.Code, tc.want, w.Body)
		}
		if tc.want != http.StatusOK {
			continue
		}
		var rep retention.Report
		if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Total != tc.rows || rep.Source != "api" {
			t.Fatalf("report = %+v, want %d rows deleted by api", rep, tc.rows)
		}
	}
	if n, err := st.CountRequestLogs(ctx); err != nil || n != 1 {
		t.Fatalf("request logs left = %d, %v; want 1", n, err)
	}
	runs, err := st.AuditEntries(ctx, 10, "retention_run")
	if err != nil || len(runs) != 2 || runs[0].Source != "api" {
		t.Fatalf("retention_run entries = %+v, %v", runs, err)
	}
}
