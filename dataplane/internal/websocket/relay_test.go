package websocket

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// frame is one frame seen by a test end, payload unmasked.
type frame struct {
	h       Header
	payload []byte
}

// end is the test's side of a pipe: a client (masking) or a backend.
type end struct {
	conn   net.Conn
	client bool
	frames chan frame
}

func newEnd(t *testing.T, conn net.Conn, client bool) *end {
	e := &end{conn: conn, client: client, frames: make(chan frame, 2000)}
	go func() {
		defer close(e.frames)
		fr := NewReader(conn, !client) // a client reads a server's frames and vice versa
		for {
			h, err := fr.NextFrame()
			if err != nil {
				return
			}
			p, err := io.ReadAll(fr)
			if err != nil {
				return
			}
			if h.Masked {
				Mask(h.Key, 0, p)
			}
			e.frames <- frame{h, p}
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return e
}

func (e *end) send(t *testing.T, fin bool, op Opcode, p []byte) {
	t.Helper()
	h := Header{Fin: fin, Op: op, Masked: e.client, Key: [4]byte{0xA, 0xB, 0xC, 0xD}}
	if err := WriteFrame(e.conn, h, p); err != nil {
		t.Fatalf("send %s: %v", op, err)
	}
}

func (e *end) next(t *testing.T) frame {
	t.Helper()
	select {
	case f, ok := <-e.frames:
		if !ok {
			t.Fatal("connection closed, want a frame")
		}
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no frame within 5s")
	}
	return frame{}
}

func wantClose(t *testing.T, f frame, code int) {
	t.Helper()
	if f.h.Op != OpClose {
		t.Fatalf("got %s %q, want close %d", f.h.Op, f.payload, code)
	}
	if got, _, err := ParseClose(f.payload); err != nil || got != code {
		t.Fatalf("close %d (%v), want %d", got, err, code)
	}
}

// startRelay runs a relay between a test client and a test backend.
func startRelay(t *testing.T, pol Policy, shutdown chan struct{}) (client, backend *end, result chan Result) {
	c1, c2 := net.Pipe()
	b1, b2 := net.Pipe()
	rl := &Relay{Client: c2, Backend: b1, Policy: pol, CloseWait: time.Second}
	if shutdown != nil {
		rl.Shutdown = shutdown
	}
	result = make(chan Result, 1)
	go func() { result <- rl.Run() }()
	return newEnd(t, c1, true), newEnd(t, b2, false), result
}

func waitResult(t *testing.T, result chan Result) Result {
	t.Helper()
	select {
	case r := <-result:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("relay did not end")
	}
	return Result{}
}

func TestRelayForwardsAndClosesCleanly(t *testing.T) {
	client, backend, result := startRelay(t, Policy{Enabled: true}, nil)
	// A fragmented message with a ping in between reaches the backend as sent, masking included.
	client.send(t, false, OpText, []byte("hel"))
	client.send(t, true, OpPing, []byte("are you there"))
	client.send(t, true, OpContinuation, []byte("lo"))
	for _, want := range []frame{
		{Header{Op: OpText, Masked: true, Length: 3}, []byte("hel")},
		{Header{Fin: true, Op: OpPing, Masked: true, Length: 13}, []byte("are you there")},
		{Header{Fin: true, Op: OpContinuation, Masked: true, Length: 2}, []byte("lo")},
	} {
		got := backend.next(t)
		want.h.Key = got.h.Key
		if got.h != want.h || !bytes.Equal(got.payload, want.payload) {
			t.Fatalf("backend got %+v %q, want %+v %q", got.h, got.payload, want.h, want.payload)
		}
	}
	big := bytes.Repeat([]byte("z"), 100_000)
	backend.send(t, true, OpBinary, big)
	if f := client.next(t); f.h.Op != OpBinary || f.h.Masked || !bytes.Equal(f.payload, big) {
		t.Fatalf("client got %s of %d bytes (masked %v)", f.h.Op, len(f.payload), f.h.Masked)
	}
	// The client closes; the close reaches the backend, whose answer completes the handshake.
	client.send(t, true, OpClose, ClosePayload(CloseNormal, "bye"))
	wantClose(t, backend.next(t), CloseNormal)
	backend.send(t, true, OpClose, ClosePayload(CloseNormal, ""))
	wantClose(t, client.next(t), CloseNormal)
	r := waitResult(t, result)
	if r.CloseReason != "client closed (1000)" || r.BytesSent < 100_000 || r.BytesReceived < 20 {
		t.Fatalf("result %+v", r)
	}
}

func TestRelayPingsClientAndClosesIdle(t *testing.T) {
	client, backend, result := startRelay(t, Policy{Enabled: true, PingInterval: 20 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}, nil)
	// The client answers the proxy's pings for a while, longer than the idle timeout: the
	// connection stays open, and the backend sees neither the pings nor the pongs.
	deadline := time.Now().Add(600 * time.Millisecond)
	pongs := 0
	for time.Now().Before(deadline) {
		f := client.next(t)
		if f.h.Op != OpPing || f.h.Masked {
			t.Fatalf("client got %s (masked %v), want an unmasked ping", f.h.Op, f.h.Masked)
		}
		client.send(t, true, OpPong, f.payload)
		pongs++
	}
	// A pong the proxy did not ask for goes on to the backend.
	client.send(t, true, OpPong, []byte("unsolicited"))
	if f := backend.next(t); f.h.Op != OpPong || string(f.payload) != "unsolicited" {
		t.Fatalf("backend got %s %q, want the unsolicited pong", f.h.Op, f.payload)
	}
	// Now the client stops answering: after the idle timeout both ends get 1001.
	var f frame
	for f = client.next(t); f.h.Op == OpPing; f = client.next(t) {
	}
	wantClose(t, f, CloseGoingAway)
	bf := backend.next(t)
	wantClose(t, bf, CloseGoingAway)
	if !bf.h.Masked {
		t.Fatal("the proxy's close to the backend is not masked")
	}
	client.send(t, true, OpClose, ClosePayload(CloseGoingAway, ""))
	backend.send(t, true, OpClose, ClosePayload(CloseGoingAway, ""))
	if r := waitResult(t, result); r.CloseReason != ReasonIdle {
		t.Fatalf("reason %q, want %q", r.CloseReason, ReasonIdle)
	}
	if pongs < 5 {
		t.Fatalf("only %d pings in 600ms at a 20ms interval", pongs)
	}
}

func TestRelayMaxDuration(t *testing.T) {
	client, backend, result := startRelay(t, Policy{Enabled: true, MaxDuration: 100 * time.Millisecond}, nil)
	wantClose(t, client.next(t), CloseGoingAway)
	wantClose(t, backend.next(t), CloseGoingAway)
	// Neither answers: the bounded wait ends the relay.
	if r := waitResult(t, result); r.CloseReason != ReasonMaxDuration {
		t.Fatalf("reason %q", r.CloseReason)
	}
}

func TestRelayBackendGoesAway(t *testing.T) {
	client, backend, result := startRelay(t, Policy{Enabled: true}, nil)
	backend.conn.Close()
	wantClose(t, client.next(t), CloseGoingAway)
	if r := waitResult(t, result); r.CloseReason != "backend disconnected" {
		t.Fatalf("reason %q", r.CloseReason)
	}
}

func TestRelayProtocolError(t *testing.T) {
	client, backend, result := startRelay(t, Policy{Enabled: true}, nil)
	if _, err := client.conn.Write([]byte{0x81, 0x00}); err != nil { // unmasked client frame
		t.Fatal(err)
	}
	wantClose(t, client.next(t), CloseProtocolError)
	wantClose(t, backend.next(t), CloseGoingAway)
	if r := waitResult(t, result); r.CloseReason != "error: client: client frame not masked" {
		t.Fatalf("reason %q", r.CloseReason)
	}
}

func TestTrackerLimitsAndClosesAll(t *testing.T) {
	tr := NewTracker()
	var leases []*Lease
	for range 2 {
		l, err := tr.Acquire("chat", 2)
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	if _, err := tr.Acquire("chat", 2); !errors.Is(err, ErrTooManyConnections) {
		t.Fatalf("third Acquire: %v, want ErrTooManyConnections", err)
	}
	if _, err := tr.Acquire("other", 2); err != nil {
		t.Fatalf("another route: %v", err)
	}
	if leases[0].ID() == leases[1].ID() {
		t.Fatal("two connections with one id")
	}
	leases[1].Release()
	leases[1].Release() // twice is once
	if got := tr.Active("chat"); got != 1 {
		t.Fatalf("Active = %d, want 1", got)
	}
	tr = NewTracker()

	// Two live relays: CloseAll sends both ends 1001 and returns once they have ended.
	type conn struct {
		client, backend *end
		result          chan Result
	}
	var conns []conn
	for range 2 {
		l, err := tr.Acquire("chat", 0)
		if err != nil {
			t.Fatal(err)
		}
		c1, c2 := net.Pipe()
		b1, b2 := net.Pipe()
		rl := &Relay{Client: c2, Backend: b1, Policy: Policy{Enabled: true}, Shutdown: l.Shutdown(), Abort: l.Abort()}
		res := make(chan Result, 1)
		go func() { defer l.Release(); res <- rl.Run() }()
		conns = append(conns, conn{newEnd(t, c1, true), newEnd(t, b2, false), res})
	}
	done := make(chan error, 1)
	go func() { done <- tr.CloseAll(context.Background()) }()
	for _, c := range conns {
		wantClose(t, c.client.next(t), CloseGoingAway)
		wantClose(t, c.backend.next(t), CloseGoingAway)
		c.client.send(t, true, OpClose, ClosePayload(CloseGoingAway, ""))
		c.backend.send(t, true, OpClose, ClosePayload(CloseGoingAway, ""))
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("CloseAll did not return")
	}
	for _, c := range conns {
		if r := waitResult(t, c.result); r.CloseReason != ReasonShutdown {
			t.Fatalf("reason %q", r.CloseReason)
		}
	}
	if _, err := tr.Acquire("chat", 0); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("Acquire after CloseAll: %v", err)
	}
}

func TestCloseAllDeadlineCuts(t *testing.T) {
	tr := NewTracker()
	l, _ := tr.Acquire("chat", 0)
	c1, c2 := net.Pipe()
	b1, b2 := net.Pipe()
	defer c1.Close()
	defer b2.Close()
	// Nobody reads the pipes: the close frames cannot even be written.
	rl := &Relay{Client: c2, Backend: b1, Policy: Policy{Enabled: true}, Shutdown: l.Shutdown(), Abort: l.Abort(), CloseWait: time.Minute}
	res := make(chan Result, 1)
	go func() { defer l.Release(); res <- rl.Run() }()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := tr.CloseAll(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CloseAll = %v, want the deadline", err)
	}
	waitResult(t, res)
}
