package websocket

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func frameBytes(h Header, payload []byte) []byte {
	var b bytes.Buffer
	_ = WriteFrame(&b, h, payload)
	return b.Bytes()
}

func TestReaderFrames(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	big := bytes.Repeat([]byte("x"), 70000)
	testCases := []struct {
		desc    string
		client  bool // the peer is a client: frames must be masked
		wire    []byte
		want    []Header
		payload [][]byte // unmasked
		err     string
		code    int
	}{
		{desc: "7-bit length, unmasked server text", wire: frameBytes(Header{Fin: true, Op: OpText}, []byte("hi")),
			want: []Header{{Fin: true, Op: OpText, Length: 2}}, payload: [][]byte{[]byte("hi")}},
		{desc: "16-bit length, masked client binary", client: true,
			wire:    frameBytes(Header{Fin: true, Op: OpBinary, Masked: true, Key: key}, big[:300]),
			want:    []Header{{Fin: true, Op: OpBinary, Masked: true, Key: key, Length: 300}},
			payload: [][]byte{big[:300]}},
		{desc: "64-bit length", wire: frameBytes(Header{Fin: true, Op: OpBinary}, big),
			want: []Header{{Fin: true, Op: OpBinary, Length: int64(len(big))}}, payload: [][]byte{big}},
		{desc: "fragmented message with a ping in between",
			wire: bytes.Join([][]byte{
				frameBytes(Header{Op: OpText}, []byte("he")),
				frameBytes(Header{Fin: true, Op: OpPing}, []byte("p")),
				frameBytes(Header{Op: OpContinuation}, []byte("l")),
				frameBytes(Header{Fin: true, Op: OpContinuation}, []byte("lo")),
			}, nil),
			want: []Header{{Op: OpText, Length: 2}, {Fin: true, Op: OpPing, Length: 1},
				{Op: OpContinuation, Length: 1}, {Fin: true, Op: OpContinuation, Length: 2}},
			payload: [][]byte{[]byte("he"), []byte("p"), []byte("l"), []byte("lo")}},
		{desc: "unmasked client frame", client: true, wire: frameBytes(Header{Fin: true, Op: OpText}, nil),
			err: "not masked", code: CloseProtocolError},
		{desc: "masked server frame", wire: frameBytes(Header{Fin: true, Op: OpText, Masked: true}, nil),
			err: "server frame masked", code: CloseProtocolError},
		{desc: "reserved opcode", wire: []byte{0x83, 0}, err: "reserved", code: CloseProtocolError},
		{desc: "reserved bits", wire: []byte{0xC1, 0}, err: "reserved bits", code: CloseProtocolError},
		{desc: "fragmented ping", wire: []byte{0x09, 0}, err: "fragmented ping", code: CloseProtocolError},
		{desc: "long close", wire: append([]byte{0x88, 126, 0, 126}, make([]byte, 126)...), err: "at most 125", code: CloseProtocolError},
		{desc: "continuation without start", wire: []byte{0x80, 0}, err: "outside a fragmented", code: CloseProtocolError},
		{desc: "text inside a fragmented message", wire: []byte{0x01, 0, 0x81, 0},
			want: []Header{{Op: OpText}}, payload: [][]byte{{}}, err: "inside a fragmented", code: CloseProtocolError},
		{desc: "64-bit length with the top bit", wire: []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, err: "most significant", code: CloseProtocolError},
		{desc: "over the size limit", wire: []byte{0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}, err: "over the limit", code: CloseMessageTooBig},
		{desc: "cut in the header", wire: []byte{0x82, 126, 1}, err: io.ErrUnexpectedEOF.Error()},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			fr := NewReader(bytes.NewReader(tc.wire), tc.client)
			for i := range tc.want {
				h, err := fr.NextFrame()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if h != tc.want[i] {
					t.Fatalf("frame %d: header %+v, want %+v", i, h, tc.want[i])
				}
				p, err := io.ReadAll(fr)
				if err != nil {
					t.Fatalf("frame %d payload: %v", i, err)
				}
				if h.Masked {
					Mask(h.Key, 0, p)
				}
				if !bytes.Equal(p, tc.payload[i]) {
					t.Fatalf("frame %d payload %q, want %q", i, p, tc.payload[i])
				}
			}
			_, err := fr.NextFrame()
			if tc.err == "" {
				if err != io.EOF {
					t.Fatalf("after the frames: %v, want io.EOF", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
			var pe *ProtocolError
			if tc.code != 0 && (!errors.As(err, &pe) || pe.Code != tc.code) {
				t.Fatalf("error %v, want a ProtocolError with code %d", err, tc.code)
			}
		})
	}
}

func TestAppendHeaderRoundTrip(t *testing.T) {
	for _, n := range []int64{0, 125, 126, 65535, 65536, 1 << 40} {
		h := Header{Fin: true, Op: OpBinary, Masked: true, Key: [4]byte{9, 8, 7, 6}, Length: n}
		wire := AppendHeader(nil, h)
		fr := NewReader(bytes.NewReader(wire), true)
		fr.MaxFrameBytes = 1 << 41
		got, err := fr.NextFrame()
		if err != nil || got != h {
			t.Errorf("length %d: %+v, %v; want %+v", n, got, err, h)
		}
	}
}

func TestClosePayload(t *testing.T) {
	testCases := []struct {
		desc    string
		payload []byte
		code    int
		reason  string
		err     bool
	}{
		{desc: "empty is no status", payload: nil, code: CloseNoStatus},
		{desc: "code and reason", payload: ClosePayload(CloseGoingAway, "shutdown"), code: 1001, reason: "shutdown"},
		{desc: "application code", payload: ClosePayload(4000, ""), code: 4000},
		{desc: "one byte", payload: []byte{3}, err: true},
		{desc: "reserved 1005", payload: []byte{0x03, 0xED}, err: true},
		{desc: "reserved 1006", payload: []byte{0x03, 0xEE}, err: true},
		{desc: "invalid UTF-8 reason", payload: []byte{0x03, 0xE8, 0xff}, err: true},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			code, reason, err := ParseClose(tc.payload)
			if (err != nil) != tc.err || (!tc.err && (code != tc.code || reason != tc.reason)) {
				t.Fatalf("ParseClose = %d %q %v; want %d %q error %v", code, reason, err, tc.code, tc.reason, tc.err)
			}
		})
	}
	long := ClosePayload(1000, strings.Repeat("é", 100))
	if len(long) > 125 {
		t.Fatalf("close payload of %d bytes", len(long))
	}
	if _, _, err := ParseClose(long); err != nil {
		t.Fatalf("cut reason: %v", err)
	}
}

// FuzzReader feeds arbitrary bytes to the frame reader: it must never panic, never return a
// header it did not check, and never read past a frame's length.
func FuzzReader(f *testing.F) {
	f.Add(frameBytes(Header{Fin: true, Op: OpText}, []byte("hello")), false)
	f.Add(frameBytes(Header{Fin: true, Op: OpBinary, Masked: true, Key: [4]byte{1, 2, 3, 4}}, make([]byte, 300)), true)
	f.Add([]byte{0x01, 0x00, 0x89, 0x00, 0x80, 0x00}, false)
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}, false)
	f.Fuzz(func(t *testing.T, data []byte, client bool) {
		fr := NewReader(bytes.NewReader(data), client)
		fr.MaxFrameBytes = 1 << 16
		for range 64 {
			h, err := fr.NextFrame()
			if err != nil {
				return
			}
			if h.Length > 1<<16 || (h.Op.IsControl() && (h.Length > 125 || !h.Fin)) || h.Masked != client {
				t.Fatalf("unchecked header %+v", h)
			}
			n, err := io.Copy(io.Discard, fr)
			if n > h.Length {
				t.Fatalf("read %d payload bytes of a %d-byte frame", n, h.Length)
			}
			if err != nil {
				return
			}
		}
	})
}
