package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// personal is what one client sends that a masked access log must not keep.
type personal struct {
	ipv4, ipv6, token, email, auth, cookie, agent string
}

func (p personal) values() map[string]string {
	return map[string]string{"IPv4 address": p.ipv4, "IPv6 address": p.ipv6, "reset token": p.token,
		"e-mail address": p.email, "Authorization": p.auth, "cookie": p.cookie, "user agent": p.agent}
}

// httpAndWSBackend answers plain requests with 200 and accepts WebSockets, echoing until the
// client closes.
func httpAndWSBackend(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			fmt.Fprint(w, "ok")
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// send makes the three exchanges of one client with host: a request from its IPv4 address and
// one from its IPv6 address (through the trusted proxy's X-Forwarded-For), each to a reset URL
// with the token in the path and the e-mail address in the query, with Authorization, Cookie
// and User-Agent; and a WebSocket from the IPv6 address to such a URL.
func send(t *testing.T, cl *cluster, host string, p personal) {
	t.Helper()
	target := "/auth/password/reset/" + p.token + "?email=" + p.email
	for _, ip := range []string{p.ipv4, p.ipv6} {
		status, body := statusOf(t, cl.client, cl.httpAddr, host, target, "X-Forwarded-For", ip,
			"Authorization", p.auth, "Cookie", p.cookie, "User-Agent", p.agent)
		if status != http.StatusOK {
			t.Fatalf("%s%s from %s: %d %s", host, target, ip, status, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws://"+cl.httpAddr+"/ws/confirm/"+p.token+"?email="+p.email, &websocket.DialOptions{
		Host: host,
		HTTPHeader: http.Header{"X-Forwarded-For": {p.ipv6}, "Authorization": {p.auth},
			"Cookie": {p.cookie}, "User-Agent": {p.agent}},
	})
	if err != nil {
		t.Fatalf("WebSocket to %s: %v (%v)", host, err, res)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// textCell is one value found in the database.
type textCell struct{ table, column, value string }

// allText reads every column of every row of every table of the database, as text.
func allText(t *testing.T, db *sql.DB) []textCell {
	t.Helper()
	tables, err := db.Query("SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		if err := tables.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	tables.Close()
	var cells []textCell
	for _, table := range names {
		cols, err := db.Query(fmt.Sprintf("SELECT name FROM pragma_table_info('%s')", table))
		if err != nil {
			t.Fatal(err)
		}
		var columns []string
		for cols.Next() {
			var c string
			if err := cols.Scan(&c); err != nil {
				t.Fatal(err)
			}
			columns = append(columns, c)
		}
		cols.Close()
		for _, col := range columns {
			rows, err := db.Query(fmt.Sprintf(`SELECT CAST("%s" AS TEXT) FROM "%s"`, col, table))
			if err != nil {
				t.Fatalf("read %s.%s: %v", table, col, err)
			}
			for rows.Next() {
				var v sql.NullString
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				if v.Valid && v.String != "" {
					cells = append(cells, textCell{table, col, v.String})
				}
			}
			rows.Close()
		}
	}
	if len(names) < 10 {
		t.Fatalf("found %d tables: not the control plane's database?", len(names))
	}
	return cells
}

// where lists the table.column places of the cells holding s.
func where(cells []textCell, s string) []string {
	var out []string
	for _, c := range cells {
		if strings.Contains(c.value, s) {
			out = append(out, c.table+"."+c.column)
		}
	}
	return out
}

// Checked by 1 (issue 6): requests carrying an IPv4 and an IPv6 client address, an Authorization
// header, a cookie, a reset token in the path and an e-mail address in the query go through a
// mask_pii route; none of it is anywhere in the SQLite file (every table, every column). The
// same through a route with masking off keeps the addresses and the token in the access log.
func TestMaskingAtTheEdge(t *testing.T) {
	be := httpAndWSBackend(t)
	cl := newCluster(t, "trusted_proxies: [127.0.0.1/32]\n", map[string]string{
		"masked.yaml": fmt.Sprintf(`host: masked.test
backend: %s
logging:
  strip_headers: [Authorization, Cookie, User-Agent]
  mask_pii: true
  mask_ip_method: prefix
`, be.URL),
		"open.yaml": fmt.Sprintf(`host: open.test
backend: %s
logging:
  mask_pii: false
  mask_ip_method: none
`, be.URL),
	})
	cl.startCP()
	cl.startDP("node-1")

	masked := personal{ipv4: "203.0.113.45", ipv6: "2001:db8:85a3:8d3:1319:8a2e:370:7348",
		token: "5f4dcc3b5aa765d61d8327deb882cf995f4dcc3b5aa765d61d8327deb882cf99", email: "alice.masked@example.org",
		auth: "Bearer masked-bearer-0b1c2d", cookie: "session=masked-cookie-7e8f9a", agent: "MaskedAgent/1.0 (masked-ua-3c4d)"}
	open := personal{ipv4: "198.51.100.77", ipv6: "2001:db8:feed:1:2:3:4:5",
		token: "e99a18c428cb38d5f260853678922e03e99a18c428cb38d5f260853678922e03", email: "bob.open@example.org",
		auth: "Bearer open-bearer-4f5a6b", cookie: "session=open-cookie-1a2b3c", agent: "OpenAgent/1.0 (open-ua-5e6f)"}
	send(t, cl, "masked.test", masked)
	send(t, cl, "open.test", open)

	db := cl.openDB()
	eventually(t, 15*time.Second, "6 request rows and 2 closed WebSockets", func() error {
		var reqs, ws int
		if err := db.QueryRow("SELECT COUNT(*) FROM request_logs").Scan(&reqs); err != nil {
			return err
		}
		if err := db.QueryRow("SELECT COUNT(*) FROM websocket_connections WHERE disconnected_at IS NOT NULL").Scan(&ws); err != nil {
			return err
		}
		if reqs != 6 || ws != 2 {
			return fmt.Errorf("%d request rows, %d closed WebSockets", reqs, ws)
		}
		return nil
	})
	cells := allText(t, db)

	// The masked route: nothing of it, anywhere.
	for what, v := range masked.values() {
		if places := where(cells, v); len(places) > 0 {
			t.Errorf("masked route: the %s %q is stored in %v", what, v, places)
		}
	}
	// What is stored instead.
	var ips []string
	rows, err := db.Query("SELECT client_ip, path, COALESCE(user_agent, '') FROM request_logs WHERE host = 'masked.test' ORDER BY client_ip")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ip, path, ua string
		if err := rows.Scan(&ip, &path, &ua); err != nil {
			t.Fatal(err)
		}
		ips = append(ips, ip)
		if (path != "/auth/password/reset/:token" && path != "/ws/confirm/:token") || ua != "" {
			t.Errorf("masked row: path %q, user agent %q", path, ua)
		}
	}
	rows.Close()
	if got, want := strings.Join(ips, " "), "2001:db8:85a3::/48 2001:db8:85a3::/48 203.0.0.0/16"; got != want {
		t.Errorf("masked client addresses %q, want %q", got, want)
	}

	// The open route keeps the addresses and the token in its access log.
	for what, v := range map[string]string{"IPv4 address": open.ipv4, "IPv6 address": open.ipv6, "reset token": open.token} {
		places := where(cells, v)
		if !contains(places, "request_logs.client_ip") && !contains(places, "request_logs.path") {
			t.Errorf("open route: the %s %q is not in request_logs (found in %v)", what, v, places)
		}
	}
	if places := where(cells, open.ipv6); !contains(places, "websocket_connections.client_ip") {
		t.Errorf("open route: the IPv6 address is not in websocket_connections (found in %v)", places)
	}
	if places := where(cells, open.agent); !contains(places, "request_logs.user_agent") {
		t.Errorf("open route: the user agent is not in request_logs (found in %v)", places)
	}
	// The query string is never stored, nor are Authorization and Cookie: the events do not carry them.
	for what, v := range map[string]string{"e-mail address": open.email, "Authorization": open.auth, "cookie": open.cookie} {
		if places := where(cells, v); len(places) > 0 {
			t.Errorf("open route: the %s %q is stored in %v", what, v, places)
		}
	}
}
