package stack

import (
	"fmt"
	"net"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// DefaultShutdownTimeout is PROXY_SHUTDOWN_TIMEOUT's default in both binaries' settings.go.
const DefaultShutdownTimeout = 30 * time.Second

type checker struct {
	p   *types.Project
	out []Finding
}

func (c *checker) add(rule, format string, args ...any) {
	c.out = append(c.out, Finding{Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

func properties(p *types.Project) []Finding {
	c := &checker{p: p}
	dp, okDP := p.Services["dataplane"]
	cp, okCP := p.Services["controlplane"]
	if !okDP || !okCP {
		c.add("Services", "want services dataplane and controlplane, got %v", p.ServiceNames())
		return c.out
	}
	for _, s := range []types.ServiceConfig{dp, cp} {
		c.service(s)
	}
	c.dataplanePorts(dp)
	c.controlplane(cp)
	c.network(dp, cp)
	return c.out
}

// service checks what both services need: a pinned image, stop-first updates with a rollback,
// a restart policy, limits, the binary's healthcheck and time to drain before SIGKILL.
func (c *checker) service(s types.ServiceConfig) {
	if i := strings.LastIndex(s.Image, ":"); i < 0 || strings.Contains(s.Image[i:], "/") || s.Image[i+1:] == "latest" {
		c.add("Image", "%s: image %q: name a version tag, not latest", s.Name, s.Image)
	}
	d := s.Deploy
	if d == nil {
		c.add("Deploy", "%s: no deploy section", s.Name)
		return
	}
	if d.UpdateConfig == nil || d.UpdateConfig.Order != "stop-first" {
		c.add("StopFirst", "%s: deploy.update_config.order must be stop-first (start-first cannot bind the same host port or open the same SQLite file twice)", s.Name)
	}
	if d.RollbackConfig == nil {
		c.add("Rollback", "%s: no deploy.rollback_config", s.Name)
	} else if d.RollbackConfig.Order != "stop-first" {
		c.add("StopFirst", "%s: deploy.rollback_config.order must be stop-first", s.Name)
	}
	if d.UpdateConfig != nil && d.UpdateConfig.FailureAction != "rollback" {
		c.add("Rollback", "%s: deploy.update_config.failure_action must be rollback, got %q", s.Name, d.UpdateConfig.FailureAction)
	}
	if d.RestartPolicy == nil {
		c.add("Restart", "%s: no deploy.restart_policy", s.Name)
	}
	for name, r := range map[string]*types.Resource{"limits": d.Resources.Limits, "reservations": d.Resources.Reservations} {
		if r == nil || r.NanoCPUs <= 0 || r.MemoryBytes <= 0 {
			c.add("Resources", "%s: deploy.resources.%s needs cpus and memory", s.Name, name)
		}
	}
	hc := s.HealthCheck
	switch {
	case hc == nil || hc.Disable || len(hc.Test) == 0:
		c.add("Healthcheck", "%s: no healthcheck", s.Name)
	case hc.Test[0] != "CMD" || !slices.Equal(hc.Test[1:], []string{s.Name, "healthcheck"}):
		c.add("Healthcheck", "%s: healthcheck.test must be [CMD, %s, healthcheck] (the images have no shell or curl), got %q", s.Name, s.Name, hc.Test)
	case hc.Timeout == nil || hc.Interval == nil:
		c.add("Healthcheck", "%s: healthcheck needs interval and timeout", s.Name)
	}
	shutdown := DefaultShutdownTimeout
	if v := env(s, "PROXY_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			c.add("StopGrace", "%s: PROXY_SHUTDOWN_TIMEOUT=%q: %v", s.Name, v, err)
		}
		shutdown = d
	}
	if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= shutdown {
		c.add("StopGrace", "%s: stop_grace_period must be above PROXY_SHUTDOWN_TIMEOUT (%v), or Docker kills requests still draining", s.Name, shutdown)
	}
	for _, sec := range []string{"PROXY_GRPC_TOKEN_FILE"} {
		if !c.hasSecretAt(s, env(s, sec)) {
			c.add("Secrets", "%s: %s=%q is not a Swarm secret mounted at that path", s.Name, sec, env(s, sec))
		}
	}
}

// dataplanePorts: host mode (the clients' addresses), 80 and 443 over TCP, HTTP/3 on a UDP port
// of its own that the data plane listens on and so advertises in Alt-Svc.
func (c *checker) dataplanePorts(s types.ServiceConfig) {
	tcp := map[string]bool{}
	seen := map[string]string{}
	udp := ""
	for _, p := range s.Ports {
		if p.Mode != "host" {
			c.add("HostPorts", "dataplane: port %s/%s must be published in mode host (ingress hides client addresses)", p.Published, p.Protocol)
		}
		if other, dup := seen[p.Published]; dup && other != p.Protocol {
			c.add("HostPorts", "dataplane: port %s published as %s and %s: Swarm maps only one of them in host mode (moby/moby#43429)", p.Published, other, p.Protocol)
		}
		seen[p.Published] = p.Protocol
		switch p.Protocol {
		case "tcp", "":
			tcp[p.Published] = true
		case "udp":
			udp = p.Published
			if strconv.Itoa(int(p.Target)) != p.Published {
				c.add("HTTP3", "dataplane: UDP port published %s but target %d: Alt-Svc advertises the port the data plane listens on", p.Published, p.Target)
			}
		}
	}
	for _, want := range []string{"80", "443"} {
		if !tcp[want] {
			c.add("HostPorts", "dataplane: port %s/tcp is not published", want)
		}
	}
	h3 := env(s, "PROXY_H3_ADDR")
	_, h3port, _ := net.SplitHostPort(h3)
	if udp == "" || h3port != udp {
		c.add("HTTP3", "dataplane: PROXY_H3_ADDR=%q must listen on the published UDP port (%q)", h3, udp)
	}
}

// controlplane: nothing published; the admin socket in a host directory; the database on a
// named volume; certs and sites read-only rslave; the backups directory writable; global.yaml
// a Swarm config; the backup key a secret named by global.yaml.
func (c *checker) controlplane(s types.ServiceConfig) {
	if len(s.Ports) > 0 {
		c.add("NoAdminPort", "controlplane publishes %d port(s): gRPC stays on the overlay and the admin surface on its Unix socket", len(s.Ports))
	}
	admin := env(s, "PROXY_ADMIN_ADDR")
	sock, ok := strings.CutPrefix(admin, "unix:")
	if !ok {
		c.add("AdminSocket", "controlplane: PROXY_ADMIN_ADDR=%q must be unix:/path (reached with ssh -L)", admin)
	} else if v := volumeAt(s, path.Dir(sock)); v == nil || v.Type != "bind" || v.Source != path.Dir(sock) || v.ReadOnly {
		c.add("AdminSocket", "controlplane: %s must be a writable bind mount of the same host directory (the socket appears on the host)", path.Dir(sock))
	}
	if v := volumeAt(s, path.Dir(env(s, "PROXY_DB_PATH"))); v == nil || v.Type != "volume" {
		c.add("Database", "controlplane: PROXY_DB_PATH=%q must be on a named volume", env(s, "PROXY_DB_PATH"))
	}
	for _, k := range []string{"PROXY_CERTS_DIR", "PROXY_SITES_DIR"} {
		v := volumeAt(s, env(s, k))
		if v == nil || v.Type != "bind" || !v.ReadOnly || v.Bind == nil || v.Bind.Propagation != "rslave" {
			c.add("ReadOnlyBinds", "controlplane: %s=%q must be a read-only bind mount with propagation rslave", k, env(s, k))
		}
	}
	if v := volumeAt(s, env(s, "BACKUP_DIR")); v == nil || v.Type != "bind" || v.ReadOnly {
		c.add("Backups", "controlplane: BACKUP_DIR=%q must be a writable bind mount", env(s, "BACKUP_DIR"))
	}
	global := env(s, "PROXY_GLOBAL_CONFIG")
	var file string
	for _, cf := range s.Configs {
		if cf.Target == global {
			file = c.p.Configs[cf.Source].File
		}
	}
	if file == "" {
		c.add("GlobalConfig", "controlplane: PROXY_GLOBAL_CONFIG=%q is not a Swarm config made from a file", global)
		return
	}
	key, err := backupKeyFile(file)
	switch {
	case err != nil:
		c.add("GlobalConfig", "controlplane: %v", err)
	case key == "":
		c.add("BackupKey", "%s: backup.encryption.identity_file is not set", file)
	case !c.hasSecretAt(s, key):
		c.add("BackupKey", "%s: backup.encryption.identity_file %q is not a Swarm secret of the controlplane", file, key)
	}
}

// network: one overlay shared by both services, encrypted, not external; the data plane also on
// the backends' external network.
func (c *checker) network(dp, cp types.ServiceConfig) {
	shared := 0
	for name := range cp.Networks {
		if _, ok := dp.Networks[name]; !ok {
			continue
		}
		shared++
		n := c.p.Networks[name]
		if n.Driver != "overlay" || bool(n.External) {
			c.add("Overlay", "network %s must be an overlay of this stack", name)
		}
		if on, _ := strconv.ParseBool(n.DriverOpts["encrypted"]); !on {
			c.add("Overlay", "network %s between the services must set driver_opts encrypted: \"true\"", name)
		}
	}
	if shared == 0 {
		c.add("Overlay", "dataplane and controlplane share no network")
	}
	external := false
	for name := range dp.Networks {
		external = external || bool(c.p.Networks[name].External)
	}
	if !external {
		c.add("BackendNetwork", "dataplane is on no external network (the backends' web-net)")
	}
}

func (c *checker) hasSecretAt(s types.ServiceConfig, file string) bool {
	for _, sec := range s.Secrets {
		target := sec.Target
		if target == "" {
			target = sec.Source
		}
		if !path.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		if _, ok := c.p.Secrets[sec.Source]; ok && target == file {
			return true
		}
	}
	return false
}

func volumeAt(s types.ServiceConfig, target string) *types.ServiceVolumeConfig {
	for i := range s.Volumes {
		if s.Volumes[i].Target == target {
			return &s.Volumes[i]
		}
	}
	return nil
}

func env(s types.ServiceConfig, key string) string {
	if v := s.Environment[key]; v != nil {
		return *v
	}
	return ""
}

// backupKeyFile reads backup.encryption.identity_file from the global.yaml the config is made of.
func backupKeyFile(file string) (string, error) {
	dt, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("global config: %w", err)
	}
	var g struct {
		Backup struct {
			Encryption struct {
				IdentityFile string `yaml:"identity_file"`
			} `yaml:"encryption"`
		} `yaml:"backup"`
	}
	if err := yaml.Unmarshal(dt, &g); err != nil {
		return "", fmt.Errorf("global config %s: %w", file, err)
	}
	return g.Backup.Encryption.IdentityFile, nil
}
