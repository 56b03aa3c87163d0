// Package proxyproto reads the PROXY protocol header (versions 1 and 2, haproxy's
// proxy-protocol.txt) that a load balancer sends at the start of a TCP connection to say whose
// connection it is passing on.
//
// Read is strict and bounded: a version 1 header is one line of at most 107 bytes; a version 2
// header is a 16-byte preamble and at most 65535 more bytes, of which only the address block
// (at most 216 bytes) is kept and the TLVs are skipped without being buffered. Anything else is
// an error, and the connection should be closed: the bytes that follow cannot be trusted to
// be what the load balancer sent.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// Header is a PROXY protocol header.
type Header struct {
	// Version is 1 or 2.
	Version int
	// Source and Destination are the addresses of the client's connection as the load balancer
	// saw it. They are invalid for a header that carries none (v1 UNKNOWN, the v2 LOCAL command
	// of a health check, the UNSPEC and UNIX families): the connection's own peer stays. IPv4-
	// mapped IPv6 addresses are unmapped.
	Source, Destination netip.AddrPort
}

// ErrMalformed is wrapped by every error about the header's content (as opposed to reading it).
var ErrMalformed = errors.New("malformed PROXY protocol header")

const (
	maxV1Len   = 107 // "PROXY TCP6 " + two full IPv6 addresses + two ports + CRLF
	v2Preamble = 16
	bufLen     = 256 // the v2 preamble and the largest address block (UNIX: 216) fit
)

var v2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// Read reads one header from r and returns it, with the bytes it read past the header: the
// start of the connection's data, to be used before reading r again.
func Read(r io.Reader) (Header, []byte, error) {
	buf := make([]byte, bufLen)
	n, err := fill(r, buf, 0, 1)
	if err != nil {
		return Header{}, nil, err
	}
	switch buf[0] {
	case 'P':
		return readV1(r, buf, n)
	case '\r':
		return readV2(r, buf, n)
	}
	return Header{}, nil, fmt.Errorf("%w: the connection does not start with one", ErrMalformed)
}

// fill reads into buf[n:] until it holds at least min bytes.
func fill(r io.Reader, buf []byte, n, min int) (int, error) {
	for n < min {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil && n < min {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("read PROXY protocol header: %w", err)
		}
	}
	return n, nil
}

func readV1(r io.Reader, buf []byte, n int) (Header, []byte, error) {
	for {
		if i := bytes.Index(buf[:min(n, maxV1Len)], []byte("\r\n")); i >= 0 {
			h, err := parseV1(buf[:i])
			if err != nil {
				return Header{}, nil, err
			}
			return h, buf[i+2 : n], nil
		}
		if n >= maxV1Len {
			return Header{}, nil, fmt.Errorf("%w: version 1 line longer than %d bytes", ErrMalformed, maxV1Len)
		}
		var err error
		if n, err = fill(r, buf, n, n+1); err != nil {
			return Header{}, nil, err
		}
	}
}

// parseV1 parses "PROXY TCP4|TCP6 src dst sport dport" or "PROXY UNKNOWN[ anything]".
func parseV1(line []byte) (Header, error) {
	rest, ok := bytes.CutPrefix(line, []byte("PROXY "))
	if !ok {
		return Header{}, fmt.Errorf("%w: version 1 line does not start with \"PROXY \"", ErrMalformed)
	}
	if bytes.Equal(rest, []byte("UNKNOWN")) || bytes.HasPrefix(rest, []byte("UNKNOWN ")) {
		return Header{Version: 1}, nil
	}
	f := bytes.Split(rest, []byte(" "))
	if len(f) != 5 {
		return Header{}, fmt.Errorf("%w: version 1 line has %d fields, want 5 after PROXY", ErrMalformed, len(f))
	}
	var want4 bool
	switch string(f[0]) {
	case "TCP4":
		want4 = true
	case "TCP6":
	default:
		return Header{}, fmt.Errorf("%w: unknown version 1 protocol %q", ErrMalformed, f[0])
	}
	var addrs [2]netip.AddrPort
	for i := range addrs {
		a, err := netip.ParseAddr(string(f[1+i]))
		if err != nil || a.Zone() != "" || a.Is4() != want4 {
			return Header{}, fmt.Errorf("%w: version 1 address %q is not an %s address", ErrMalformed, f[1+i], f[0])
		}
		p, ok := parsePort(f[3+i])
		if !ok {
			return Header{}, fmt.Errorf("%w: version 1 port %q", ErrMalformed, f[3+i])
		}
		addrs[i] = netip.AddrPortFrom(a.Unmap(), p)
	}
	return Header{Version: 1, Source: addrs[0], Destination: addrs[1]}, nil
}

// parsePort reads a decimal port: 1 to 5 digits, at most 65535.
func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	p, err := strconv.ParseUint(string(b), 10, 16)
	return uint16(p), err == nil
}

// Version 2 commands and address families with transports (byte 13).
const (
	cmdLocal    = 0x20
	cmdProxy    = 0x21
	unspec      = 0x00
	tcpOverIPv4 = 0x11
	udpOverIPv4 = 0x12
	tcpOverIPv6 = 0x21
	udpOverIPv6 = 0x22
	unixStream  = 0x31
	unixDgram   = 0x32
)

func readV2(r io.Reader, buf []byte, n int) (Header, []byte, error) {
	n, err := fill(r, buf, n, v2Preamble)
	if err != nil {
		return Header{}, nil, err
	}
	if !bytes.Equal(buf[:12], v2Sig) {
		return Header{}, nil, fmt.Errorf("%w: bad version 2 signature", ErrMalformed)
	}
	cmd, fam := buf[12], buf[13]
	length := int(binary.BigEndian.Uint16(buf[14:16]))
	if cmd != cmdLocal && cmd != cmdProxy {
		return Header{}, nil, fmt.Errorf("%w: version 2 version and command byte 0x%02x", ErrMalformed, cmd)
	}
	var addrLen int
	switch fam {
	case unspec:
	case tcpOverIPv4:
		addrLen = 12
	case tcpOverIPv6:
		addrLen = 36
	case unixStream, unixDgram:
		addrLen = 216
	case udpOverIPv4, udpOverIPv6:
		return Header{}, nil, fmt.Errorf("%w: version 2 datagram addresses on a stream connection", ErrMalformed)
	default:
		return Header{}, nil, fmt.Errorf("%w: version 2 address family byte 0x%02x", ErrMalformed, fam)
	}
	if length < addrLen {
		return Header{}, nil, fmt.Errorf("%w: version 2 length %d too short for its addresses (%d)", ErrMalformed, length, addrLen)
	}
	if n, err = fill(r, buf, n, v2Preamble+addrLen); err != nil {
		return Header{}, nil, err
	}
	h := Header{Version: 2}
	if cmd == cmdProxy {
		a := buf[v2Preamble : v2Preamble+addrLen]
		switch fam {
		case tcpOverIPv4:
			h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), binary.BigEndian.Uint16(a[8:10]))
			h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), binary.BigEndian.Uint16(a[10:12]))
		case tcpOverIPv6:
			h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])).Unmap(), binary.BigEndian.Uint16(a[32:34]))
			h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])).Unmap(), binary.BigEndian.Uint16(a[34:36]))
		}
	}
	// The TLVs after the addresses (and everything of a LOCAL header) are skipped: what is in
	// the buffer is dropped, the rest discarded as it is read.
	end := v2Preamble + length
	if end <= n {
		return h, buf[end:n], nil
	}
	if _, err := io.CopyN(io.Discard, r, int64(end-n)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Header{}, nil, fmt.Errorf("read PROXY protocol header: %w", err)
	}
	return h, nil, nil
}
