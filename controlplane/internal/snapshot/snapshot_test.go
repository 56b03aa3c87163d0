package snapshot

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// createdAt is the fixed creation time of golden snapshots.
var createdAt = time.Date(2025, 12, 18, 14, 32, 0, 0, time.UTC)

// marshal writes a snapshot as deterministic, indented JSON. protojson varies its whitespace
// on purpose, so its output is re-indented by encoding/json.
func marshal(t *testing.T, snap *proxyv1.Snapshot) []byte {
	t.Helper()
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestGolden builds the snapshot of each testdata/<case> directory (global.yaml, if any, and
// sites/) and compares it with testdata/<case>.golden.json. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/sites")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	for _, sites := range dirs {
		dir := filepath.Dir(sites)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg, err := config.Load(filepath.Join(dir, "global.yaml"), sites)
			if err != nil {
				t.Fatalf("config.Load:\n%v", err)
			}
			cfg.Hash = "HASH" // the hash of the files is tested in package config
			snap, err := Build(cfg, 7, createdAt)
			if err != nil {
				t.Fatal(err)
			}
			got := marshal(t, snap)
			golden := dir + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("snapshot differs from %s (run with -update if the change is intended):\n%s", golden, diff(string(want), string(got)))
			}
			// The golden file is a faithful snapshot, not only a text.
			var back proxyv1.Snapshot
			if err := protojson.Unmarshal(want, &back); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&back, snap) {
				t.Errorf("%s does not read back into the snapshot", golden)
			}
		})
	}
}

// diff shows the first differing line of two texts, with a little context.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n- " + wl + "\n+ " + gl
		}
	}
	return "(no line differs)"
}

func TestBuild(t *testing.T) {
	cfg, err := config.Load("testdata/full/global.yaml", "testdata/full/sites")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := Build(cfg, 3, createdAt)
	if err != nil {
		t.Fatal(err)
	}
	if snap.GetVersion() != 3 || snap.GetConfigHash() != cfg.Hash || !snap.GetCreatedAt().AsTime().Equal(createdAt) {
		t.Errorf("header = %d %q %v", snap.GetVersion(), snap.GetConfigHash(), snap.GetCreatedAt().AsTime())
	}
	var ids []string
	for _, r := range snap.GetRoutes() {
		ids = append(ids, r.GetId())
	}
	// The disabled site (zz-old-gpanel.yaml, same host as gpanel) contributes nothing.
	want := "community.example.org/ community.example.org/api gpanel.chilla55.de/ vault.chilla55.de/"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("route ids = %s, want %s", got, want)
	}
	wantEdge := &proxyv1.Edge{DefaultCertificate: "chilla55.de", Http3Disabled: true, AcmeChallengeBackend: "http://certbot:80",
		TrustedProxies: []string{"10.0.0.0/8", "172.16.0.0/12"}, ProxyProtocol: true,
		GeoipDatabase: "/data/GeoLite2-City.mmdb",
		Whitelist:     []string{"203.0.113.10/32"}}
	if !proto.Equal(snap.GetEdge(), wantEdge) {
		t.Errorf("edge = %v, want %v", snap.GetEdge(), wantEdge)
	}
	if len(snap.GetCertificates()) != 0 {
		t.Error("Build added certificates; the reloader does")
	}
	again, err := Build(cfg, 3, createdAt)
	if err != nil || !proto.Equal(snap, again) {
		t.Errorf("Build is not deterministic")
	}
}

func TestEdgeDefaults(t *testing.T) {
	cfg, err := config.Load("", "testdata/no-global/sites")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := Build(cfg, 1, createdAt)
	if err != nil {
		t.Fatal(err)
	}
	// Without a global file: HTTP/3 on, redirects on, no default certificate, no ACME backend.
	if e := snap.GetEdge(); e == nil || !proto.Equal(e, &proxyv1.Edge{}) {
		t.Errorf("edge = %v, want an empty Edge", e)
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(nil, 1, createdAt); err == nil {
		t.Error("Build(nil) succeeded")
	}
	cfg := &config.Config{Global: &config.Global{}}
	if _, err := Build(cfg, 0, createdAt); err == nil {
		t.Error("version 0 accepted")
	}
	// A Config built by hand, not by config.Load, with one route twice.
	r := config.Route{Hosts: []string{"a.example.org"}, Path: "/", Backend: "http://a"}
	cfg.Sites = []*config.Site{
		{Name: "a", File: "a.yaml", Enabled: true, Routes: []config.Route{r}},
		{Name: "b", File: "b.yaml", Enabled: true, Routes: []config.Route{r}},
	}
	if _, err := Build(cfg, 1, createdAt); err == nil || !strings.Contains(err.Error(), "a.example.org/ is defined in a.yaml and in b.yaml") {
		t.Errorf("duplicate route: %v", err)
	}
	cfg.Sites = []*config.Site{{Name: "c", File: "c.yaml", Enabled: true, Routes: []config.Route{{Path: "/"}}}}
	if _, err := Build(cfg, 1, createdAt); err == nil {
		t.Error("route without host accepted")
	}
	// A page that config.Load did not read: no path may reach the data planes.
	r.Policy.ErrorPages = config.ErrorPages{404: "/x/404.html"}
	cfg.Sites = []*config.Site{{Name: "d", File: "d.yaml", Enabled: true, Routes: []config.Route{r}}}
	if _, err := Build(cfg, 1, createdAt); err == nil || !strings.Contains(err.Error(), "page /x/404.html was not loaded") {
		t.Errorf("unread error page: %v", err)
	}
	cfg.Pages = map[string]string{"/x/404.html": "<p>{{.RequestID}}</p>"}
	if snap, err := Build(cfg, 1, createdAt); err != nil || snap.GetRoutes()[0].GetPolicy().GetErrorPages()[404] != "<p>{{.RequestID}}</p>" {
		t.Errorf("error page source: %v, %v", snap, err)
	}
	// Large pages on many routes: each route carries a copy.
	cfg.Pages["/x/404.html"] = strings.Repeat("x", 64<<10)
	cfg.Sites = nil
	for i := range MaxErrorPageBytes/(64<<10) + 1 {
		r := config.Route{Hosts: []string{fmt.Sprintf("h%d.example.org", i)}, Path: "/", Backend: "http://a",
			Policy: config.Policy{ErrorPages: config.ErrorPages{404: "/x/404.html"}}}
		cfg.Sites = append(cfg.Sites, &config.Site{Name: fmt.Sprint(i), File: fmt.Sprint(i, ".yaml"), Enabled: true, Routes: []config.Route{r}})
	}
	if _, err := Build(cfg, 1, createdAt); err == nil || !strings.Contains(err.Error(), "error pages take") {
		t.Errorf("oversized pages: %v", err)
	}
}

// TestSeeds builds a snapshot of every complete site example of the user's documents (kept in
// package config's testdata), so that everything they configure survives the translation.
func TestSeeds(t *testing.T) {
	files, _ := filepath.Glob("../../../pkg/config/testdata/seeds/*.yaml")
	if len(files) == 0 {
		t.Fatal("no seed examples found in pkg/config/testdata/seeds")
	}
	built := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		site, err := config.ParseSite(file, data)
		if err != nil {
			continue // a global file or a fragment of a site: tested in package config
		}
		// The pages the seeds name are not files here; config.Load would read them.
		pages := map[string]string{}
		for _, r := range site.Routes {
			for _, file := range r.Policy.ErrorPages {
				pages[file] = "<p>{{.StatusCode}}</p>"
			}
		}
		snap, err := Build(&config.Config{Global: &config.Global{}, Sites: []*config.Site{site}, Hash: "h", Pages: pages}, 1, createdAt)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
			continue
		}
		if len(snap.GetRoutes()) == 0 || snap.GetRoutes()[0].GetPolicy().GetTimeouts() == nil {
			t.Errorf("%s: snapshot without routes or policy: %v", filepath.Base(file), snap)
		}
		built++
	}
	if built < 25 {
		t.Errorf("only %d seed sites built", built)
	}
}
