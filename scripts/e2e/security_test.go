package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// secondDP is one more data plane of the cluster, on addresses of its own.
type secondDP struct {
	proc          *proc
	httpAddr, ops string
	tlsAddr       string
}

func (c *cluster) startSecondDP(node string, d *secondDP) {
	c.t.Helper()
	if d.httpAddr == "" {
		d.httpAddr, d.ops, d.tlsAddr = freeAddr(c.t), freeAddr(c.t), freeTCPUDPAddr(c.t)
	}
	d.proc = start(c.t, "dataplane-"+node, bins.dataplane, []string{
		"PROXY_CONTROLPLANE_ADDR=" + c.grpcAddr, "PROXY_GRPC_TOKEN_FILE=" + c.token, "PROXY_NODE_ID=" + node,
		"PROXY_LISTEN_ADDR=" + d.httpAddr, "PROXY_OPS_ADDR=" + d.ops, "PROXY_SHUTDOWN_TIMEOUT=10s",
		"PROXY_TLS_ADDR=" + d.tlsAddr, "PROXY_H3_ADDR=" + d.tlsAddr, "LOG_LEVEL=debug", "LOG_FORMAT=json",
	})
	eventually(c.t, 20*time.Second, node+" ready", func() error {
		return httpStatus(c.client, "http://"+d.ops+"/health/ready", 200)
	})
}

// statusOf sends GET path to a data plane and returns the status and the body.
func statusOf(t *testing.T, cl *http.Client, addr, host, path string, hdr ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, body, err := get(ctx, cl, addr, host, path, hdr...)
	if err != nil {
		t.Fatalf("GET %s%s via %s: %v", host, path, addr, err)
	}
	return resp.StatusCode, body
}

// Checked by 1 (issue 5): a ban decided on one data plane blocks on a second data plane connected
// to the same control plane within 2 s, still holds after both data planes and the control plane
// restart, and is lifted on both through the admin API within 2 s.
func TestBanHoldsOnEveryDataPlane(t *testing.T) {
	a := backend(t, "A")
	site := fmt.Sprintf(`host: vault.test
backend: %s
rate_limit:
  per_ip: 1000
  paths:
    - path: /auth/*
      per_ip: 2
      ban_after: 2
      ban_duration: 1h
`, a.URL)
	cl := newCluster(t, "{}\n", map[string]string{"vault.yaml": site})
	cl.startCP()
	cl.startDP("node-1")
	var dp2 secondDP
	cl.startSecondDP("node-2", &dp2)

	// node-1: two logins pass, the next two are over the limit (429), and the second violation
	// bans the client (127.0.0.1) on this route.
	var got []int
	for range 4 {
		s, _ := statusOf(t, cl.client, cl.httpAddr, "vault.test", "/auth/login")
		got = append(got, s)
	}
	if want := []int{200, 200, 429, 429}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("logins on node-1: %v, want %v", got, want)
	}
	s, body := statusOf(t, cl.client, cl.httpAddr, "vault.test", "/", "X-Request-ID", "e2e-banned-1")
	if s != 403 || !strings.Contains(body, "e2e-banned-1") {
		t.Fatalf("node-1 after the ban: %d, want 403 with the request id in the page:\n%s", s, body)
	}
	banned := time.Now()

	// node-2 never saw this client misbehave; the control plane tells it within 2 s.
	eventually(t, 2*time.Second, "the ban on node-2", func() error {
		if s, _ := statusOf(t, cl.client, dp2.httpAddr, "vault.test", "/"); s != 403 {
			return fmt.Errorf("node-2 answered %d", s)
		}
		return nil
	})
	t.Logf("ban on node-2 %v after node-1 decided it", time.Since(banned).Round(time.Millisecond))

	// Everything restarts: the ban comes back from the control plane's database.
	cl.dp.kill()
	dp2.proc.kill()
	cl.cp.kill()
	cl.startCP()
	cl.startDP("node-1")
	cl.startSecondDP("node-2", &dp2)
	for _, addr := range []string{cl.httpAddr, dp2.httpAddr} {
		eventually(t, 5*time.Second, "the ban after restarts on "+addr, func() error {
			if s, _ := statusOf(t, cl.client, addr, "vault.test", "/"); s != 403 {
				return fmt.Errorf("%s answered %d", addr, s)
			}
			return nil
		})
	}

	// The admin lists it and lifts it; both data planes serve the client again within 2 s.
	resp, err := cl.client.Get("http://" + cl.adminAddr + "/api/bans")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Bans []struct{ ClientIP, RouteID, Reason string } `json:"bans"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || len(list.Bans) != 1 || list.Bans[0].ClientIP != "127.0.0.1" {
		t.Fatalf("GET /api/bans: %+v (%v), want one ban of 127.0.0.1", list, err)
	}
	req, _ := http.NewRequest(http.MethodDelete, "http://"+cl.adminAddr+"/api/bans/127.0.0.1", nil)
	resp, err = cl.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("DELETE /api/bans/127.0.0.1: %d %s", resp.StatusCode, b)
	}
	lifted := time.Now()
	for _, addr := range []string{cl.httpAddr, dp2.httpAddr} {
		eventually(t, 2*time.Second-time.Since(lifted), "the lift on "+addr, func() error {
			if s, _ := statusOf(t, cl.client, addr, "vault.test", "/"); s != 200 {
				return fmt.Errorf("%s answered %d", addr, s)
			}
			return nil
		})
	}

	// What was stored: the violations and the ban as security events, the ban's history.
	db := cl.openDB()
	var violations, bansStored int
	if err := db.QueryRow(`SELECT count(*) FROM rate_limit_violations WHERE ip_address = '127.0.0.1'`).Scan(&violations); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM security_events WHERE kind = 'banned' AND client_ip = '127.0.0.1'`).Scan(&bansStored); err != nil {
		t.Fatal(err)
	}
	if violations < 2 || bansStored != 1 {
		t.Fatalf("stored %d violations and %d ban events, want at least 2 and exactly 1", violations, bansStored)
	}
}

// Issue 5 through the real binaries: the client address from a trusted proxy's X-Forwarded-For,
// GeoIP (country and city on the request log, a blocked country refused), the WAF in block and log
// mode, and what is stored of each.
func TestSecurityPoliciesThroughTheBinaries(t *testing.T) {
	var hits atomic.Int32
	a := backend(t, "A")
	counted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "shop")
	}))
	t.Cleanup(counted.Close)
	dir := t.TempDir()
	geo := dir + "/city.mmdb"
	writeCityDB(t, geo, map[string][2]string{"81.2.69.0/24": {"GB", "London"}, "89.160.20.0/24": {"SE", "Linköping"}})
	global := "trusted_proxies: [127.0.0.1/32]\ngeoip:\n  database: " + geo + "\n"
	cl := newCluster(t, global, map[string]string{
		"shop.yaml": "host: shop.test\nbackend: " + counted.URL + "\nwaf:\n  mode: block\ngeoip:\n  blocked_countries: [SE]\n",
		"blog.yaml": "host: blog.test\nbackend: " + a.URL + "\nwaf:\n  mode: log\n",
	})
	cl.startCP()
	cl.startDP("node-1")

	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	attack := "/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--"
	cases := []struct {
		host, path, client, id string
		want                   int
	}{
		{"shop.test", "/search?q=cheap+flights", "81.2.69.10", "e2e-sec-benign", 200},
		{"shop.test", attack, "81.2.69.11", "e2e-sec-waf", 403},
		{"shop.test", "/", "89.160.20.5", "e2e-sec-geo", 403},
		{"blog.test", attack, "81.2.69.12", "e2e-sec-log", 200},
	}
	for _, c := range cases {
		s, body := statusOf(t, cl.client, cl.httpAddr, c.host, c.path, append(from(c.client), "X-Request-ID", c.id)...)
		if s != c.want {
			t.Fatalf("%s%s from %s: %d, want %d", c.host, c.path, c.client, s, c.want)
		}
		if s == 403 && !bytes.Contains([]byte(body), []byte(c.id)) {
			t.Errorf("%s: the 403 page does not carry the request id", c.id)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the shop's backend got %d requests, want 1 (the attack and the refused country never reach it)", n)
	}

	db := cl.openDB()
	eventually(t, 10*time.Second, "four request logs", func() error {
		if n, err := cl.countLogs(db); err != nil || n != 4 {
			return fmt.Errorf("%d rows (%v)", n, err)
		}
		return nil
	})
	rows := map[string][4]string{}
	r, err := db.Query(`SELECT request_id, COALESCE(country, ''), COALESCE(city, ''), COALESCE(blocked_by, ''), client_ip FROM request_logs`)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var id string
		var v [4]string
		if err := r.Scan(&id, &v[0], &v[1], &v[2], &v[3]); err != nil {
			t.Fatal(err)
		}
		rows[id] = v
	}
	r.Close()
	want := map[string][4]string{
		"e2e-sec-benign": {"GB", "London", "", "81.2.69.xxx"},
		"e2e-sec-waf":    {"GB", "London", "waf", "81.2.69.xxx"},
		"e2e-sec-geo":    {"SE", "Linköping", "geoip", "89.160.20.xxx"},
		"e2e-sec-log":    {"GB", "London", "", "81.2.69.xxx"},
	}
	for id, w := range want {
		if rows[id] != w {
			t.Errorf("request_logs %s: country, city, blocked_by, client_ip = %q, want %q", id, rows[id], w)
		}
	}
	eventually(t, 5*time.Second, "the WAF matches and the GeoIP refusal stored", func() error {
		var blocked, logged, geoRefused int
		err := db.QueryRow(`SELECT
  (SELECT count(*) FROM waf_blocks WHERE action = 'blocked' AND rule_triggered = 'sql_injection' AND ip_address = '81.2.69.11'),
  (SELECT count(*) FROM waf_blocks WHERE action = 'logged' AND ip_address = '81.2.69.12'),
  (SELECT count(*) FROM security_events WHERE kind = 'geo_blocked' AND client_ip = '89.160.20.5' AND country = 'SE')`).Scan(&blocked, &logged, &geoRefused)
		if err != nil || blocked != 1 || logged != 1 || geoRefused != 1 {
			return fmt.Errorf("waf blocked %d, logged %d, geo refused %d (%v)", blocked, logged, geoRefused, err)
		}
		return nil
	})
}
