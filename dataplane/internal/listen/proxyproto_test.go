package listen_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/listen"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// v1 and v2 are PROXY protocol headers for a client at src (ip:port) talking to dst.
func v1(src, dst string) string {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	fam := "TCP4"
	if s.Addr().Is6() {
		fam = "TCP6"
	}
	return "PROXY " + fam + " " + s.Addr().String() + " " + d.Addr().String() + " " +
		strconv.Itoa(int(s.Port())) + " " + strconv.Itoa(int(d.Port())) + "\r\n"
}

func v2(local bool, src, dst string) string {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	cmd, fam := byte(0x21), byte(0x11)
	if local {
		cmd = 0x20
	}
	var addrs []byte
	if s.Addr().Is4() {
		a, b := s.Addr().As4(), d.Addr().As4()
		addrs = append(a[:], b[:]...)
	} else {
		fam = 0x21
		a, b := s.Addr().As16(), d.Addr().As16()
		addrs = append(a[:], b[:]...)
	}
	addrs = binary.BigEndian.AppendUint16(addrs, s.Port())
	addrs = binary.BigEndian.AppendUint16(addrs, d.Port())
	tlvs := []byte{0x04, 0x00, 0x02, 0, 0} // a NOOP TLV, skipped
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)+len(tlvs)))
	return string(append(append(b, addrs...), tlvs...))
}

// proxyEnv is a running Servers behind an Edge that asks for PROXY protocol headers from
// the given trusted proxies.
func proxyEnv(t *testing.T, trusted ...string) *env {
	e := start(t, echo(), func(c *listen.Config) { c.Limits.ReadHeaderTimeout = 300 * time.Millisecond })
	e.edges.Store(mustEdge(t, e.certs.all(), &proxyv1.Edge{DefaultCertificate: "fallback", ProxyProtocol: true, TrustedProxies: trusted}))
	return e
}

// plainVia sends header, then a GET on the plain listener, and returns the peer address the
// handler saw ("" when the connection was closed without an answer).
func plainVia(t *testing.T, e *env, header string) string {
	t.Helper()
	resps, _ := raw(t, e.srv.HTTPAddr().String(), header+"GET / HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n")
	if len(resps) == 0 {
		return ""
	}
	return resps[0].Header.Get("X-Remote-IP")
}

// tlsVia dials the TLS listener, sends header before the handshake, and GETs over proto
// ("h1" or "h2"); it returns the peer the handler saw, or the error.
func tlsVia(t *testing.T, e *env, proto, header string) (string, error) {
	t.Helper()
	tr := e.tcpTransport(proto, e.clientTLS())
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, e.srv.TLSAddr().String())
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(c, header); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := getErr(c, "https://www.example.org/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.Proto != map[string]string{"h1": "HTTP/1.1", "h2": "HTTP/2.0"}[proto] {
		t.Errorf("spoke %s, want %s", resp.Proto, proto)
	}
	return resp.Header.Get("X-Remote-IP"), nil
}

func TestProxyProtocolTrusted(t *testing.T) {
	e := proxyEnv(t, "127.0.0.0/8")
	testCases := []struct {
		desc, header, want string
	}{
		{"v1 TCP4", v1("198.51.100.7:40000", "10.0.0.1:80"), "198.51.100.7"},
		{"v1 TCP6", v1("[2001:db8::7]:40000", "[2001:db8::1]:80"), "2001:db8::7"},
		{"v1 UNKNOWN keeps the peer", "PROXY UNKNOWN\r\n", "127.0.0.1"},
		{"v2 TCP4 with a TLV", v2(false, "198.51.100.8:40000", "10.0.0.1:80"), "198.51.100.8"},
		{"v2 TCP6", v2(false, "[2001:db8::8]:40000", "[2001:db8::1]:80"), "2001:db8::8"},
		{"v2 LOCAL keeps the peer", v2(true, "198.51.100.8:40000", "10.0.0.1:80"), "127.0.0.1"},
	}
	for _, tc := range testCases {
		t.Run("plain "+tc.desc, func(t *testing.T) {
			if got := plainVia(t, e, tc.header); got != tc.want {
				t.Errorf("handler saw peer %q, want %q", got, tc.want)
			}
		})
		for _, proto := range []string{"h1", "h2"} {
			t.Run("tls "+proto+" "+tc.desc, func(t *testing.T) {
				got, err := tlsVia(t, e, proto, tc.header)
				if err != nil || got != tc.want {
					t.Errorf("handler saw peer %q (%v), want %q", got, err, tc.want)
				}
			})
		}
	}
	if st := e.srv.ProxyProtocolStats(); st.Accepted != uint64(3*len(testCases)) || st.Untrusted+st.Malformed+st.TimedOut != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestProxyProtocolRefused(t *testing.T) {
	e := proxyEnv(t, "127.0.0.0/8")
	// Closed at once, however well-formed the request: neither listener answers a request that
	// does not start with a header, nor one with a malformed header.
	for _, header := range []string{"", "PROXY TCP4 198.51.100.7 10.0.0.1 99999 80\r\n", "PROXY TCP4 198.51.100.7\r\n"} {
		if got := plainVia(t, e, header); got != "" {
			t.Errorf("header %q: answered for %q", header, got)
		}
		if _, err := tlsVia(t, e, "h1", header); err == nil {
			t.Errorf("header %q: TLS request answered", header)
		}
	}
	if st := e.srv.ProxyProtocolStats(); st.Malformed != 6 || st.Accepted != 0 {
		t.Errorf("stats %+v", st)
	}

	// No header at all: closed after the read-header timeout (300 ms here).
	for _, addr := range []net.Addr{e.srv.HTTPAddr(), e.srv.TLSAddr()} {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := bufio.NewReader(c).Read(make([]byte, 1))
		if n != 0 || err == nil || time.Since(start) < 200*time.Millisecond {
			t.Errorf("%s: read %d bytes, %v after %v", addr, n, err, time.Since(start))
		}
		c.Close()
	}
	if st := e.srv.ProxyProtocolStats(); st.TimedOut != 2 {
		t.Errorf("stats %+v", st)
	}

	// From a peer that is not a trusted proxy: refused, even with a valid header.
	e.edges.Store(mustEdge(t, e.certs.all(), &proxyv1.Edge{DefaultCertificate: "fallback", ProxyProtocol: true, TrustedProxies: []string{"10.0.0.0/8"}}))
	hdr := v1("198.51.100.7:40000", "10.0.0.1:80")
	if got := plainVia(t, e, hdr); got != "" {
		t.Errorf("untrusted peer answered for %q", got)
	}
	if _, err := tlsVia(t, e, "h2", hdr); err == nil {
		t.Error("untrusted peer answered over TLS")
	}
	if st := e.srv.ProxyProtocolStats(); st.Untrusted != 2 {
		t.Errorf("stats %+v", st)
	}

	// The next snapshot turns it off: new connections are served without a header.
	e.edges.Store(mustEdge(t, e.certs.all(), &proxyv1.Edge{DefaultCertificate: "fallback", TrustedProxies: []string{"10.0.0.0/8"}}))
	if got := plainVia(t, e, ""); got != "127.0.0.1" {
		t.Errorf("without PROXY protocol: peer %q", got)
	}
	if got, err := tlsVia(t, e, "h2", ""); err != nil || got != "127.0.0.1" {
		t.Errorf("without PROXY protocol over TLS: peer %q, %v", got, err)
	}
}

func TestProxyProtocolNeedsTrustedProxies(t *testing.T) {
	_, err := listen.NewEdge(&proxyv1.Snapshot{Version: 4, Edge: &proxyv1.Edge{ProxyProtocol: true}})
	if err == nil {
		t.Fatal("NewEdge accepted proxy_protocol without trusted_proxies")
	}
	if _, err := listen.NewEdge(&proxyv1.Snapshot{Version: 4, Edge: &proxyv1.Edge{TrustedProxies: []string{"10.0.0.0/33"}}}); err == nil {
		t.Fatal("NewEdge accepted a bad trusted proxy")
	}
}
