package stack

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// The compose-spec loader warns through logrus that version is obsolete; docker stack deploy
// still reads it (it picks the v3 schema).
func TestMain(m *testing.M) {
	logrus.SetOutput(io.Discard)
	os.Exit(m.Run())
}

func TestProjectStack(t *testing.T) {
	got, err := Check(context.Background(), filepath.Join("..", "..", "..", "deploy", "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range got {
		t.Errorf("%s", f)
	}
}

// Each broken variant of the real stack file is caught by the rule named for it, so the checker
// itself is proven. A variant is the real file with one snippet replaced.
func TestCheckCatches(t *testing.T) {
	real := filepath.Join("..", "..", "..", "deploy")
	stack, err := os.ReadFile(filepath.Join(real, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	global, err := os.ReadFile(filepath.Join(real, "global.swarm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc, old, new, rule string
		global               [2]string // a replacement in global.swarm.yaml
	}{
		{desc: "not valid for docker stack", old: "    stop_grace_period: 40s\n    logging: *logging\n    deploy:\n      mode: replicated\n      replicas: 1\n      placement:\n        max_replicas_per_node: 1\n        constraints:\n          - node.labels.proxy-manager == true\n      # One writer",
			new: "    stop_grace_period: 40s\n    logging: *logging\n    develop: {}\n    deploy:\n      mode: replicated\n      replicas: 1\n      placement:\n        max_replicas_per_node: 1\n        constraints:\n          - node.labels.proxy-manager == true\n      # One writer", rule: "SwarmSchema"},
		{desc: "compose-spec types", old: "          memory: 512M", new: "          memory: lots", rule: "ComposeSpec"},
		{desc: "ingress port", old: "        published: 443\n        protocol: tcp\n        mode: host", new: "        published: 443\n        protocol: tcp\n        mode: ingress", rule: "HostPorts"},
		{desc: "443 tcp and udp (moby#43429)", old: "      - target: 8443\n        published: 8443\n        protocol: udp", new: "      - target: 443\n        published: 443\n        protocol: udp", rule: "HostPorts"},
		{desc: "udp port remapped", old: "      - target: 8443\n        published: 8443", new: "      - target: 8443\n        published: 9443", rule: "HTTP3"},
		{desc: "h3 on another port", old: `PROXY_H3_ADDR: ":8443"`, new: `PROXY_H3_ADDR: ":443"`, rule: "HTTP3"},
		{desc: "port 80 missing", old: "      - target: 80\n        published: 80\n        protocol: tcp\n        mode: host\n", new: "", rule: "HostPorts"},
		{desc: "start-first", old: "      update_config:\n        parallelism: 1\n        order: stop-first", new: "      update_config:\n        parallelism: 1\n        order: start-first", rule: "StopFirst"},
		{desc: "no rollback", old: "        failure_action: rollback\n", new: "        failure_action: pause\n", rule: "Rollback"},
		{desc: "grace below shutdown", old: "    stop_grace_period: 40s", new: "    stop_grace_period: 30s", rule: "StopGrace"},
		{desc: "longer shutdown", old: "      PROXY_SHUTDOWN_TIMEOUT: 30s\n      BACKUP_DIR", new: "      PROXY_SHUTDOWN_TIMEOUT: 60s\n      BACKUP_DIR", rule: "StopGrace"},
		{desc: "no limits", old: "        limits:\n          cpus: \"1\"\n          memory: 512M\n", new: "", rule: "Resources"},
		{desc: "curl healthcheck", old: `test: ["CMD", "controlplane", "healthcheck"]`, new: `test: ["CMD-SHELL", "curl -f http://localhost:8080/health"]`, rule: "Healthcheck"},
		{desc: "latest image", old: "dataplane:${PROXY_VERSION:?set PROXY_VERSION to the image tag}", new: "dataplane:latest", rule: "Image"},
		{desc: "admin port published", old: "    # No ports: gRPC", new: "    ports:\n      - target: 8080\n        published: 8080\n        mode: host\n    # No ports: gRPC", rule: "NoAdminPort"},
		{desc: "admin on tcp", old: "PROXY_ADMIN_ADDR: unix:/run/proxy-manager/admin.sock", new: "PROXY_ADMIN_ADDR: 127.0.0.1:8080", rule: "AdminSocket"},
		{desc: "socket dir not from host", old: "      - type: bind\n        source: /run/proxy-manager\n", new: "      - type: volume\n        source: proxy-data\n", rule: "AdminSocket"},
		{desc: "certs writable", old: "        target: /etc/proxy/certs\n        read_only: true", new: "        target: /etc/proxy/certs\n        read_only: false", rule: "ReadOnlyBinds"},
		{desc: "sites private propagation", old: "        target: /etc/proxy/sites-available\n        read_only: true\n        bind:\n          propagation: rslave", new: "        target: /etc/proxy/sites-available\n        read_only: true\n        bind:\n          propagation: rprivate", rule: "ReadOnlyBinds"},
		{desc: "backups read-only", old: "        target: /mnt/storagebox/backups/proxy\n", new: "        target: /mnt/storagebox/backups/proxy\n        read_only: true\n", rule: "Backups"},
		{desc: "database in the container", old: "      PROXY_DB_PATH: /data/proxy.db", new: "      PROXY_DB_PATH: /var/lib/proxy.db", rule: "Database"},
		{desc: "token not a secret", old: "      PROXY_GRPC_TOKEN_FILE: /run/secrets/proxy_grpc_token\n      PROXY_LISTEN_ADDR", new: "      PROXY_GRPC_TOKEN_FILE: /etc/proxy/token\n      PROXY_LISTEN_ADDR", rule: "Secrets"},
		{desc: "global.yaml not a config", old: "        target: /etc/proxy/global.yaml\n", new: "        target: /etc/proxy/other.yaml\n", rule: "GlobalConfig"},
		{desc: "backup key not mounted", global: [2]string{"/run/secrets/proxy_backup_key", "/run/secrets/backup_key"}, rule: "BackupKey"},
		{desc: "backup key unset", global: [2]string{"    identity_file: /run/secrets/proxy_backup_key\n", ""}, rule: "BackupKey"},
		{desc: "overlay not encrypted", old: `      encrypted: "true"`, new: `      encrypted: "false"`, rule: "Overlay"},
		{desc: "no backend network", old: "      - proxy-internal\n      - web-net\n", new: "      - proxy-internal\n", rule: "BackendNetwork"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			s, g := string(stack), string(global)
			if tc.old != "" && !strings.Contains(s, tc.old) {
				t.Fatalf("snippet not in deploy/stack.yml (the test is stale): %q", tc.old)
			}
			if tc.global[0] != "" && !strings.Contains(g, tc.global[0]) {
				t.Fatalf("snippet not in deploy/global.swarm.yaml (the test is stale): %q", tc.global[0])
			}
			s = strings.Replace(s, tc.old, tc.new, 1)
			g = strings.Replace(g, tc.global[0], tc.global[1], 1)
			write(t, filepath.Join(dir, "stack.yml"), s)
			write(t, filepath.Join(dir, "global.swarm.yaml"), g)
			got, err := Check(context.Background(), filepath.Join(dir, "stack.yml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range got {
				if f.Rule == tc.rule {
					return
				}
			}
			t.Errorf("no %s finding; got %v", tc.rule, got)
		})
	}
}

func TestCheckMissingFile(t *testing.T) {
	if _, err := Check(context.Background(), filepath.Join(t.TempDir(), "stack.yml")); err == nil {
		t.Fatal("want an error for a missing file")
	}
}

func write(t *testing.T, name, s string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// DefaultShutdownTimeout must follow the binaries' own default, or a stack without
// PROXY_SHUTDOWN_TIMEOUT would be checked against the wrong figure.
func TestDefaultShutdownTimeoutMatchesSettings(t *testing.T) {
	re := regexp.MustCompile(`"PROXY_SHUTDOWN_TIMEOUT", (\d+)\s*\*\s*time\.Second`)
	for _, f := range []string{"controlplane/cmd/controlplane/settings.go", "dataplane/cmd/dataplane/settings.go"} {
		dt, err := os.ReadFile(filepath.Join("..", "..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(dt)
		if m == nil {
			t.Fatalf("%s: no PROXY_SHUTDOWN_TIMEOUT default in seconds", f)
		}
		if n, _ := strconv.Atoi(string(m[1])); time.Duration(n)*time.Second != DefaultShutdownTimeout {
			t.Errorf("%s: PROXY_SHUTDOWN_TIMEOUT defaults to %ss, the check assumes %v", f, m[1], DefaultShutdownTimeout)
		}
	}
}
