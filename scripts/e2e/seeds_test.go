package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Checked by 4 (issue 4): every traffic-policy example of the user's documents (tasks #8, #23 to
// #30 and the complete example of appendix B, kept verbatim in pkg/config/testdata/seeds) is
// accepted by the control plane, applied by the data plane (not NACKed) and serves through all of
// its policies. The examples' backends (Docker service names) are pointed at a test backend; a
// fragment without host or backend gets them added.
func TestSeedPolicyExamples(t *testing.T) {
	a := backend(t, "A")
	files, err := filepath.Glob("../../pkg/config/testdata/seeds/*task*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	policy := regexp.MustCompile(`task(08|2[3-9]|30)-|appendix-b`)
	backendLine := regexp.MustCompile(`(?m)(backend:\s*)http://\S+`)
	cl := newCluster(t, "{}\n", map[string]string{"seed.yaml": flatSite("gpanel.chilla55.de", a.URL)})
	cl.startCP()
	cl.startDP("node-1")

	tried := 0
	for _, f := range files {
		if !policy.MatchString(filepath.Base(f)) {
			continue
		}
		tried++
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		site := backendLine.ReplaceAllString(string(raw), "${1}"+a.URL)
		if !regexp.MustCompile(`(?m)^(host|routes):`).MatchString(site) {
			site = "host: gpanel.chilla55.de\n" + site
		}
		if !strings.Contains(site, "backend:") {
			site += "\nbackend: " + a.URL + "\n"
		}
		host := "gpanel.chilla55.de" // the service-form example's domain
		if m := regexp.MustCompile(`(?m)^host:\s*(\S+)`).FindStringSubmatch(site); m != nil {
			host = m[1]
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			before := cl.cpVersion(t)
			replaceFile(t, filepath.Join(cl.sites, "seed.yaml"), site)
			var version uint64
			eventually(t, 5*time.Second, "a new configuration version", func() error {
				v, errs := cl.cpStatus(t)
				if len(errs) > 0 {
					t.Fatalf("rejected by the control plane: %v\n%s", errs, site)
				}
				if v <= before {
					return fmt.Errorf("still version %d", v)
				}
				version = v
				return nil
			})
			eventually(t, 5*time.Second, "the data plane applying it", func() error {
				applied, nack := cl.dpApplied(t)
				if nack != "" {
					t.Fatalf("NACKed by the data plane: %s\n%s", nack, site)
				}
				if applied != version {
					return fmt.Errorf("applied %d, want %d", applied, version)
				}
				return nil
			})
			resp, body, err := get(context.Background(), cl.client, cl.httpAddr, host, "/")
			if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(body, "backend=A") {
				t.Fatalf("through the example's policies: %v %q", err, body)
			}
		})
	}
	if tried < 10 {
		t.Fatalf("only %d policy examples found; the seeds' testdata moved?", tried)
	}
}

// cpVersion is the control plane's current snapshot version.
func (c *cluster) cpVersion(t *testing.T) uint64 {
	v, _ := c.cpStatus(t)
	return v
}

// cpStatus reads /api/status: the live version and the errors of the last rejected change.
func (c *cluster) cpStatus(t *testing.T) (uint64, []string) {
	t.Helper()
	var st struct {
		Version      uint64   `json:"version"`
		ConfigErrors []string `json:"config_errors"`
	}
	c.adminJSON(t, "/api/status", &st)
	return st.Version, st.ConfigErrors
}

// dpApplied reads /api/dataplanes: the version the (only) data plane applied and its last NACK.
func (c *cluster) dpApplied(t *testing.T) (uint64, string) {
	t.Helper()
	var dps struct {
		Dataplanes []struct {
			AppliedVersion string `json:"appliedVersion"`
			NackReason     string `json:"nackReason"`
		} `json:"dataplanes"`
	}
	c.adminJSON(t, "/api/dataplanes", &dps)
	if len(dps.Dataplanes) != 1 {
		return 0, ""
	}
	v, _ := strconv.ParseUint(dps.Dataplanes[0].AppliedVersion, 10, 64)
	return v, dps.Dataplanes[0].NackReason
}

func (c *cluster) adminJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := c.client.Get("http://" + c.adminAddr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
