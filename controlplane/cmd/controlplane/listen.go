package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// listeners are bound before anything else starts, so a port in use is a startup error.
type listeners struct {
	grpc  []net.Listener
	admin net.Listener
}

func listenAll(s settings) (*listeners, error) {
	l := &listeners{}
	g, err := net.Listen("tcp", s.grpcAddr)
	if err != nil {
		return nil, fmt.Errorf("gRPC address %s (PROXY_GRPC_ADDR): %w", s.grpcAddr, err)
	}
	l.grpc = append(l.grpc, g)
	if s.grpcSocket != "" {
		u, err := listenUnix(s.grpcSocket)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("gRPC socket (PROXY_GRPC_SOCKET): %w", err)
		}
		l.grpc = append(l.grpc, u)
	}
	if l.admin, err = listenAdmin(s.adminAddr); err != nil {
		l.close()
		return nil, fmt.Errorf("admin address %s (PROXY_ADMIN_ADDR): %w", s.adminAddr, err)
	}
	return l, nil
}

// listenAdmin refuses any address a remote machine could reach: the admin surface has no login of
// its own and is meant for an SSH tunnel.
func listenAdmin(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return listenUnix(path)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("refusing to serve the admin surface on %q: use a loopback address (127.0.0.1:8080) or unix:/path", addr)
	}
	return net.Listen("tcp", addr)
}

// listenUnix binds a Unix socket readable by owner and group only, replacing a stale socket file
// left by a crash (but never a regular file).
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use by another process", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return peerListener{l}, nil // peercred_linux.go: the audit trail names the peer's uid
}

func (l *listeners) grpcAddrs() []string {
	var out []string
	for _, g := range l.grpc {
		out = append(out, g.Addr().Network()+":"+g.Addr().String())
	}
	return out
}

// close closes whatever is still open; Serve/Shutdown close them on the normal path.
func (l *listeners) close() {
	for _, g := range l.grpc {
		g.Close()
	}
	if l.admin != nil {
		l.admin.Close()
	}
}

// checkPaths verifies the directories the control plane needs before it starts anything.
func checkPaths(s settings) error {
	if err := isDir(s.sitesDir, "sites directory (PROXY_SITES_DIR)"); err != nil {
		return err
	}
	if err := isDir(s.certsDir, "certificate directory (PROXY_CERTS_DIR)"); err != nil {
		return err
	}
	dbDir := filepath.Dir(s.dbPath)
	if err := isDir(dbDir, "database directory (PROXY_DB_PATH)"); err != nil {
		return err
	}
	f, err := os.CreateTemp(dbDir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("database directory %s (PROXY_DB_PATH) is not writable: %w", dbDir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

func isDir(path, what string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: %s is not a directory", what, path)
	}
	return nil
}
