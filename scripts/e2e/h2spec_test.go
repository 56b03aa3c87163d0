package e2e

import (
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// knownH2specFailures are h2spec cases that fail because of Go's net/http HTTP/2 server, not the
// proxy; each is explained in README.md ("HTTP/2 conformance"). A failure not listed here fails
// the test, and so does a listed case that starts passing (so the list stays true).
var knownH2specFailures = map[string]bool{
	// Several SETTINGS_INITIAL_WINDOW_SIZE values in one frame: Go's server closes the connection
	// instead of applying them in order.
	"http2/6.5.3/1": true,
	// A connection-specific header (Connection: keep-alive) and TE other than "trailers" must be
	// stream errors; Go's server accepts the request (and drops the header), and a handler cannot
	// send RST_STREAM with PROTOCOL_ERROR.
	"http2/8.1.2.2/1": true,
	"http2/8.1.2.2/2": true,
}

// Checked by 6 (issue 3): h2spec, the HTTP/2 conformance suite, against the TLS listener.
func TestH2Spec(t *testing.T) {
	a := backend(t, "A")
	ca := newTestCA(t)
	cl := newCluster(t, "tls:\n  default_certificate: local\n", map[string]string{"local.yaml": flatSite("127.0.0.1", a.URL)})
	crt, key := ca.issue(t, 100, "localhost")
	writeFile(t, filepath.Join(cl.dir, "certs", "local.crt"), string(crt))
	writeFile(t, filepath.Join(cl.dir, "certs", "local.key"), string(key))
	cl.startCP()
	cl.startDP("node-1")

	host, port, _ := net.SplitHostPort(cl.tlsAddr)
	out, err := exec.Command("go", "tool", "h2spec", "-h", host, "-p", port, "-t", "-k", "-o", "5").CombinedOutput()
	report := string(out)
	m := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("h2spec: %v; no summary in its output:\n%s", err, report)
	}
	t.Logf("h2spec: %s", m[0])
	failed := failedCases(report)
	for _, id := range failed {
		if !knownH2specFailures[id] {
			t.Errorf("h2spec case %s fails", id)
		}
	}
	for id := range knownH2specFailures {
		if !contains(failed, id) {
			t.Errorf("h2spec case %s is listed as a known failure but passes: update the list and README.md", id)
		}
	}
	if n, _ := strconv.Atoi(m[4]); n != len(failed) {
		t.Errorf("h2spec says %d failed, but %d failures were read from its report:\n%s", n, len(failed), report)
	}
	if t.Failed() {
		t.Logf("h2spec report:\n%s", report)
	}
}

// failedCases reads the ids of the failures section of an h2spec report: the test group, the
// section number and the case, e.g. "http2/6.5.3/1".
func failedCases(report string) []string {
	i := strings.Index(report, "Failures:")
	if i < 0 {
		return nil
	}
	var ids []string
	group, section := "", ""
	heading := regexp.MustCompile(`^\s+(\d+(?:\.\d+)*)\. `)
	item := regexp.MustCompile(`^\s+× (\d+):`)
	for _, line := range strings.Split(report[i+len("Failures:"):], "\n") {
		switch {
		case strings.HasPrefix(line, "Generic"):
			group = "generic"
		case strings.HasPrefix(line, "Hypertext"):
			group = "http2"
		case strings.HasPrefix(line, "HPACK"):
			group = "hpack"
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			section = m[1]
		} else if m := item.FindStringSubmatch(line); m != nil {
			ids = append(ids, group+"/"+section+"/"+m[1])
		}
	}
	return ids
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
