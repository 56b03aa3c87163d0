package e2e

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Checked by 7: SIGTERM to the data plane during a slow (3 s) request: that request completes, new
// connections are refused, and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	a := backend(t, "A")
	cl := newCluster(t, "{}\n", map[string]string{"a.yaml": flatSite("a.test", a.URL)})
	cl.startCP()
	dp := cl.startDP("node-1")

	type result struct {
		status int
		body   string
		err    error
	}
	slow := make(chan result, 1)
	start := time.Now()
	go func() {
		resp, body, err := get(context.Background(), cl.client, cl.httpAddr, "a.test", "/slow?sleep_ms=3000", "X-Request-ID", "e2e-slow-request")
		r := result{body: body, err: err}
		if resp != nil {
			r.status = resp.StatusCode
		}
		slow <- r
	}()
	time.Sleep(500 * time.Millisecond)
	dp.signal(syscall.SIGTERM)

	// New connections are refused while the slow request is still running.
	eventually(t, 2*time.Second, "new connections refused", func() error {
		c, err := net.DialTimeout("tcp", cl.httpAddr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return errors.New("still accepting")
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return err
		}
		return nil
	})
	if time.Since(start) > 3*time.Second {
		t.Fatal("connections were still accepted when the slow request ended")
	}

	r := <-slow
	if r.err != nil || r.status != 200 || !strings.HasPrefix(r.body, "backend=A path=/slow") {
		t.Fatalf("slow request: %d %q %v; want it to complete with 200", r.status, r.body, r.err)
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Fatalf("slow request took %v; the backend sleeps 3 s", d)
	}
	if code := dp.wait(10 * time.Second); code != 0 {
		t.Fatalf("data plane exit code %d, want 0", code)
	}

	// Its event was flushed before it exited.
	db := cl.openDB()
	eventually(t, 5*time.Second, "the slow request in request_logs", func() error {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM request_logs WHERE request_id = 'e2e-slow-request' AND status_code = 200").Scan(&n); err != nil || n != 1 {
			return errors.New("not stored")
		}
		return nil
	})
}
