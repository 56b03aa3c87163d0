package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The files in testdata/seeds are every YAML example of the user's two documents
// (/work/shared/seeds, see testdata/seeds/SOURCES.md), verbatim. Every one of them must load.
//
// Not configuration, so not in testdata/seeds:
//   - the docker-compose.swarm.yml files (plan, tasks #20 and #13), the Prometheus environment
//     snippet (appendix A.1) and the Docker logging driver snippet (appendix A.2): they
//     configure Docker, not the proxy;
//   - the `POST /api/maintenance` example (plan, task #11): a JSON request body of the API
//     under a yaml fence, not a file anyone writes.
//
// Files ending in -global.yaml are global files. The others are site files; the ones listed
// in seedFragments show one section of a site without the rest (no backend, or not even a
// host). They are tested by decoding the fragment onto a minimal base site: the missing keys
// are appended, after the fragment so that its line numbers stay those of the file.
var seedFragments = map[string]string{
	"plan-task25-headers-preset.yaml":         "host: fragment.example.org\nbackend: http://fragment_backend:8080\n",
	"features-task25-headers-preset.yaml":     "host: fragment.example.org\nbackend: http://fragment_backend:8080\n",
	"plan-task09-error-pages-gpanel.yaml":     "backend: http://fragment_backend:8080\n",
	"plan-task18-geoip-vault.yaml":            "backend: http://fragment_backend:8080\n",
	"plan-task22-data-retention-gpanel.yaml":  "backend: http://fragment_backend:8080\n",
	"plan-task22-data-retention-vault.yaml":   "backend: http://fragment_backend:8080\n",
	"plan-task26-websocket-gpanel.yaml":       "backend: http://fragment_backend:8080\n",
	"plan-task27-compression-community.yaml":  "backend: http://fragment_backend:8080\n",
	"plan-task28-connection-pool-gpanel.yaml": "backend: http://fragment_backend:8080\n",
	"plan-task29-slow-request-gpanel.yaml":    "backend: http://fragment_backend:8080\n",
	"plan-task30-retry-gpanel.yaml":           "backend: http://fragment_backend:8080\n",
}

func seedFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/seeds/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed files: %v", err)
	}
	return files
}

func TestSeedsLoad(t *testing.T) {
	for _, file := range seedFiles(t) {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(name, "-global.yaml") {
				if _, err := ParseGlobal(file, data); err != nil {
					t.Fatalf("global file does not load:\n%v", err)
				}
				return
			}
			base, fragment := seedFragments[name]
			if fragment {
				// A fragment must really be one, or this list hides a regression.
				if _, err := ParseSite(file, data); err == nil {
					t.Fatalf("listed as a fragment but loads alone; remove it from seedFragments")
				}
				data = append(append(data, '\n'), base...)
			}
			s, err := ParseSite(file, data)
			if err != nil {
				t.Fatalf("site does not load:\n%v", err)
			}
			if len(s.Routes) == 0 || !s.Enabled {
				t.Fatalf("site has no routes or is disabled: %+v", s)
			}
		})
	}
	for name := range seedFragments {
		if _, err := os.Stat(filepath.Join("testdata/seeds", name)); err != nil {
			t.Errorf("seedFragments lists %s: %v", name, err)
		}
	}
}

// TestSeedsValues checks that the seeds mean what their comments say.
func TestSeedsValues(t *testing.T) {
	site := func(name string) *Site {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("testdata/seeds", name))
		if err != nil {
			t.Fatal(err)
		}
		if base, ok := seedFragments[name]; ok {
			data = append(append(data, '\n'), base...)
		}
		s, err := ParseSite(name, data)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	full := site("plan-appendix-b-full-example-gpanel.yaml").Policy
	cb := site("plan-task08-circuit-breaker-gpanel.yaml")
	ws := site("features-task26-websocket-gpanel.yaml").Policy.WebSocket
	rl := site("features-task14-rate-limit-vault.yaml").Policy.RateLimit
	slow := site("features-task29-slow-request-gpanel.yaml").Policy.SlowRequest
	retry := site("features-task30-retry-gpanel.yaml").Policy.Retry
	pages := site("plan-task09-error-pages-gpanel.yaml").Policy.ErrorPages
	logging := site("features-task16-logging-gpanel.yaml").Policy.Logging
	g, err := ParseGlobal("webhooks.yaml", must(os.ReadFile("testdata/seeds/features-task19-webhooks-global.yaml")))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		desc      string
		got, want any
	}{
		{"flat form host", site("plan-task23-timeouts-gpanel.yaml").Routes[0].Hosts[0], "gpanel.chilla55.de"},
		{"docker service backend", site("plan-task23-timeouts-gpanel.yaml").Routes[0].Backend, "http://pterodactyl_panel:80"},
		{"timeouts.idle", site("plan-task23-timeouts-api.yaml").Policy.Timeouts.Idle, 300 * time.Second},
		{"limits in bytes", full.Limits.MaxRequestBody, Size(104857600)},
		{"rate_limit ban_duration in seconds", full.RateLimit.Paths[0].BanDuration, time.Hour},
		{"rate_limit path glob", rl.Paths[0].Path, "/identity/*"},
		{"rate_limit alert_webhook", rl.Paths[0].AlertWebhook, true},
		{"data_retention days", full.DataRetention.SecurityLogs, 90 * Day},
		{"websocket max_duration in seconds", ws.MaxDuration, 24 * time.Hour},
		{"websocket ping_interval in seconds", ws.PingInterval, 30 * time.Second},
		{"error_pages keys", pages[404], "/etc/proxy/error-pages/404.html"},
		{"slow_request thresholds", slow.Thresholds.Critical, 10 * time.Second},
		{"retry_on status", strings.Join(retry.RetryOn, ","), "connection_refused,timeout,502,503,504"},
		{"redact pattern", logging.RedactPaths[1].Pattern, "/auth/password/reset/[^/]+"},
		{"service form name", cb.Name, "gpanel"},
		{"service form route", cb.Routes[0].Backend, "http://gpanel:8080"},
		{"circuit_breaker window", cb.Routes[0].Policy.CircuitBreaker.Window, 60 * time.Second},
		{"webhook throttle in seconds", g.Webhooks[0].Throttle, 5 * time.Minute},
		{"webhook format from URL", g.Webhooks[0].Format, "discord"},
		{"webhook routes", strings.Join(g.Webhooks[0].Routes, ","), "gpanel.chilla55.de,vault.chilla55.de"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.desc, tc.got, tc.want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
