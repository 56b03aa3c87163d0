package websocket

import (
	"bytes"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCloseWait bounds how long the relay waits for the other end's close frame once a
// close was sent (the closing handshake), and for a proxy-initiated close frame to go out.
const DefaultCloseWait = 5 * time.Second

// Relay is one upgraded connection to relay. Run it once.
type Relay struct {
	// Client is the hijacked client connection; ClientReader reads it (the hijacked
	// bufio.Reader, which may already hold frames the client sent) and defaults to Client.
	Client       io.ReadWriteCloser
	ClientReader io.Reader
	// Backend is the backend's connection after its 101 response.
	Backend       io.ReadWriteCloser
	BackendReader io.Reader // defaults to Backend

	Policy Policy
	// Shutdown, when closed, closes the connection with 1001 Going Away at frame boundaries;
	// Abort, when closed, cuts it at once. Both may be nil.
	Shutdown, Abort <-chan struct{}
	// CloseWait defaults to DefaultCloseWait; MaxFrameBytes to DefaultMaxFrameBytes.
	CloseWait     time.Duration
	MaxFrameBytes int64
}

// Result is what happened on a relayed connection.
type Result struct {
	BytesSent     int64 // to the client
	BytesReceived int64 // from the client
	// CloseReason: "client closed (1000)", "backend closed (1001)", "client disconnected",
	// "backend disconnected", "idle timeout", "max duration", "shutdown", "error: ...".
	CloseReason string
}

// Close reasons the relay records for closes it starts.
const (
	ReasonIdle        = "idle timeout"
	ReasonMaxDuration = "max duration"
	ReasonShutdown    = "shutdown"
)

// errCloseFrame ends a pump that passed on a close frame: its peer sends nothing after it.
var errCloseFrame = errors.New("close frame")

// side is one end of the relay: the frames read from it and the writes to it.
type side struct {
	name   string // "client" or "backend"
	conn   io.ReadWriteCloser
	frames *Reader
	// wlock serialises writes, so that frames the proxy sends itself (pings, closes) go out
	// between the frames it forwards, never inside one.
	wlock chan struct{}
	// mask: frames the proxy originates toward this side must be masked (it is the backend,
	// and the proxy is its client).
	mask      bool
	closeSent atomic.Bool // a close frame went to this side; nothing else may follow
	closeRecv atomic.Bool // this side sent its close frame
}

type relayState struct {
	*Relay
	client, backend *side
	sent, received  atomic.Int64
	lastActive      atomic.Int64 // unix nanoseconds of the last frame either way
	reasonMu        sync.Mutex
	reason          string
	pingMu          sync.Mutex
	pingNonce       [8]byte
	pingSeq         uint64
	pingTags        [4][16]byte // the last pings sent, to recognise their pongs
	pinging         atomic.Bool
	wg              sync.WaitGroup
}

// Run relays frames both ways until the connection ends, and closes both connections.
func (rl *Relay) Run() Result {
	if rl.CloseWait <= 0 {
		rl.CloseWait = DefaultCloseWait
	}
	if rl.ClientReader == nil {
		rl.ClientReader = rl.Client
	}
	if rl.BackendReader == nil {
		rl.BackendReader = rl.Backend
	}
	s := &relayState{Relay: rl}
	_, _ = crand.Read(s.pingNonce[:]) // never fails on supported platforms
	clientReader := NewReader(&countingReader{r: rl.ClientReader, n: &s.received}, true)
	backendReader := NewReader(rl.BackendReader, false)
	for _, fr := range []*Reader{clientReader, backendReader} {
		fr.AllowRSV = 0x70 // extensions are the endpoints' business
		fr.MaxFrameBytes = rl.MaxFrameBytes
	}
	s.client = &side{name: "client", conn: &countingConn{ReadWriteCloser: rl.Client, sent: &s.sent},
		frames: clientReader, wlock: make(chan struct{}, 1)}
	s.backend = &side{name: "backend", conn: rl.Backend, frames: backendReader,
		wlock: make(chan struct{}, 1), mask: true}
	s.touch()
	s.run()
	return Result{BytesSent: s.sent.Load(), BytesReceived: s.received.Load(), CloseReason: s.closeReason()}
}

type pumpEnd struct {
	from *side
	err  error
}

func (s *relayState) run() {
	ends := make(chan pumpEnd, 2)
	s.wg.Add(2)
	go func() { defer s.wg.Done(); ends <- pumpEnd{s.client, s.pump(s.client, s.backend)} }()
	go func() { defer s.wg.Done(); ends <- pumpEnd{s.backend, s.pump(s.backend, s.client)} }()
	defer func() {
		s.client.conn.Close()
		s.backend.conn.Close()
		s.wg.Wait() // the pumps and any frame the proxy was still writing
	}()

	var ping, idle, maxDuration <-chan time.Time
	if p := s.Policy.PingInterval; p > 0 {
		t := time.NewTicker(p)
		defer t.Stop()
		ping = t.C
	}
	var idleTimer *time.Timer
	if d := s.Policy.IdleTimeout; d > 0 {
		idleTimer = time.NewTimer(d)
		defer idleTimer.Stop()
		idle = idleTimer.C
	}
	if d := s.Policy.MaxDuration; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		maxDuration = t.C
	}
	shutdown := s.Shutdown
	var closing <-chan time.Time // the bounded wait for the closing handshake
	startClosing := func() {
		if closing == nil {
			closing = time.After(s.CloseWait)
		}
	}
	for pending := 2; pending > 0; {
		select {
		case e := <-ends:
			pending--
			s.ended(e)
			startClosing()
		case <-ping:
			s.ping()
		case <-idle:
			if left := s.Policy.IdleTimeout - time.Since(time.Unix(0, s.lastActive.Load())); left > 0 {
				idleTimer.Reset(left)
				continue
			}
			s.closeBoth(CloseGoingAway, ReasonIdle)
			startClosing()
		case <-maxDuration:
			s.closeBoth(CloseGoingAway, ReasonMaxDuration)
			startClosing()
		case <-shutdown:
			shutdown = nil
			s.closeBoth(CloseGoingAway, ReasonShutdown)
			startClosing()
		case <-s.Abort:
			s.setReason(ReasonShutdown)
			return
		case <-closing:
			return // the other end did not answer in time: cut both
		}
	}
}

// ended handles the end of the pump reading from e.from.
func (s *relayState) ended(e pumpEnd) {
	from, to := s.client, s.backend
	if e.from == s.backend {
		from, to = s.backend, s.client
	}
	var pe *ProtocolError
	switch {
	case errors.Is(e.err, errCloseFrame):
		// The close was passed on (or completed a handshake): the other end's close, or the
		// bounded wait, ends the relay.
		return
	case errors.As(e.err, &pe):
		s.setReason(fmt.Sprintf("error: %s: %s", from.name, pe.Reason))
		s.sendClose(from, pe.Code, pe.Reason)
	default:
		// Gone without a close frame (or the proxy closed it: then a reason is set already).
		s.setReason(from.name + " disconnected")
		from.closeSent.Store(true) // nobody is listening there
	}
	s.sendClose(to, CloseGoingAway, from.name+" went away")
}

// pump forwards frames from src to dst until src sends a close frame or its connection ends.
func (s *relayState) pump(src, dst *side) error {
	buf := make([]byte, 32<<10)
	for {
		h, err := src.frames.NextFrame()
		if err != nil {
			return err
		}
		s.touch()
		if h.Op.IsControl() {
			payload := buf[:h.Length]
			if _, err := io.ReadFull(src.frames, payload); err != nil {
				return noEOF(err)
			}
			if err := s.control(src, dst, h, payload); err != nil {
				return err
			}
			continue
		}
		if err := s.forwardData(src, dst, h, buf); err != nil {
			return err
		}
	}
}

// control handles a whole control frame read from src.
func (s *relayState) control(src, dst *side, h Header, payload []byte) error {
	plain := payload
	if h.Masked {
		plain = append([]byte(nil), payload...)
		Mask(h.Key, 0, plain)
	}
	switch h.Op {
	case OpPong:
		if src == s.client && s.ourPong(plain) {
			return nil // the answer to the proxy's own ping: the backend never sent that ping
		}
	case OpClose:
		code, _, err := ParseClose(plain)
		if err != nil {
			return err
		}
		src.closeRecv.Store(true)
		s.setReason(fmt.Sprintf("%s closed (%d)", src.name, code))
		// Pass the close on, unless the proxy already sent one that way (then this close
		// answers it and completes the handshake).
		if dst.closeSent.CompareAndSwap(false, true) {
			if err := dst.write(AppendHeader(nil, h), payload); err != nil {
				return fmt.Errorf("forward close to %s: %w", dst.name, err)
			}
		}
		return errCloseFrame
	}
	if dst.closeSent.Load() {
		return nil // dst was sent a close: nothing may follow it
	}
	if err := dst.write(AppendHeader(nil, h), payload); err != nil {
		return fmt.Errorf("write to %s: %w", dst.name, err)
	}
	return nil
}

// forwardData streams one data frame from src to dst, chunk by chunk, as it arrives. The frame
// goes out as it came in: same header, same masking key, same payload bytes.
func (s *relayState) forwardData(src, dst *side, h Header, buf []byte) error {
	if dst.closeSent.Load() {
		// dst was sent a close: it may not get data any more; read the frame and drop it.
		_, err := io.Copy(io.Discard, src.frames)
		return err
	}
	dst.lock()
	defer dst.unlock()
	out := AppendHeader(buf[:0], h)
	for {
		n, err := src.frames.Read(buf[len(out):])
		if n > 0 {
			s.touch()
		}
		if len(out)+n > 0 {
			if _, werr := dst.conn.Write(buf[:len(out)+n]); werr != nil {
				return fmt.Errorf("write to %s: %w", dst.name, werr)
			}
		}
		out = buf[:0]
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// ping sends a ping to the client between frames, unless a frame is being written (then data
// is flowing anyway) or the last ping is still on its way.
func (s *relayState) ping() {
	if s.client.closeSent.Load() || !s.pinging.CompareAndSwap(false, true) {
		return
	}
	select {
	case s.client.wlock <- struct{}{}:
	default:
		s.pinging.Store(false)
		return
	}
	tag := s.nextPingTag()
	frame := AppendHeader(nil, Header{Fin: true, Op: OpPing, Length: int64(len(tag))})
	frame = append(frame, tag[:]...)
	s.wg.Add(1)
	go func() { // a client that does not read must not stop the relay's timers
		defer s.wg.Done()
		defer s.pinging.Store(false)
		defer s.client.unlock()
		_, _ = s.client.conn.Write(frame)
	}()
}

func (s *relayState) nextPingTag() [16]byte {
	s.pingMu.Lock()
	defer s.pingMu.Unlock()
	s.pingSeq++
	var tag [16]byte
	copy(tag[:8], s.pingNonce[:])
	binary.BigEndian.PutUint64(tag[8:], s.pingSeq)
	s.pingTags[s.pingSeq%uint64(len(s.pingTags))] = tag
	return tag
}

// ourPong reports whether a pong's payload answers one of the proxy's recent pings.
func (s *relayState) ourPong(payload []byte) bool {
	if len(payload) != 16 || !bytes.Equal(payload[:8], s.pingNonce[:]) {
		return false
	}
	s.pingMu.Lock()
	defer s.pingMu.Unlock()
	for _, t := range s.pingTags {
		if bytes.Equal(payload, t[:]) {
			return true
		}
	}
	return false
}

// closeBoth starts the closing handshake with both ends, for a reason of the proxy's own.
func (s *relayState) closeBoth(code int, reason string) {
	s.setReason(reason)
	s.sendClose(s.client, code, reason)
	s.sendClose(s.backend, code, reason)
}

// sendClose sends a close frame to sd at the next frame boundary, unless one was sent already.
// It does not wait: the relay's bounded wait cuts a connection that does not take it.
func (s *relayState) sendClose(sd *side, code int, reason string) {
	if !sd.closeSent.CompareAndSwap(false, true) {
		return
	}
	h := Header{Fin: true, Op: OpClose, Masked: sd.mask}
	if sd.mask {
		_, _ = crand.Read(h.Key[:])
	}
	var frame bytes.Buffer
	_ = WriteFrame(&frame, h, ClosePayload(code, reason))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case sd.wlock <- struct{}{}:
		case <-time.After(s.CloseWait):
			return // a frame is stuck half-way: the relay's bounded wait cuts the connection
		}
		defer sd.unlock()
		_, _ = sd.conn.Write(frame.Bytes())
	}()
}

func (s *relayState) setReason(r string) {
	s.reasonMu.Lock()
	defer s.reasonMu.Unlock()
	if s.reason == "" {
		s.reason = r
	}
}

func (s *relayState) closeReason() string {
	s.reasonMu.Lock()
	defer s.reasonMu.Unlock()
	return s.reason
}

func (s *relayState) touch() { s.lastActive.Store(time.Now().UnixNano()) }

func (sd *side) lock()   { sd.wlock <- struct{}{} }
func (sd *side) unlock() { <-sd.wlock }

// write writes a whole frame (header and payload) between other frames.
func (sd *side) write(header, payload []byte) error {
	sd.lock()
	defer sd.unlock()
	_, err := sd.conn.Write(append(header, payload...))
	return err
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingConn struct {
	io.ReadWriteCloser
	sent *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Write(p)
	c.sent.Add(int64(n))
	return n, err
}
