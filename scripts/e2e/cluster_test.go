package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// cluster is one control plane and its data planes, configured in a temporary directory.
type cluster struct {
	t                   *testing.T
	dir, global, sites  string
	db, token, socket   string
	grpcAddr, adminAddr string
	httpAddr, opsAddr   string
	tlsAddr             string // TCP for TLS, UDP for QUIC: the same port
	cp, dp              *proc
	client              *http.Client
}

func newCluster(t *testing.T, global string, sites map[string]string) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{
		t: t, dir: dir,
		global: filepath.Join(dir, "global.yaml"), sites: filepath.Join(dir, "sites-available"),
		db: filepath.Join(dir, "data", "proxy.db"), token: filepath.Join(dir, "token"),
		socket:   filepath.Join(dir, "grpc.sock"),
		grpcAddr: freeAddr(t), adminAddr: freeAddr(t), httpAddr: freeAddr(t), opsAddr: freeAddr(t),
		tlsAddr: freeTCPUDPAddr(t),
		client:  &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
	}
	t.Cleanup(c.client.CloseIdleConnections)
	writeFile(t, c.global, global)
	for name, content := range sites {
		writeFile(t, filepath.Join(c.sites, name), content)
	}
	writeFile(t, filepath.Join(dir, "certs", ".keep"), "")
	writeFile(t, filepath.Join(dir, "data", ".keep"), "")
	var b [24]byte
	_, _ = rand.Read(b[:])
	writeFile(t, c.token, hex.EncodeToString(b[:])+"\n")
	return c
}

func (c *cluster) tokenValue() string {
	c.t.Helper()
	b, err := os.ReadFile(c.token)
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func (c *cluster) cpEnv() []string {
	return []string{
		"PROXY_GLOBAL_CONFIG=" + c.global, "PROXY_SITES_DIR=" + c.sites,
		"PROXY_CERTS_DIR=" + filepath.Join(c.dir, "certs"), "PROXY_DB_PATH=" + c.db,
		"PROXY_GRPC_ADDR=" + c.grpcAddr, "PROXY_GRPC_SOCKET=" + c.socket, "PROXY_ADMIN_ADDR=" + c.adminAddr,
		"PROXY_GRPC_TOKEN_FILE=" + c.token, "PROXY_SHUTDOWN_TIMEOUT=5s", "LOG_LEVEL=debug", "LOG_FORMAT=json",
	}
}

// startCP starts the control plane and waits until it has a configuration.
func (c *cluster) startCP() *proc {
	c.t.Helper()
	c.cp = start(c.t, "controlplane", bins.controlplane, c.cpEnv())
	eventually(c.t, 20*time.Second, "control plane ready", func() error {
		return httpStatus(c.client, "http://"+c.adminAddr+"/health/ready", 200)
	})
	return c.cp
}

// startDP starts a data plane and waits until it serves a snapshot.
func (c *cluster) startDP(node string) *proc {
	c.t.Helper()
	c.launchDP(node)
	eventually(c.t, 20*time.Second, "data plane ready", func() error {
		return httpStatus(c.client, "http://"+c.opsAddr+"/health/ready", 200)
	})
	return c.dp
}

// launchDP starts a data plane without waiting for it.
func (c *cluster) launchDP(node string) *proc {
	c.t.Helper()
	c.dp = start(c.t, "dataplane-"+node, bins.dataplane, []string{
		"PROXY_CONTROLPLANE_ADDR=" + c.grpcAddr, "PROXY_GRPC_TOKEN_FILE=" + c.token, "PROXY_NODE_ID=" + node,
		"PROXY_LISTEN_ADDR=" + c.httpAddr, "PROXY_OPS_ADDR=" + c.opsAddr, "PROXY_SHUTDOWN_TIMEOUT=10s",
		"PROXY_TLS_ADDR=" + c.tlsAddr, "PROXY_H3_ADDR=" + c.tlsAddr,
		"LOG_LEVEL=debug", "LOG_FORMAT=json",
	})
	return c.dp
}

func httpStatus(cl *http.Client, url string, want int) error {
	resp, err := cl.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s: status %d, want %d", url, resp.StatusCode, want)
	}
	return nil
}

// openDB opens the control plane's database read-only, as an operator with sqlite3 would.
func (c *cluster) openDB() *sql.DB {
	c.t.Helper()
	db, err := sql.Open("sqlite", "file:"+c.db+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	return db
}

func (c *cluster) countLogs(db *sql.DB) (int, error) {
	var n int
	err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM request_logs").Scan(&n)
	return n, err
}

// backend is a test backend that names itself in every answer.
func backend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ms := r.URL.Query().Get("sleep_ms"); ms != "" {
			n, _ := strconv.Atoi(ms)
			select {
			case <-time.After(time.Duration(n) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "backend=%s path=%s xff=%s xrip=%s xfh=%s xfp=%s rid=%s",
			name, r.URL.Path, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Real-IP"),
			r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Request-ID"))
	}))
	t.Cleanup(srv.Close)
	return srv
}
