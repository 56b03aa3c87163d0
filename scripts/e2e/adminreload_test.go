package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/pkg/grpcauth"
)

// overwriteUnseen puts content (of the file's own size) into path the way no file watcher can
// notice: through a shared memory mapping, which inotify does not report as a modification, with
// the modification time put back afterwards, which inotify reports only as an attribute change
// (ignored by the watcher) and which leaves the watcher's fingerprint of names, sizes and times
// as it was. It stands for what the watcher misses in production: files changed from another
// host on a network filesystem, or a bind mount's source replaced on the host.
func overwriteUnseen(t *testing.T, path string, content []byte) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(content)) {
		t.Fatalf("overwrite %s: %d bytes for a file of %d", path, len(content), fi.Size())
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := syscall.Mmap(int(f.Fd()), 0, len(content), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap %s: %v", path, err)
	}
	copy(m, content)
	if err := syscall.Munmap(m); err != nil {
		t.Fatalf("munmap %s: %v", path, err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// issueSized issues certificates for name until one has the PEM size of want (ECDSA signatures
// vary by a byte or two), so it can replace want's file unseen. The key's PEM size is fixed.
func (ca *testCA) issueSized(t *testing.T, serial int64, name string, want []byte) (certPEM, keyPEM []byte) {
	t.Helper()
	for range 50 {
		if c, k := ca.issue(t, serial, name); len(c) == len(want) {
			return c, k
		}
	}
	t.Fatalf("no certificate of %d bytes in 50 attempts", len(want))
	return nil, nil
}

// Issue 10: POST /api/admin/reload and the gRPC Reload (over TCP and on the Unix socket) each
// re-read the configuration and the certificates, whether or not the file watcher saw the change,
// and write the audit log with the caller (on the socket: its user id). Before each reload the site file gets another backend and the certificate another
// serial, both changed where the watcher cannot see it; the data plane keeps the old ones until
// the reload, and serves the new ones right after it.
func TestReloadRereadsConfigAndCertificates(t *testing.T) {
	names := []string{"A", "B", "C", "D"}
	backends := []string{backend(t, "A").URL, backend(t, "B").URL, backend(t, "C").URL, backend(t, "D").URL}
	ca := newTestCA(t)
	cl := newCluster(t, "{}\n", map[string]string{"app.yaml": flatSite("app.test", backends[0])})
	certs := filepath.Join(cl.dir, "certs")
	crtPath, keyPath := filepath.Join(certs, "app.test.crt"), filepath.Join(certs, "app.test.key")
	crt, key := ca.issue(t, 10, "app.test")
	writeFile(t, crtPath, string(crt))
	writeFile(t, keyPath, string(key))
	cl.startCP()
	cl.startDP("node-1")
	admin := "http://" + cl.adminAddr
	_, h1, _ := tlsClients(t, ca.pool, "app.test")
	h1.Transport.(*http.Transport).DisableKeepAlives = true // every request a new handshake

	served := func() (serial int64, backend string, err error) {
		if serial, err = servedSerial(cl.tlsAddr, "app.test", ca.pool); err != nil {
			return 0, "", err
		}
		_, body, err := tlsGet(h1, cl.tlsAddr, "app.test", "/")
		name, _, _ := strings.Cut(strings.TrimPrefix(body, "backend="), " ")
		return serial, name, err
	}
	if s, b, err := served(); err != nil || s != 10 || b != "A" {
		t.Fatalf("before any reload: serial %d, backend %q (%v); want 10 and A", s, b, err)
	}

	// grpcurl's two ways in: the overlay address, and the socket on the host.
	grpcReload := func(target string) func() (bool, uint64, error) {
		return func() (bool, uint64, error) {
			conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithPerRPCCredentials(grpcauth.NewCredentials(cl.tokenValue())))
			if err != nil {
				return false, 0, err
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := proxyv1.NewAdminServiceClient(conn).Reload(ctx, &proxyv1.ReloadRequest{})
			if err == nil && len(r.GetErrors()) > 0 {
				err = fmt.Errorf("rejected: %v", r.GetErrors())
			}
			return r.GetChanged(), r.GetVersion(), err
		}
	}

	reloads := []struct {
		via    string
		source string // of the audit rows
		user   string // prefix of the audit trail's user
		reload func() (changed bool, version uint64, err error)
	}{
		{via: "POST /api/admin/reload", source: "api", user: "from 127.0.0.1:", reload: func() (bool, uint64, error) {
			req, _ := http.NewRequest(http.MethodPost, admin+"/api/admin/reload", nil)
			resp, err := cl.client.Do(req)
			if err != nil {
				return false, 0, err
			}
			defer resp.Body.Close()
			var r struct {
				Changed bool
				Version uint64
				Error   string
			}
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
				return false, 0, fmt.Errorf("status %d %q (%v)", resp.StatusCode, r.Error, err)
			}
			return r.Changed, r.Version, nil
		}},
		{via: "gRPC Reload over TCP", source: "grpc", user: "grpc 127.0.0.1:", reload: grpcReload(cl.grpcAddr)},
		{via: "gRPC Reload on the socket", source: "grpc", user: fmt.Sprintf("grpc unix:%s (uid %d) (admin token)", cl.socket, os.Getuid()), reload: grpcReload("unix:" + cl.socket)},
	}
	var status struct{ Version uint64 }
	if err := getJSON(cl.client, admin+"/api/status", 200, &status); err != nil {
		t.Fatal(err)
	}
	version := status.Version
	for i, rl := range reloads {
		serial, name, old := int64(11+i), names[i+1], names[i]
		newCrt, newKey := ca.issueSized(t, serial, "app.test", crt)
		overwriteUnseen(t, crtPath, newCrt)
		overwriteUnseen(t, keyPath, newKey)
		overwriteUnseen(t, filepath.Join(cl.sites, "app.yaml"), []byte(flatSite("app.test", backends[i+1])))
		crt = newCrt

		// Two debounce periods of the watcher (250 ms): it saw nothing, the old ones are served.
		time.Sleep(600 * time.Millisecond)
		if s, b, err := served(); err != nil || s != serial-1 || b != old {
			t.Fatalf("%s: before the reload: serial %d, backend %q (%v); want the old %d and %s (did the watcher see the change?)",
				rl.via, s, b, err, serial-1, old)
		}
		changed, v, err := rl.reload()
		if err != nil || !changed || v != version+1 {
			t.Fatalf("%s reload: changed %v, version %d (%v); want a change to version %d", rl.via, changed, v, err, version+1)
		}
		version = v
		eventually(t, 5*time.Second, rl.via+": the new certificate and backend served", func() error {
			if s, b, err := served(); err != nil || s != serial || b != name {
				return fmt.Errorf("serial %d, backend %q (%v); want %d and %s", s, b, err, serial, name)
			}
			return nil
		})

		// One config_reload row for the version, with this caller; the site file's change too.
		rows, err := auditRows(cl.client, admin, "config_reload")
		if err != nil {
			t.Fatal(err)
		}
		if r := rows[0]; r.Source != rl.source || !strings.HasPrefix(r.User, rl.user) || r.ResourceID != fmt.Sprint(version) ||
			!strings.Contains(r.Notes, "1 certificates") {
			t.Errorf("%s: newest config_reload row %+v; want source %s, user %s..., version %d, 1 certificate", rl.via, r, rl.source, rl.user, version)
		}
		for _, r := range rows[1:] {
			if r.ResourceID == fmt.Sprint(version) {
				t.Errorf("%s: a second config_reload row for version %d: %+v", rl.via, version, r)
			}
		}
		files, err := auditRows(cl.client, admin, "config_file_changed")
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != i+1 || files[0].Source != rl.source || !strings.HasPrefix(files[0].User, rl.user) {
			t.Errorf("%s: config_file_changed rows %+v; want %d, the newest from this reload and caller", rl.via, files, i+1)
		}
	}
	if strings.Contains(cl.cp.out.String(), `"source":"file_watcher"`) {
		t.Errorf("the file watcher reloaded: the changes were meant to be invisible to it")
	}
}
