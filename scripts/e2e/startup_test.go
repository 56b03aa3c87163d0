package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Startup checks: a missing directory, an unwritable database location, a bad token file or a port
// in use stop the binary at once with the reason and a non-zero exit.
func TestStartupChecks(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	cl := newCluster(t, "{}\n", map[string]string{"a.yaml": flatSite("a.test", "http://127.0.0.1:9")})
	shortToken := filepath.Join(cl.dir, "short-token")
	writeFile(t, shortToken, "abc\n")
	tests := []struct {
		desc string
		bin  string
		env  []string
		want string
	}{
		{desc: "sites directory missing", bin: bins.controlplane, env: append(cl.cpEnv(), "PROXY_SITES_DIR="+filepath.Join(cl.dir, "nope")), want: "sites directory (PROXY_SITES_DIR)"},
		{desc: "database directory missing", bin: bins.controlplane, env: append(cl.cpEnv(), "PROXY_DB_PATH="+filepath.Join(cl.dir, "nope", "proxy.db")), want: "database directory (PROXY_DB_PATH)"},
		{desc: "gRPC port in use", bin: bins.controlplane, env: append(cl.cpEnv(), "PROXY_GRPC_ADDR="+busy.Addr().String()), want: "PROXY_GRPC_ADDR"},
		{desc: "admin on a public address", bin: bins.controlplane, env: append(cl.cpEnv(), "PROXY_ADMIN_ADDR=0.0.0.0:0"), want: "use a loopback address"},
		{desc: "token too short", bin: bins.controlplane, env: append(cl.cpEnv(), "PROXY_GRPC_TOKEN_FILE="+shortToken), want: "want at least 16"},
		{desc: "data plane port in use", bin: bins.dataplane, env: []string{"PROXY_GRPC_TOKEN_FILE=" + cl.token, "PROXY_LISTEN_ADDR=" + busy.Addr().String(), "PROXY_OPS_ADDR=127.0.0.1:0"}, want: "PROXY_LISTEN_ADDR"},
		{desc: "data plane without token", bin: bins.dataplane, env: []string{"PROXY_GRPC_TOKEN_FILE=" + filepath.Join(cl.dir, "none"), "PROXY_LISTEN_ADDR=127.0.0.1:0"}, want: "read token file"},
		{desc: "bad duration", bin: bins.dataplane, env: []string{"PROXY_SHUTDOWN_TIMEOUT=soon"}, want: `PROXY_SHUTDOWN_TIMEOUT="soon"`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			cmd := exec.Command(tc.bin)
			cmd.Env = append(os.Environ(), tc.env...)
			done := make(chan struct{})
			var out []byte
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("still running after 10 s; want an immediate exit. Output:\n%s", out)
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
				t.Fatalf("exit: %v, want non-zero; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("output does not name the problem (%q):\n%s", tc.want, out)
			}
		})
	}
}

// The containers' HEALTHCHECK: `healthcheck` (and its alias `health`) exits 0 against a ready
// process and non-zero otherwise.
func TestHealthSubcommands(t *testing.T) {
	a := backend(t, "A")
	cl := newCluster(t, "{}\n", map[string]string{"a.yaml": flatSite("a.test", a.URL)})
	run := func(bin, sub string, env ...string) error {
		cmd := exec.Command(bin, sub)
		cmd.Env = append(os.Environ(), env...)
		return cmd.Run()
	}
	if err := run(bins.dataplane, "healthcheck", "PROXY_OPS_ADDR="+cl.opsAddr); err == nil {
		t.Fatal("dataplane healthcheck succeeded with nothing running")
	}
	cl.startCP()
	cl.startDP("node-1")
	for _, sub := range []string{"healthcheck", "health"} {
		if err := run(bins.dataplane, sub, "PROXY_OPS_ADDR="+cl.opsAddr); err != nil {
			t.Errorf("dataplane %s: %v", sub, err)
		}
		if err := run(bins.controlplane, sub, "PROXY_ADMIN_ADDR="+cl.adminAddr); err != nil {
			t.Errorf("controlplane %s: %v", sub, err)
		}
	}
}
