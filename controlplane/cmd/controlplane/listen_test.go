package main

import (
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The admin surface has no login of its own: only loopback and Unix-socket addresses are served.
func TestListenAdmin(t *testing.T) {
	tests := []struct {
		addr    string
		wantErr string
	}{
		{addr: "127.0.0.1:0"},
		{addr: "localhost:0"},
		{addr: "[::1]:0"},
		{addr: "0.0.0.0:0", wantErr: "use a loopback address"},
		{addr: ":0", wantErr: "use a loopback address"},
		{addr: "[::]:0", wantErr: "use a loopback address"},
		{addr: "192.0.2.1:8080", wantErr: "use a loopback address"},
		{addr: "admin.example.org:8080", wantErr: "use a loopback address"},
		{addr: "127.0.0.1", wantErr: "missing port"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			l, err := listenAdmin(tc.addr)
			if tc.wantErr == "" {
				if err != nil {
					if strings.Contains(tc.addr, "::1") && strings.Contains(err.Error(), "cannot assign") {
						t.Skipf("no IPv6 loopback here: %v", err)
					}
					t.Fatalf("listenAdmin(%q): %v", tc.addr, err)
				}
				l.Close()
				return
			}
			if err == nil {
				l.Close()
				t.Fatalf("listenAdmin(%q) listens; want an error with %q", tc.addr, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("listenAdmin(%q): %v; want %q", tc.addr, err, tc.wantErr)
			}
		})
	}
}

// A Unix socket is created with its directory, closed to other users, replaces a stale socket of
// a crashed process, and refuses a regular file or a socket another process serves.
func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "proxy-manager", "admin.sock")
	l, err := listenAdmin("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want a socket with 0660", fi.Mode())
	}
	if _, err := listenUnix(path); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("second listener on a served socket: %v, want in use", err)
	}

	// A crash leaves the socket file behind: nothing answers it, so it is replaced.
	stale := filepath.Join(dir, "stale.sock")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	if l2, err := listenUnix(stale); err != nil {
		t.Errorf("stale socket: %v, want it replaced", err)
	} else {
		l2.Close()
	}

	regular := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(regular, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := listenUnix(regular); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v, want refused", err)
	}
	if b, _ := os.ReadFile(regular); string(b) != "keep me" {
		t.Errorf("the regular file was changed: %q", b)
	}
	l.Close()
}

// An HTTP handler behind the socket sees the peer's user id as the remote address, which the
// admin API writes into the audit trail ("from unix:/.../admin.sock (uid 1000)").
func TestUnixPeerNamed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_PEERCRED is Linux's")
	}
	path := filepath.Join(t.TempDir(), "admin.sock")
	l, err := listenAdmin("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.RemoteAddr }),
		ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l) //nolint:errcheck // ends with Close below
	defer srv.Close()

	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case addr := <-got:
		want := fmt.Sprintf("unix:%s (uid %d)", path, os.Getuid())
		if addr != want {
			t.Errorf("RemoteAddr %q, want %q", addr, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no request reached the handler")
	}
}
