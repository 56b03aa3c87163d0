package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// traffic sends requests to host one after another until stopped, and counts what came back.
type traffic struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	sent     atomic.Int64
	failures atomic.Int64
	mu       sync.Mutex
	lastBody string
	errs     []string
}

func startTraffic(t *testing.T, cl *cluster, host string) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		for {
			select {
			case <-tr.stop:
				return
			default:
			}
			resp, body, err := get(context.Background(), cl.client, cl.httpAddr, host, "/")
			tr.sent.Add(1)
			tr.mu.Lock()
			if err != nil || resp.StatusCode != 200 {
				tr.failures.Add(1)
				if len(tr.errs) < 5 {
					if err != nil {
						tr.errs = append(tr.errs, err.Error())
					} else {
						tr.errs = append(tr.errs, resp.Status+" "+body)
					}
				}
			} else {
				tr.lastBody = body
			}
			tr.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	t.Cleanup(tr.end)
	return tr
}

func (tr *traffic) end() {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	tr.wg.Wait()
}

func (tr *traffic) last() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.lastBody
}

// Checked by 2: editing a site file switches the backend within 2 s, and a client sending requests
// throughout sees no failed request.
func TestLiveReload(t *testing.T) {
	a, b := backend(t, "A"), backend(t, "B")
	cl := newCluster(t, "{}\n", map[string]string{"site.yaml": flatSite("app.test", a.URL)})
	cl.startCP()
	cl.startDP("node-1")

	tr := startTraffic(t, cl, "app.test")
	eventually(t, 5*time.Second, "traffic reaching A", func() error {
		if !strings.HasPrefix(tr.last(), "backend=A") {
			return errString("not yet")
		}
		return nil
	})
	edited := time.Now()
	replaceFile(t, filepath.Join(cl.sites, "site.yaml"), flatSite("app.test", b.URL))
	eventually(t, 2*time.Second, "traffic switched to B within 2 s", func() error {
		if !strings.HasPrefix(tr.last(), "backend=B") {
			return errString("still " + tr.last())
		}
		return nil
	})
	t.Logf("switched after %v", time.Since(edited).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	tr.end()
	if f := tr.failures.Load(); f != 0 || tr.sent.Load() < 50 {
		t.Fatalf("%d of %d requests failed during the reload (want 0 of at least 50): %v", f, tr.sent.Load(), tr.errs)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// Checked by 3: a broken edit is rejected with file and line in the log, the old route keeps
// serving, and `controlplane validate` on the directory exits non-zero with the same message.
func TestBrokenConfigRejected(t *testing.T) {
	a, b := backend(t, "A"), backend(t, "B")
	cl := newCluster(t, "{}\n", map[string]string{"site.yaml": flatSite("app.test", a.URL)})
	cl.startCP()
	cl.startDP("node-1")

	// A typo on line 4: "conect" for "connect"; the backend change above it must not go live either.
	broken := "host: app.test\nbackend: " + b.URL + "\ntimeouts:\n  conect: 5s\n"
	replaceFile(t, filepath.Join(cl.sites, "site.yaml"), broken)

	var logged string
	eventually(t, 5*time.Second, "the rejection in the control plane log", func() error {
		for _, line := range strings.Split(cl.cp.out.String(), "\n") {
			var e struct {
				Msg, Error, File string
				Line             int
			}
			if json.Unmarshal([]byte(line), &e) == nil && strings.Contains(e.Msg, "configuration rejected") && e.Line == 4 && strings.HasSuffix(e.File, "site.yaml") {
				logged = e.Error
				return nil
			}
		}
		return errString("not logged yet")
	})
	if !strings.Contains(logged, "site.yaml:4:") || !strings.Contains(logged, `"conect"`) {
		t.Errorf("logged error %q: want file:line and the bad key", logged)
	}

	// The old configuration keeps serving.
	for i := 0; i < 20; i++ {
		_, body, err := get(context.Background(), cl.client, cl.httpAddr, "app.test", "/")
		if err != nil || !strings.HasPrefix(body, "backend=A") {
			t.Fatalf("after the broken edit: %q %v; want the old backend A", body, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	out, err := exec.Command(bins.controlplane, "validate", "--global", cl.global, "--sites", cl.sites).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("validate on a broken directory: err %v, want a non-zero exit; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), logged) {
		t.Errorf("validate output:\n%s\nwant it to contain the logged message %q", out, logged)
	}

	// Fixing the file is picked up.
	replaceFile(t, filepath.Join(cl.sites, "site.yaml"), flatSite("app.test", b.URL))
	eventually(t, 3*time.Second, "the fixed file served", func() error {
		_, body, err := get(context.Background(), cl.client, cl.httpAddr, "app.test", "/")
		if err != nil || !strings.HasPrefix(body, "backend=B") {
			return errString(body)
		}
		return nil
	})
	if out, err := exec.Command(bins.controlplane, "validate", "--global", cl.global, "--sites", cl.sites).CombinedOutput(); err != nil {
		t.Errorf("validate on the fixed directory: %v\n%s", err, out)
	}
}
