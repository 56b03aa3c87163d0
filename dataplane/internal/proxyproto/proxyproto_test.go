package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"
)

// V2 builds a version 2 header: command, family byte, address block and TLVs.
func V2(cmd, fam byte, addrs, tlvs []byte) []byte {
	b := append([]byte(nil), v2Sig...)
	b = append(b, cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)+len(tlvs)))
	b = append(b, addrs...)
	return append(b, tlvs...)
}

// inet4 and inet6 are version 2 address blocks.
func inet4(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

func inet6(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

func TestRead(t *testing.T) {
	tlv := []byte{0x04, 0x00, 0x03, 'a', 'b', 'c', 0x01, 0x00, 0x02, 'h', '2'} // NOOP and ALPN
	testCases := []struct {
		desc     string
		in       []byte
		version  int
		src, dst string // "" when none
	}{
		{desc: "v1 TCP4", in: []byte("PROXY TCP4 198.51.100.7 10.0.0.1 56324 443\r\n"), version: 1,
			src: "198.51.100.7:56324", dst: "10.0.0.1:443"},
		{desc: "v1 TCP6", in: []byte("PROXY TCP6 2001:db8::7 2001:db8::1 56324 443\r\n"), version: 1,
			src: "[2001:db8::7]:56324", dst: "[2001:db8::1]:443"},
		{desc: "v1 TCP6 mapped", in: []byte("PROXY TCP6 ::ffff:198.51.100.7 ::1 1 2\r\n"), version: 1,
			src: "198.51.100.7:1", dst: "[::1]:2"},
		{desc: "v1 UNKNOWN", in: []byte("PROXY UNKNOWN\r\n"), version: 1},
		{desc: "v1 UNKNOWN with addresses", in: []byte("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"), version: 1},
		{desc: "v1 longest", in: []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			version: 1, src: "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", dst: "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
		{desc: "v2 PROXY TCP4", in: V2(cmdProxy, tcpOverIPv4, inet4("198.51.100.7", "10.0.0.1", 56324, 443), nil), version: 2,
			src: "198.51.100.7:56324", dst: "10.0.0.1:443"},
		{desc: "v2 PROXY TCP6 with TLVs", in: V2(cmdProxy, tcpOverIPv6, inet6("2001:db8::7", "2001:db8::1", 1, 443), tlv), version: 2,
			src: "[2001:db8::7]:1", dst: "[2001:db8::1]:443"},
		{desc: "v2 LOCAL keeps the peer", in: V2(cmdLocal, tcpOverIPv4, inet4("198.51.100.7", "10.0.0.1", 1, 2), nil), version: 2},
		{desc: "v2 LOCAL UNSPEC", in: V2(cmdLocal, unspec, nil, nil), version: 2},
		{desc: "v2 PROXY UNSPEC", in: V2(cmdProxy, unspec, nil, tlv), version: 2},
		{desc: "v2 UNIX keeps the peer", in: V2(cmdProxy, unixStream, make([]byte, 216), nil), version: 2},
		{desc: "v2 large TLVs", in: V2(cmdProxy, tcpOverIPv4, inet4("198.51.100.7", "10.0.0.1", 1, 2), make([]byte, 60000)), version: 2,
			src: "198.51.100.7:1", dst: "10.0.0.1:2"},
	}
	for _, tc := range testCases {
		for _, oneByte := range []bool{false, true} {
			t.Run(tc.desc, func(t *testing.T) {
				data := []byte("GET / HTTP/1.1\r\n")
				var r io.Reader = bytes.NewReader(append(append([]byte(nil), tc.in...), data...))
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				h, rest, err := Read(r)
				if err != nil {
					t.Fatal(err)
				}
				if h.Version != tc.version || addr(h.Source) != tc.src || addr(h.Destination) != tc.dst {
					t.Fatalf("got %+v, want v%d %s → %s", h, tc.version, tc.src, tc.dst)
				}
				after, _ := io.ReadAll(r)
				if got := string(rest) + string(after); got != string(data) {
					t.Fatalf("data after the header: %q", got)
				}
			})
		}
	}
}

func addr(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func TestReadMalformed(t *testing.T) {
	good4 := inet4("198.51.100.7", "10.0.0.1", 1, 2)
	testCases := []struct {
		desc string
		in   string
		err  error // ErrMalformed or io.ErrUnexpectedEOF
	}{
		{"plain HTTP", "GET / HTTP/1.1\r\n\r\n", ErrMalformed},
		{"TLS ClientHello", "\x16\x03\x01\x02\x00", ErrMalformed},
		{"v1 without CRLF", "PROXY TCP4 198.51.100.7 10.0.0.1 1 2\n" + strings.Repeat("x", 100), ErrMalformed},
		{"v1 too long", "PROXY UNKNOWN " + strings.Repeat("x", 100) + "\r\n", ErrMalformed},
		{"v1 lower case", "proxy TCP4 198.51.100.7 10.0.0.1 1 2\r\n", ErrMalformed},
		{"v1 UDP", "PROXY UDP4 198.51.100.7 10.0.0.1 1 2\r\n", ErrMalformed},
		{"v1 IPv6 as TCP4", "PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n", ErrMalformed},
		{"v1 IPv4 as TCP6", "PROXY TCP6 198.51.100.7 ::1 1 2\r\n", ErrMalformed},
		{"v1 port too big", "PROXY TCP4 198.51.100.7 10.0.0.1 65536 2\r\n", ErrMalformed},
		{"v1 negative port", "PROXY TCP4 198.51.100.7 10.0.0.1 -1 2\r\n", ErrMalformed},
		{"v1 double space", "PROXY TCP4  198.51.100.7 10.0.0.1 1 2\r\n", ErrMalformed},
		{"v1 missing field", "PROXY TCP4 198.51.100.7 10.0.0.1 1\r\n", ErrMalformed},
		{"v1 zone", "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", ErrMalformed},
		{"v1 cut short", "PROXY TCP4 198.51", io.ErrUnexpectedEOF},
		{"v2 bad signature", string(V2(cmdProxy, tcpOverIPv4, good4, nil))[:11] + "X" + string(V2(cmdProxy, tcpOverIPv4, good4, nil))[12:], ErrMalformed},
		{"v2 version 1", string(V2(0x11, tcpOverIPv4, good4, nil)), ErrMalformed},
		{"v2 unknown command", string(V2(0x22, tcpOverIPv4, good4, nil)), ErrMalformed},
		{"v2 unknown family", string(V2(cmdProxy, 0x41, good4, nil)), ErrMalformed},
		{"v2 UDP", string(V2(cmdProxy, udpOverIPv4, good4, nil)), ErrMalformed},
		{"v2 length shorter than the addresses", string(V2(cmdProxy, tcpOverIPv6, good4, nil)), ErrMalformed},
		{"v2 cut in the preamble", string(V2(cmdProxy, tcpOverIPv4, good4, nil))[:14], io.ErrUnexpectedEOF},
		{"v2 cut in the TLVs", string(V2(cmdProxy, tcpOverIPv4, good4, make([]byte, 1000)))[:500], io.ErrUnexpectedEOF},
		{"empty", "", io.ErrUnexpectedEOF},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			_, _, err := Read(strings.NewReader(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("Read: %v, want %v", err, tc.err)
			}
		})
	}
}

// FuzzRead checks that Read never panics, never reads more than the header plus what it
// returns, and that what it accepts has the shape of a header.
func FuzzRead(f *testing.F) {
	f.Add([]byte("PROXY TCP4 198.51.100.7 10.0.0.1 56324 443\r\nGET /"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(V2(cmdProxy, tcpOverIPv6, inet6("2001:db8::7", "::1", 1, 2), []byte{4, 0, 1, 0}))
	f.Add(V2(cmdLocal, unspec, nil, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		h, rest, err := Read(r)
		if err != nil {
			return
		}
		headerLen := len(in) - r.Len() - len(rest)
		if headerLen <= 0 || !bytes.Equal(rest, in[headerLen:headerLen+len(rest)]) {
			t.Fatalf("header of %d bytes, rest %q of %q", headerLen, rest, in)
		}
		switch h.Version {
		case 1:
			if headerLen > maxV1Len || !bytes.HasSuffix(in[:headerLen], []byte("\r\n")) {
				t.Fatalf("v1 header %q", in[:headerLen])
			}
		case 2:
			if headerLen != v2Preamble+int(binary.BigEndian.Uint16(in[14:16])) {
				t.Fatalf("v2 header of %d bytes, length field %d", headerLen, binary.BigEndian.Uint16(in[14:16]))
			}
		default:
			t.Fatalf("version %d", h.Version)
		}
		if h.Source.IsValid() != h.Destination.IsValid() || h.Source.Addr().Is4In6() {
			t.Fatalf("addresses %v %v", h.Source, h.Destination)
		}
	})
}
