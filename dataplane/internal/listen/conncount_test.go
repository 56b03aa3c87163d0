package listen_test

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// waitConns waits until the servers count want open connections.
func (e *env) waitConns(want int64) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := e.srv.ActiveConnections()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("ActiveConnections() = %d, want %d", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestActiveConnectionsOnEveryListener(t *testing.T) {
	e := start(t, echo(), nil)
	e.waitConns(0)
	clients := e.clients()
	url := "https://www.example.org:" + e.tlsPort() + "/"
	for i, c := range clients {
		// Two requests: a kept-alive connection is counted once.
		get(t, c.client, url)
		get(t, c.client, url)
		e.waitConns(int64(i + 1))
	}
	// A connection to the plain-HTTP listener that has sent nothing yet counts too.
	raw, err := net.Dial("tcp", e.srv.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	e.waitConns(4)
	raw.Close()
	e.waitConns(3)
	for _, c := range clients {
		switch tr := c.client.Transport.(type) {
		case *http.Transport:
			tr.CloseIdleConnections()
		case interface{ Close() error }:
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.waitConns(0)
}
