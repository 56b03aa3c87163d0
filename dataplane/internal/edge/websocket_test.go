package edge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/websocket"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// wsLog is a Sink that keeps WebSocket events too.
type wsLog struct {
	eventLog
	wsMu sync.Mutex
	ws   []*proxyv1.WebSocketEvent
}

func (l *wsLog) PushWebSocket(e *proxyv1.WebSocketEvent) {
	l.wsMu.Lock()
	defer l.wsMu.Unlock()
	l.ws = append(l.ws, e)
}

func (l *wsLog) webSockets() []*proxyv1.WebSocketEvent {
	l.wsMu.Lock()
	defer l.wsMu.Unlock()
	return append([]*proxyv1.WebSocketEvent(nil), l.ws...)
}

// wsBackend accepts a WebSocket handshake by hand, echoes frames, and records the request.
func wsBackend(t *testing.T, seenReq chan<- *http.Request) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenReq <- r
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n")
		_ = brw.Flush()
		fr := websocket.NewReader(brw, true)
		for {
			h, err := fr.NextFrame()
			if err != nil {
				return
			}
			p, _ := io.ReadAll(fr)
			websocket.Mask(h.Key, 0, p)
			h.Masked = false
			if err := websocket.WriteFrame(conn, h, p); err != nil || h.Op == websocket.OpClose {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

const wsHandshake = "GET /socket HTTP/1.1\r\nHost: chat.example.org\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n" +
	"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"

func TestWebSocketUpgradeRelaysAndRecords(t *testing.T) {
	seenReq := make(chan *http.Request, 1)
	be := wsBackend(t, seenReq)
	h := &harness{holder: &Holder{}, pools: proxy.NewPools(proxy.Options{})}
	log := &wsLog{}
	handler, err := New(Config{Runtimes: h.holder, Events: log})
	if err != nil {
		t.Fatal(err)
	}
	h.front = httptest.NewServer(handler)
	defer h.front.Close()
	defer h.pools.Close()
	h.apply(t, 1, newRoute("chat", be.URL, "/", "chat.example.org"))

	conn, err := net.Dial("tcp", h.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The handshake and a first frame in one write: the proxy must not lose what it read ahead.
	first := append([]byte(wsHandshake), frameTo(websocket.OpText, "hello")...)
	if _, err := conn.Write(first); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-WebSocket-Accept") != "x" || res.Header.Get("X-Request-ID") == "" {
		t.Fatalf("response %d %v", res.StatusCode, res.Header)
	}
	r := <-seenReq
	if r.Header.Get("X-Forwarded-For") != "127.0.0.1" || r.Header.Get("X-Real-IP") != "127.0.0.1" ||
		r.Header.Get("X-Request-ID") != res.Header.Get("X-Request-ID") || r.Host != "chat.example.org" {
		t.Fatalf("backend saw Host %q and headers %v", r.Host, r.Header)
	}
	fr := websocket.NewReader(br, false)
	hd, err := fr.NextFrame()
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := io.ReadAll(fr); hd.Op != websocket.OpText || string(p) != "hello" {
		t.Fatalf("echo %s %q", hd.Op, p)
	}
	if _, err := conn.Write(frameToClose()); err != nil {
		t.Fatal(err)
	}
	if hd, err := fr.NextFrame(); err != nil || hd.Op != websocket.OpClose {
		t.Fatalf("close answer %+v %v", hd, err)
	}

	evs := log.wait(t, 1)
	if evs[0].GetStatus() != http.StatusSwitchingProtocols || evs[0].GetRouteId() != "chat" {
		t.Fatalf("request event %v", evs[0])
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(log.webSockets()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ws := log.webSockets()
	if len(ws) != 2 || ws[0].GetKind() != proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_OPEN ||
		ws[1].GetKind() != proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_CLOSE {
		t.Fatalf("websocket events %v", ws)
	}
	c := ws[1]
	if c.GetConnectionId() != ws[0].GetConnectionId() || c.GetRequestId() != evs[0].GetRequestId() ||
		c.GetCloseReason() != "client closed (1000)" || c.GetBytesSent() == 0 || c.GetBytesReceived() == 0 ||
		c.GetClientIp() == "" || c.GetPath() != "/socket" {
		t.Fatalf("close event %v", c)
	}
	if n := handler.WebSockets().Active("chat"); n != 0 {
		t.Fatalf("%d still active", n)
	}
}

func TestWebSocketDisabledAndLimited(t *testing.T) {
	seenReq := make(chan *http.Request, 10)
	be := wsBackend(t, seenReq)
	h := newHarness(t, proxy.Options{})
	off := newRoute("off", be.URL, "/", "off.example.org")
	off.Policy = &proxyv1.Policy{Websocket: &proxyv1.WebSocket{Enabled: false}}
	full := newRoute("full", be.URL, "/", "full.example.org")
	full.Policy = &proxyv1.Policy{Websocket: &proxyv1.WebSocket{Enabled: true, MaxConnections: 1}}
	h.apply(t, 1, off, full)

	handshake := func(host string) (net.Conn, int) {
		conn, err := net.Dial("tcp", h.front.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		return conn, res.StatusCode
	}
	if _, status := handshake("off.example.org"); status != http.StatusForbidden {
		t.Fatalf("disabled route: %d, want 403", status)
	}
	if _, status := handshake("full.example.org"); status != http.StatusSwitchingProtocols {
		t.Fatalf("first connection: %d, want 101", status)
	}
	if _, status := handshake("full.example.org"); status != http.StatusServiceUnavailable {
		t.Fatalf("over max_connections: %d, want 503", status)
	}
	if len(seenReq) != 1 {
		t.Fatalf("the backend saw %d handshakes, want only the accepted one", len(seenReq))
	}
}

func frameTo(op websocket.Opcode, s string) []byte {
	var b []byte
	w := &sliceWriter{&b}
	_ = websocket.WriteFrame(w, websocket.Header{Fin: true, Op: op, Masked: true, Key: [4]byte{1, 2, 3, 4}}, []byte(s))
	return b
}

func frameToClose() []byte {
	var b []byte
	_ = websocket.WriteFrame(&sliceWriter{&b}, websocket.Header{Fin: true, Op: websocket.OpClose, Masked: true, Key: [4]byte{5, 6, 7, 8}},
		websocket.ClosePayload(websocket.CloseNormal, ""))
	return b
}

type sliceWriter struct{ b *[]byte }

func (w *sliceWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }
