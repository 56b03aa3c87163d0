package e2e

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsEchoBackend is a WebSocket backend that echoes every message until the client closes.
func wsEchoBackend(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return // a close from the client is answered by the library
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// wsDial opens a WebSocket through the data plane's plain HTTP listener as if for host.
func wsDial(ctx context.Context, cl *cluster, host string) (*websocket.Conn, *http.Response, error) {
	return websocket.Dial(ctx, "ws://"+cl.httpAddr+"/echo", &websocket.DialOptions{Host: host})
}

// Checked by 5: a WebSocket client echoes 1,000 messages through the proxy; the row in
// websocket_connections shows the bytes both ways and the close reason after it closes;
// max_connections+1 is refused with 503.
func TestWebSocketEcho(t *testing.T) {
	be := wsEchoBackend(t)
	cl := newCluster(t, "{}\n", map[string]string{
		"ws.yaml":      flatSite("ws.test", be.URL),
		"limited.yaml": flatSite("limited.test", be.URL) + "websocket: {enabled: true, max_connections: 2}\n",
	})
	cl.startCP()
	cl.startDP("node-1")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var c *websocket.Conn
	eventually(t, 10*time.Second, "a WebSocket through the data plane", func() error {
		var err error
		var res *http.Response
		c, res, err = wsDial(ctx, cl, "ws.test")
		if err != nil && res != nil {
			return fmt.Errorf("%w (status %d)", err, res.StatusCode)
		}
		return err
	})
	for i := range 1000 {
		msg := fmt.Sprintf("message %d", i)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if string(got) != msg {
			t.Fatalf("echo %d = %q, want %q", i, got, msg)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close: %v", err)
	}

	db := cl.openDB()
	eventually(t, 10*time.Second, "the closed connection in websocket_connections", func() error {
		var (
			sent, received   int64
			reason, host     sql.NullString
			disconnected, ok sql.NullInt64
		)
		err := db.QueryRow(`SELECT bytes_sent, bytes_received, close_reason, host, disconnected_at, 1
FROM websocket_connections WHERE node_id = 'node-1'`).Scan(&sent, &received, &reason, &host, &disconnected, &ok)
		switch {
		case err != nil:
			return err
		case !disconnected.Valid:
			return errors.New("still open")
		case sent <= int64(1000*len("message 0")) || received <= int64(1000*len("message 0")):
			return fmt.Errorf("bytes sent %d, received %d: want more than the 1,000 messages", sent, received)
		case reason.String != "client closed (1000)" || host.String != "ws.test":
			return fmt.Errorf("close reason %q, host %q", reason.String, host.String)
		}
		return nil
	})
	// The upgrade request has its request_logs row too, with status 101.
	var upgrades int
	if err := db.QueryRow("SELECT COUNT(*) FROM request_logs WHERE host = 'ws.test' AND status_code = 101").Scan(&upgrades); err != nil || upgrades != 1 {
		t.Fatalf("%d upgrade rows in request_logs (%v), want 1", upgrades, err)
	}

	// max_connections: 2 open, the third is refused before upgrading.
	var open []*websocket.Conn
	defer func() {
		for _, c := range open {
			c.CloseNow()
		}
	}()
	for range 2 {
		c, _, err := wsDial(ctx, cl, "limited.test")
		if err != nil {
			t.Fatalf("connection within max_connections: %v", err)
		}
		open = append(open, c)
	}
	_, res, err := wsDial(ctx, cl, "limited.test")
	if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("third connection: %v, status %d; want 503", err, status)
	}
	// Once one closes, there is room again.
	if err := open[0].Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	open = open[1:]
	eventually(t, 10*time.Second, "room for a connection after one closed", func() error {
		c, _, err := wsDial(ctx, cl, "limited.test")
		if err == nil {
			open = append(open, c)
		}
		return err
	})
}

// On SIGTERM the data plane closes open WebSockets with 1001 Going Away, records why, and exits 0.
func TestWebSocketClosedOnShutdown(t *testing.T) {
	be := wsEchoBackend(t)
	cl := newCluster(t, "{}\n", map[string]string{"ws.yaml": flatSite("ws.test", be.URL)})
	cl.startCP()
	dp := cl.startDP("node-1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := wsDial(ctx, cl, "ws.test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hello" {
		t.Fatalf("echo: %q %v", msg, err)
	}

	dp.signal(syscall.SIGTERM)
	_, _, err = c.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Fatalf("read after SIGTERM: %v (close status %d), want a close frame with 1001 Going Away", err, got)
	}
	if code := dp.wait(15 * time.Second); code != 0 {
		t.Fatalf("data plane exit code %d, want 0", code)
	}
	db := cl.openDB()
	eventually(t, 10*time.Second, "the closed connection recorded", func() error {
		var reason sql.NullString
		err := db.QueryRow("SELECT close_reason FROM websocket_connections WHERE disconnected_at IS NOT NULL").Scan(&reason)
		if err != nil || !strings.Contains(reason.String, "shutdown") {
			return fmt.Errorf("close reason %q (%v)", reason.String, err)
		}
		return nil
	})
}

// WebSockets work through the TLS listener too (wss://; clients negotiate HTTP/1.1 for them).
func TestWebSocketOverTLS(t *testing.T) {
	be := wsEchoBackend(t)
	ca := newTestCA(t)
	cl := newCluster(t, "{}\n", map[string]string{"ws.yaml": flatSite("ws.test", be.URL)})
	crt, key := ca.issue(t, 100, "ws.test")
	writeFile(t, filepath.Join(cl.dir, "certs", "ws.test.crt"), string(crt))
	writeFile(t, filepath.Join(cl.dir, "certs", "ws.test.key"), string(key))
	cl.startCP()
	cl.startDP("node-1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool, ServerName: "ws.test"}}}
	c, _, err := websocket.Dial(ctx, "wss://"+cl.tlsAddr+"/echo", &websocket.DialOptions{Host: "ws.test", HTTPClient: hc})
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	defer c.CloseNow()
	for i := 0; i < 100; i++ {
		want := fmt.Sprintf("tls message %d", i)
		if err := c.Write(ctx, websocket.MessageText, []byte(want)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != want {
			t.Fatalf("echo %d: %q %v", i, got, err)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close: %v", err)
	}
}
