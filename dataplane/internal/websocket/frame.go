// Package websocket relays RFC 6455 WebSocket connections between a client and a backend, frame
// by frame, so that the proxy can keep idle connections alive with its own pings, close them
// with a proper close frame (idle timeout, maximum duration, shutdown) and count what passes,
// without ever changing the frames the two ends send each other.
//
// The codec in this file reads and writes frame headers and streams payloads: a frame is
// forwarded in chunks as it arrives, never buffered whole, and neither is a fragmented message.
// Only control frames (at most 125 bytes) are read whole, since the proxy needs to look at
// closes and pongs. Text payloads are not checked for valid UTF-8: that is the endpoints' job,
// and a proxy that streams cannot do it without buffering.
package websocket

import (
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf8"
)

// Opcode is a frame's opcode (RFC 6455 section 5.2).
type Opcode byte

// The opcodes RFC 6455 defines; the others are reserved and refused.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether o is a control opcode (close, ping, pong).
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("opcode %#x", byte(o))
}

// Close status codes the proxy sends or looks at (RFC 6455 section 7.4.1).
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	CloseProtocolError   = 1002
	CloseNoStatus        = 1005 // reserved: never sent, means "the close frame had no code"
	CloseMessageTooBig   = 1009
	CloseInternalError   = 1011
	maxControlPayload    = 125
	maxHeaderLen         = 14
	DefaultMaxFrameBytes = 16 << 20
)

// Header is one frame's header.
type Header struct {
	Fin    bool
	RSV    byte // the three reserved bits as they are in the first byte (0x70 mask)
	Op     Opcode
	Masked bool
	Key    [4]byte // the masking key when Masked
	Length int64   // payload length
}

// AppendHeader appends h in wire format to dst, with the shortest length encoding.
func AppendHeader(dst []byte, h Header) []byte {
	b0 := byte(h.Op&0x0F) | h.RSV&0x70
	if h.Fin {
		b0 |= 0x80
	}
	var mask byte
	if h.Masked {
		mask = 0x80
	}
	switch {
	case h.Length <= 125:
		dst = append(dst, b0, mask|byte(h.Length))
	case h.Length <= 0xFFFF:
		dst = append(dst, b0, mask|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(h.Length))
	default:
		dst = append(dst, b0, mask|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.Length))
	}
	if h.Masked {
		dst = append(dst, h.Key[:]...)
	}
	return dst
}

// Mask applies (or removes: it is its own inverse) the masking key to b, which starts at
// offset pos of the payload, and returns the offset after b.
func Mask(key [4]byte, pos int64, b []byte) int64 {
	for i := range b {
		b[i] ^= key[(pos+int64(i))&3]
	}
	return pos + int64(len(b))
}

// ProtocolError is a frame that breaks RFC 6455. Code is the close code the reader's peer
// should be sent (1002, or 1009 for a frame over the size limit).
type ProtocolError struct {
	Code   int
	Reason string
}

func (e *ProtocolError) Error() string { return "websocket: " + e.Reason }

func protocolError(format string, args ...any) error {
	return &ProtocolError{Code: CloseProtocolError, Reason: fmt.Sprintf(format, args...)}
}

// Reader reads the frames of one direction of a connection: NextFrame reads a header, then
// Read returns that frame's payload (as it is on the wire, still masked if it was) until io.EOF.
// It checks what a proxy must: masking by direction, reserved opcodes, control frame rules,
// continuation frames only inside a fragmented message, and the size limit.
type Reader struct {
	r io.Reader
	// Masked says whether the peer must mask its frames (true for a client, false for a server).
	masked bool
	// AllowRSV holds the reserved bits the peer may set (an extension such as permessage-deflate
	// uses 0x40). The relay passes all of them through, since the endpoints negotiated the
	// extensions between themselves.
	AllowRSV byte
	// MaxFrameBytes limits a frame's payload; 0 means DefaultMaxFrameBytes.
	MaxFrameBytes int64

	hdr        [maxHeaderLen]byte
	remaining  int64 // payload bytes of the current frame not read yet
	fragmented bool  // inside a fragmented data message
}

// NewReader returns a Reader of frames from r; masked says the peer must mask (a client).
func NewReader(r io.Reader, masked bool) *Reader {
	return &Reader{r: r, masked: masked}
}

// NextFrame discards what is left of the current frame's payload and reads the next header.
// A *ProtocolError means the peer broke the protocol; any other error comes from the reader
// below (io.EOF at a frame boundary: the peer closed the connection).
func (fr *Reader) NextFrame() (Header, error) {
	if fr.remaining > 0 {
		if _, err := io.CopyN(io.Discard, fr.r, fr.remaining); err != nil {
			return Header{}, noEOF(err)
		}
		fr.remaining = 0
	}
	var h Header
	b := fr.hdr[:2]
	if _, err := io.ReadFull(fr.r, b); err != nil {
		return h, err // io.EOF: the peer closed the connection between frames
	}
	h.Fin = b[0]&0x80 != 0
	h.RSV = b[0] & 0x70
	h.Op = Opcode(b[0] & 0x0F)
	h.Masked = b[1]&0x80 != 0
	n := int64(b[1] & 0x7F)
	switch n {
	case 126:
		if _, err := io.ReadFull(fr.r, fr.hdr[2:4]); err != nil {
			return h, noEOF(err)
		}
		n = int64(binary.BigEndian.Uint16(fr.hdr[2:4]))
	case 127:
		if _, err := io.ReadFull(fr.r, fr.hdr[2:10]); err != nil {
			return h, noEOF(err)
		}
		u := binary.BigEndian.Uint64(fr.hdr[2:10])
		if u>>63 != 0 {
			return h, protocolError("64-bit payload length with the most significant bit set")
		}
		n = int64(u)
	}
	h.Length = n
	if h.Masked {
		if _, err := io.ReadFull(fr.r, h.Key[:]); err != nil {
			return h, noEOF(err)
		}
	}
	if err := fr.check(h); err != nil {
		return h, err
	}
	fr.remaining = h.Length
	return h, nil
}

func (fr *Reader) check(h Header) error {
	switch {
	case fr.masked && !h.Masked:
		return protocolError("client frame not masked")
	case !fr.masked && h.Masked:
		return protocolError("server frame masked")
	case h.RSV&^fr.AllowRSV != 0:
		return protocolError("reserved bits %#x set without an extension", h.RSV)
	}
	max := fr.MaxFrameBytes
	if max <= 0 {
		max = DefaultMaxFrameBytes
	}
	switch h.Op {
	case OpClose, OpPing, OpPong:
		if !h.Fin {
			return protocolError("fragmented %s frame", h.Op)
		}
		if h.Length > maxControlPayload {
			return protocolError("%s frame of %d bytes (at most 125)", h.Op, h.Length)
		}
		return nil
	case OpContinuation:
		if !fr.fragmented {
			return protocolError("continuation frame outside a fragmented message")
		}
	case OpText, OpBinary:
		if fr.fragmented {
			return protocolError("%s frame inside a fragmented message", h.Op)
		}
	default:
		return protocolError("reserved %s", h.Op)
	}
	if h.Length > max {
		return &ProtocolError{Code: CloseMessageTooBig, Reason: fmt.Sprintf("frame of %d bytes over the limit of %d", h.Length, max)}
	}
	fr.fragmented = !h.Fin
	return nil
}

// Read reads the current frame's payload; it returns io.EOF at the end of the frame.
func (fr *Reader) Read(p []byte) (int, error) {
	if fr.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > fr.remaining {
		p = p[:fr.remaining]
	}
	n, err := fr.r.Read(p)
	fr.remaining -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && fr.remaining == 0 {
		err = io.EOF
	}
	return n, err
}

// Remaining returns the payload bytes of the current frame not read yet.
func (fr *Reader) Remaining() int64 { return fr.remaining }

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ClosePayload builds a close frame's payload: the code and a reason cut to fit 123 bytes on a
// character boundary. Code 0 gives an empty payload (no status).
func ClosePayload(code int, reason string) []byte {
	if code == 0 {
		return nil
	}
	if len(reason) > maxControlPayload-2 {
		i := maxControlPayload - 2
		for i > 0 && !utf8.RuneStart(reason[i]) {
			i--
		}
		reason = reason[:i]
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return append(b, reason...)
}

// ParseClose reads a close frame's (unmasked) payload. An empty payload gives CloseNoStatus.
// A one-byte payload, a code that must not be sent, or a reason that is not UTF-8 is a
// *ProtocolError.
func ParseClose(p []byte) (code int, reason string, err error) {
	switch {
	case len(p) == 0:
		return CloseNoStatus, "", nil
	case len(p) == 1:
		return 0, "", protocolError("close frame with a one-byte payload")
	}
	code = int(binary.BigEndian.Uint16(p))
	if !validCloseCode(code) {
		return code, "", protocolError("close code %d may not be sent", code)
	}
	if !utf8.Valid(p[2:]) {
		return code, "", protocolError("close reason is not UTF-8")
	}
	return code, string(p[2:]), nil
}

// validCloseCode reports whether an endpoint may send code (RFC 6455 section 7.4).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// WriteFrame writes one whole frame with payload (control frames and tests). When h.Masked the
// payload is masked with h.Key on the way, without changing p. h.Length is set from p.
func WriteFrame(w io.Writer, h Header, p []byte) error {
	h.Length = int64(len(p))
	buf := AppendHeader(make([]byte, 0, maxHeaderLen+len(p)), h)
	start := len(buf)
	buf = append(buf, p...)
	if h.Masked {
		Mask(h.Key, 0, buf[start:])
	}
	_, err := w.Write(buf)
	return err
}
