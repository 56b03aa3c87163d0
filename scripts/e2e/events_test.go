package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Checked by 4: after N requests, request_logs holds exactly N rows with the right method, path,
// status and request id.
func TestRequestLogs(t *testing.T) {
	a := backend(t, "A")
	cl := newCluster(t, "{}\n", map[string]string{"a.yaml": flatSite("a.test", a.URL)})
	cl.startCP()
	cl.startDP("node-1")

	type sent struct {
		method, host, path, id string
		status                 int
	}
	var want []sent
	methods := []string{http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodPut}
	for i := 0; i < 40; i++ {
		s := sent{method: methods[i%len(methods)], host: "a.test", path: fmt.Sprintf("/item/%d", i), id: fmt.Sprintf("e2e-log-%03d", i), status: 200}
		if i%10 == 9 {
			s.host, s.status = "nobody.test", 404
		}
		req, _ := http.NewRequest(s.method, "http://"+cl.httpAddr+s.path+"?q=secret", strings.NewReader("body"))
		req.Host = s.host
		req.Header.Set("X-Request-ID", s.id)
		resp, err := cl.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != s.status {
			t.Fatalf("%s %s%s: %d, want %d", s.method, s.host, s.path, resp.StatusCode, s.status)
		}
		want = append(want, s)
	}

	db := cl.openDB()
	eventually(t, 10*time.Second, "40 rows in request_logs", func() error {
		n, err := cl.countLogs(db)
		if err != nil || n != len(want) {
			return fmt.Errorf("%d rows (%v)", n, err)
		}
		return nil
	})
	rows, err := db.Query("SELECT method, path, status_code, request_id FROM request_logs ORDER BY request_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []sent
	for rows.Next() {
		var s sent
		if err := rows.Scan(&s.method, &s.path, &s.status, &s.id); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	sort.Slice(want, func(i, j int) bool { return want[i].id < want[j].id })
	for i := range want {
		w := want[i]
		w.host = ""
		if got[i] != w {
			t.Errorf("row %d = %+v, want %+v (the query string is not stored)", i, got[i], w)
		}
	}
	// Still exactly N a moment later: nothing is stored twice.
	time.Sleep(1500 * time.Millisecond)
	if n, err := cl.countLogs(db); err != nil || n != len(want) {
		t.Fatalf("later: %d rows (%v), want %d", n, err, len(want))
	}
}

// Checked by 5: the control plane is killed while traffic flows; the data plane keeps serving; when
// the control plane is back, every event sent meanwhile arrives, none twice.
func TestControlPlaneCrash(t *testing.T) {
	a := backend(t, "A")
	cl := newCluster(t, "{}\n", map[string]string{"a.yaml": flatSite("a.test", a.URL)})
	cl.startCP()
	cl.startDP("node-1")

	tr := startTraffic(t, cl, "a.test")
	time.Sleep(1500 * time.Millisecond) // some batches are stored, some in flight
	cl.cp.signal(syscall.SIGKILL)
	cl.cp.wait(5 * time.Second)
	killedAt := tr.sent.Load()
	time.Sleep(2 * time.Second)
	if served := tr.sent.Load() - killedAt; served < 50 {
		t.Fatalf("only %d requests in 2 s with the control plane down", served)
	}
	cl.startCP()
	time.Sleep(500 * time.Millisecond)
	tr.end()
	if f := tr.failures.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed: %v", f, tr.sent.Load(), tr.errs)
	}
	total := int(tr.sent.Load())

	db := cl.openDB()
	eventually(t, 20*time.Second, fmt.Sprintf("%d rows after the restart", total), func() error {
		n, err := cl.countLogs(db)
		if err != nil || n != total {
			return fmt.Errorf("%d rows (%v)", n, err)
		}
		return nil
	})
	time.Sleep(1500 * time.Millisecond)
	var n, distinct int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*), COUNT(DISTINCT request_id) FROM request_logs").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != total || distinct != total {
		t.Fatalf("request_logs: %d rows, %d distinct request ids; want exactly %d of each", n, distinct, total)
	}
}
