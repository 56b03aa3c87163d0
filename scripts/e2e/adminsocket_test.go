package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// sshTunnel forwards a local TCP port to a Unix socket the way `ssh -L
// 8080:/run/proxy-manager/admin.sock host` does: every connection accepted on 127.0.0.1 gets its own
// connection to the socket, bytes are copied both ways, and each direction's end is passed on as
// a half-close. The control plane sees what it sees behind sshd: a Unix-socket peer, and the Host
// and Origin the browser put on the local port.
type sshTunnel struct {
	l     net.Listener
	conns atomic.Int64 // connections forwarded so far
	mu    sync.Mutex
	open  map[net.Conn]bool
	wg    sync.WaitGroup
}

func newSSHTunnel(t *testing.T, socket string) *sshTunnel {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tu := &sshTunnel{l: l, open: map[net.Conn]bool{}}
	tu.wg.Add(1)
	go func() {
		defer tu.wg.Done()
		for {
			local, err := l.Accept()
			if err != nil {
				return // closed by the cleanup
			}
			remote, err := net.Dial("unix", socket)
			if err != nil {
				// ssh answers "open failed: connect failed" and closes the channel.
				local.Close()
				continue
			}
			tu.conns.Add(1)
			tu.track(local, remote)
			tu.wg.Add(2)
			go tu.pipe(remote, local)
			go tu.pipe(local, remote)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		tu.mu.Lock()
		for c := range tu.open {
			c.Close()
		}
		tu.mu.Unlock()
		tu.wg.Wait()
	})
	return tu
}

func (tu *sshTunnel) port() int { return tu.l.Addr().(*net.TCPAddr).Port }

func (tu *sshTunnel) track(cs ...net.Conn) {
	tu.mu.Lock()
	defer tu.mu.Unlock()
	for _, c := range cs {
		tu.open[c] = true
	}
}

// pipe copies src to dst until src ends, then half-closes dst; the second of a pair to finish
// closes both.
func (tu *sshTunnel) pipe(dst, src net.Conn) {
	defer tu.wg.Done()
	_, _ = io.Copy(dst, src) // an error ends the copy exactly as EOF does: the peer is gone
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	tu.mu.Lock()
	defer tu.mu.Unlock()
	if tu.open[src] && tu.open[dst] {
		delete(tu.open, src) // the other direction is still copying
		return
	}
	delete(tu.open, src)
	delete(tu.open, dst)
	src.Close()
	dst.Close()
}

// startCPOnSocket starts the control plane with its admin listener on a Unix socket and waits,
// through a tunnel, until it is ready. It leaves cl.adminAddr unused.
func (c *cluster) startCPOnSocket(socket string) *sshTunnel {
	c.t.Helper()
	c.cp = start(c.t, "controlplane", bins.controlplane, append(c.cpEnv(), "PROXY_ADMIN_ADDR=unix:"+socket))
	eventually(c.t, 20*time.Second, "the admin socket", func() error {
		_, err := os.Stat(socket)
		return err
	})
	tunnel := newSSHTunnel(c.t, socket)
	eventually(c.t, 20*time.Second, "control plane ready through the tunnel", func() error {
		return httpStatus(c.client, fmt.Sprintf("http://127.0.0.1:%d/health/ready", tunnel.port()), 200)
	})
	return tunnel
}

type auditRow struct {
	User, Action, Source, Notes string
	ResourceID                  string `json:"resource_id"`
}

// auditRows returns the audit entries with action, newest first, read through base.
func auditRows(cl *http.Client, base, action string) ([]auditRow, error) {
	var a struct{ Entries []auditRow }
	err := getJSON(cl, base+"/api/audit?action="+action, 200, &a)
	return a.Entries, err
}

// Checked by 3 (issue 10, second half): the admin listener on a Unix socket serves the dashboard
// through an ssh -L style tunnel, under both names the admin may type (localhost and 127.0.0.1):
// the page shows the routes of the configuration, the Reload button (a POST with the CSRF token)
// works and lands in the audit log naming the caller's user id, and the socket is closed to
// other users.
func TestAdminDashboardOverUnixSocket(t *testing.T) {
	app, shop := backend(t, "A"), backend(t, "B")
	cl := newCluster(t, "{}\n", map[string]string{"app.yaml": flatSite("app.test", app.URL), "shop.yaml": flatSite("shop.test", shop.URL)})
	// A directory the control plane creates, as /run/proxy-manager/ on a fresh host.
	socket := filepath.Join(cl.dir, "run", "proxy-manager", "admin.sock")
	tunnel := cl.startCPOnSocket(socket)
	cl.startDP("node-1")

	// Only the owner and the group (the admins allowed to tunnel to it) may connect.
	fi, err := os.Stat(socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("admin socket mode %v, want a socket with mode 0660 (owner and group only)", fi.Mode())
	}
	if di, err := os.Stat(filepath.Dir(socket)); err != nil {
		t.Error(err)
	} else if di.Mode().Perm()&0o007 != 0 {
		t.Errorf("socket directory mode %v, want no access for others", di.Mode())
	}
	// Nothing listens on TCP for the admin surface: the configured TCP address stays free.
	if c, err := net.DialTimeout("tcp", cl.adminAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("something answers on %s; the admin surface must only be on the socket", cl.adminAddr)
	}

	// A page of another name resolving to 127.0.0.1 (DNS rebinding) is refused through the tunnel too.
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/api/status", tunnel.port()), nil)
	req.Host = "evil.example"
	if resp, err := cl.client.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host through the tunnel: %v %v, want 421", resp, err)
	} else {
		resp.Body.Close()
	}

	var status struct{ Version int }
	if err := getJSON(cl.client, fmt.Sprintf("http://127.0.0.1:%d/api/status", tunnel.port()), 200, &status); err != nil {
		t.Fatal(err)
	}
	for i, host := range []string{"localhost", "127.0.0.1"} {
		t.Run(host, func(t *testing.T) {
			admin := fmt.Sprintf("%s:%d", host, tunnel.port())
			watch := &browserWatch{admin: admin}
			ctx := startBrowser(t, watch)
			// The root, as the admin types it after opening the tunnel, redirects to the dashboard.
			if err := chromedp.Do(ctx, chromedp.Navigate("http://"+admin+"/")); err != nil {
				t.Fatalf("open http://%s/: %v", admin, err)
			}
			jsUntil(t, ctx, 15*time.Second, `document.body.dataset.loaded || ''`, "1")
			jsUntil(t, ctx, 10*time.Second, `location.pathname`, "/dashboard/")
			watch.selfCheck(t, ctx)
			row := func(route string) string {
				return `[...document.querySelectorAll('#routes-body tr')].filter(r => r.cells[0].innerText === '` + route + `').map(r => [...r.cells].map(c => c.innerText).join('|')).join('')`
			}
			jsUntil(t, ctx, 10*time.Second, row("app.test/"), "app.test/|app.test|"+app.URL+"|")
			jsUntil(t, ctx, 10*time.Second, row("shop.test/"), "shop.test/|shop.test|"+shop.URL+"|")
			jsUntil(t, ctx, 10*time.Second, viewText("dataplanes"), "node-1", "connected")

			if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("reload"))); err != nil {
				t.Fatalf("click Reload: %v", err)
			}
			jsUntil(t, ctx, 10*time.Second, viewText("notice"), fmt.Sprintf("Configuration unchanged: version %d stays live.", status.Version))
			// The audit log, read through the tunnel as the page reads it, has one row per click.
			eventually(t, 5*time.Second, "the reload in the audit log", func() error {
				rows, err := auditRows(cl.client, "http://"+admin, "config_unchanged")
				if err != nil {
					return err
				}
				if len(rows) != i+1 {
					return fmt.Errorf("%d config_unchanged rows, want %d: %+v", len(rows), i+1, rows)
				}
				// The caller is the user the tunnel's process runs as (sshd's, for the SSH user).
				caller := fmt.Sprintf("from unix:%s (uid %d)", socket, os.Getuid())
				if r := rows[0]; r.Source != "api" || r.User != caller || r.ResourceID != fmt.Sprint(status.Version) {
					return fmt.Errorf("audit row %+v, want source api, user %q and version %d", r, caller, status.Version)
				}
				return nil
			})
			jsUntil(t, ctx, 10*time.Second, `[...document.querySelectorAll('#audit-body tr[data-action="config_unchanged"]')].length + ' rows'`, fmt.Sprintf("%d rows", i+1))
			watch.check(t)
		})
	}
	if n := tunnel.conns.Load(); n < 3 {
		t.Errorf("%d connections through the tunnel, want the browsers' and the test's", n)
	}
}
