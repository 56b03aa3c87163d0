package listen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/h1"
)

// Limits bound what one client can hold. The zero value of a field means its default.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers, and the TLS handshake (slowloris);
	// default 10 s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive HTTP/1.1, HTTP/2 and HTTP/3 connections without requests;
	// default 120 s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header block: the request line and headers in HTTP/1.1,
	// the advertised SETTINGS_MAX_HEADER_LIST_SIZE in HTTP/2, the QPACK field section in HTTP/3;
	// default 64 KiB. HTTP/1.1 answers 431 beyond it.
	MaxHeaderBytes int
	// MaxConcurrentStreams is the number of requests one HTTP/2 or HTTP/3 connection may have in
	// flight; default 250.
	MaxConcurrentStreams int
	// WriteByteTimeout closes an HTTP/2 connection that accepts no bytes for this long while
	// data waits (a stalled reader); default 30 s.
	WriteByteTimeout time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = 10 * time.Second
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 120 * time.Second
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	if l.MaxConcurrentStreams <= 0 {
		l.MaxConcurrentStreams = 250
	}
	if l.WriteByteTimeout <= 0 {
		l.WriteByteTimeout = 30 * time.Second
	}
	return l
}

// Config says what to listen on and what to serve.
type Config struct {
	// HTTPAddr is the plain-HTTP TCP address (":80"); empty: none.
	HTTPAddr string
	// TLSAddr is the HTTPS TCP address (":443"), HTTP/1.1 and HTTP/2; empty: none.
	TLSAddr string
	// H3Addr is the HTTP/3 UDP address (":443"); empty: no HTTP/3 and no Alt-Svc.
	H3Addr string

	// Handler is the edge: every listener serves it, behind a Guard. Required.
	Handler http.Handler
	// Reject answers the requests the Guard refuses (invalid Host); nil: plain text.
	Reject RejectFunc
	// Edges gives the certificates and switches of the snapshot in force. Required.
	Edges EdgeSource

	Limits Limits
	TLS    TLSOptions
	// AltSvcPort is the UDP port advertised in Alt-Svc; 0: the port H3Addr is bound to. Set it
	// when a firewall or container maps the port.
	AltSvcPort int
	// HTTPSPort is the port of port-80 redirects; 0: the port TLSAddr is bound to (443 is left
	// out of URLs). Set it when the public port differs.
	HTTPSPort int

	// ErrorLog receives the HTTP servers' errors (TLS handshake failures, ...); nil: log package.
	ErrorLog *log.Logger
	// Logger receives HTTP/3 debug messages; nil: none.
	Logger *slog.Logger
	// Log receives what the TCP listeners report about connections (PROXY protocol refusals);
	// nil: none.
	Log *zap.Logger
}

// Listener names used in BindError.
const (
	ListenerHTTP  = "http"
	ListenerHTTPS = "https"
	ListenerHTTP3 = "http3"
)

// BindError says which listener could not bind its address (port in use, no permission).
type BindError struct {
	Listener string // ListenerHTTP, ListenerHTTPS or ListenerHTTP3
	Network  string // "tcp" or "udp"
	Addr     string
	Err      error
}

func (e *BindError) Error() string {
	return fmt.Sprintf("%s listener on %s %s: %v", e.Listener, e.Network, e.Addr, e.Err)
}

func (e *BindError) Unwrap() error { return e.Err }

// Servers are the client-facing listeners, bound by Listen, run by Serve, stopped by Shutdown.
type Servers struct {
	tls   *TLS
	plain *Plain

	httpSrv         *h1.Server
	tlsMux          *tlsMux
	h3Srv           *http3.Server
	httpLis, tlsLis net.Listener
	udp             net.PacketConn

	proxyCount proxyCounters
	conns      atomic.Int64 // client connections open (conncount.go)

	stopRotation context.CancelFunc
	rotationCtx  context.Context

	mu      sync.Mutex
	serving bool
	done    chan struct{} // closed when every server's Serve has returned
}

// Listen binds every configured address, so a port in use is a startup error (a *BindError),
// and prepares the servers. Nothing is served until Serve.
func Listen(cfg Config) (_ *Servers, err error) {
	if cfg.Handler == nil || cfg.Edges == nil {
		return nil, errors.New("listen: Config needs Handler and Edges")
	}
	if cfg.HTTPAddr == "" && cfg.TLSAddr == "" && cfg.H3Addr == "" {
		return nil, errors.New("listen: no address to listen on")
	}
	lim := cfg.Limits.withDefaults()
	guarded := NewGuard(cfg.Handler, cfg.Reject)
	s := &Servers{done: make(chan struct{})}
	defer func() {
		if err != nil {
			s.closeListeners()
		}
	}()
	if s.tls, err = NewTLS(EdgeCertificates(cfg.Edges), cfg.TLS); err != nil {
		return nil, err
	}
	if cfg.TLSAddr != "" {
		if s.tlsLis, err = net.Listen("tcp", cfg.TLSAddr); err != nil {
			return nil, &BindError{Listener: ListenerHTTPS, Network: "tcp", Addr: cfg.TLSAddr, Err: err}
		}
	}
	if cfg.H3Addr != "" {
		if s.udp, err = net.ListenPacket("udp", cfg.H3Addr); err != nil {
			return nil, &BindError{Listener: ListenerHTTP3, Network: "udp", Addr: cfg.H3Addr, Err: err}
		}
	}
	if cfg.HTTPAddr != "" {
		if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, &BindError{Listener: ListenerHTTP, Network: "tcp", Addr: cfg.HTTPAddr, Err: err}
		}
	}

	// The TCP listeners take PROXY protocol headers while the Edge in force asks for them.
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if s.tlsLis != nil {
		s.tlsLis = newProxyListener(countConns(s.tlsLis, &s.conns), cfg.Edges, lim.ReadHeaderTimeout, cfg.Log, &s.proxyCount)
	}
	if s.httpLis != nil {
		s.httpLis = newProxyListener(countConns(s.httpLis, &s.conns), cfg.Edges, lim.ReadHeaderTimeout, cfg.Log, &s.proxyCount)
	}

	if s.udp != nil {
		s.h3Srv = newHTTP3Server(guarded, s.tls.Config(), cfg.Edges, lim, cfg.Logger)
		s.h3Srv.ConnContext = countQUIC(&s.conns)
	}
	if s.tlsLis != nil {
		altSvcPort := cfg.AltSvcPort
		if altSvcPort == 0 && s.udp != nil {
			altSvcPort = s.udp.LocalAddr().(*net.UDPAddr).Port
		}
		if s.udp == nil {
			altSvcPort = 0 // nothing to advertise
		}
		handler := NewGuard(AltSvc(cfg.Handler, cfg.Edges, altSvcPort), cfg.Reject)
		h2 := newHTTPServer(handler, lim, cfg.ErrorLog)
		// http.Server only reads TLSConfig to decide that HTTP/2 is on, and writes to it while
		// doing so: give it a copy. Handshakes use s.tls.Config() in tlsMux.
		h2.TLSConfig = s.tls.Config().Clone()
		s.tlsMux = &tlsMux{
			ln:               s.tlsLis,
			conf:             s.tls.Config(),
			handshakeTimeout: lim.ReadHeaderTimeout,
			h1:               newH1Server(handler, cfg.Reject, lim, cfg.ErrorLog),
			h2:               h2,
			h2ln:             newConnQueue(s.tlsLis.Addr()),
			errorLog:         cfg.ErrorLog,
		}
	}
	if s.httpLis != nil {
		httpsPort := cfg.HTTPSPort
		if httpsPort == 0 && s.tlsLis != nil {
			httpsPort = s.tlsLis.Addr().(*net.TCPAddr).Port
		}
		if s.plain, err = NewPlain(PlainConfig{Next: cfg.Handler, Edges: cfg.Edges, HTTPSPort: httpsPort, ErrorLog: cfg.ErrorLog}); err != nil {
			return nil, err
		}
		s.httpSrv = newH1Server(NewGuard(s.plain, cfg.Reject), cfg.Reject, lim, cfg.ErrorLog)
	}
	s.rotationCtx, s.stopRotation = context.WithCancel(context.Background())
	return s, nil
}

// newHTTPServer is the HTTP/2 server of the HTTPS listener (tlsMux gives it the connections
// that negotiated h2).
func newHTTPServer(h http.Handler, lim Limits, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		// No ReadTimeout or WriteTimeout: uploads, downloads, streaming responses and WebSockets
		// may legitimately take long; the edge bounds them per route.
		IdleTimeout:    lim.IdleTimeout,
		MaxHeaderBytes: lim.MaxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: lim.MaxConcurrentStreams,
			// The RFC's default frame size (16 KiB) instead of Go's 1 MiB: what nginx advertises, and
			// then an oversized frame is refused with FRAME_SIZE_ERROR (h2spec 4.2/3). Header table
			// sizes and flow-control windows: net/http defaults.
			MaxReadFrameSize: 16 << 10,
			// The header list size is MaxHeaderBytes above.
			WriteByteTimeout: lim.WriteByteTimeout,
		},
		ErrorLog: errorLog,
	}
}

// newH1Server is an HTTP/1.x server: of the plain-HTTP listener, and of the HTTPS one for
// connections that did not negotiate h2. reject answers the heads it refuses (the edge's error
// page with a request id).
func newH1Server(h http.Handler, reject RejectFunc, lim Limits, errorLog *log.Logger) *h1.Server {
	return &h1.Server{
		Handler:           h,
		Reject:            reject, // nil: plain text
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          errorLog,
	}
}

// newHTTP3Server is the HTTP/3 server. New QUIC connections are refused while the Edge in force
// disables HTTP/3 (clients fall back to TCP); open ones finish.
func newHTTP3Server(h http.Handler, tlsConf *tls.Config, edges EdgeSource, lim Limits, logger *slog.Logger) *http3.Server {
	qc := &quic.Config{
		MaxIncomingStreams:    int64(lim.MaxConcurrentStreams),
		MaxIncomingUniStreams: 16, // HTTP/3 needs 3 (control, QPACK encoder and decoder)
		MaxIdleTimeout:        lim.IdleTimeout,
		// 0-RTT data can be replayed by an attacker; a proxy cannot know which requests of
		// its backends are safe to replay, so it is off.
		Allow0RTT: false,
	}
	qc.GetConfigForClient = func(*quic.ClientInfo) (*quic.Config, error) {
		e := edges.Load()
		if e == nil {
			return nil, errNoEdge
		}
		if e.HTTP3Disabled {
			return nil, errHTTP3Disabled
		}
		return qc, nil
	}
	return &http3.Server{
		Handler:        h,
		TLSConfig:      tlsConf,
		QUICConfig:     qc,
		MaxHeaderBytes: lim.MaxHeaderBytes,
		IdleTimeout:    lim.IdleTimeout,
		Logger:         logger,
	}
}

var errHTTP3Disabled = errors.New("HTTP/3 is disabled")

// TLSAddr returns the bound HTTPS address, nil without one.
func (s *Servers) TLSAddr() net.Addr { return addrOf(s.tlsLis) }

// HTTPAddr returns the bound plain-HTTP address, nil without one.
func (s *Servers) HTTPAddr() net.Addr { return addrOf(s.httpLis) }

// H3Addr returns the bound HTTP/3 UDP address, nil without one.
func (s *Servers) H3Addr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

func addrOf(l net.Listener) net.Addr {
	if l == nil {
		return nil
	}
	return l.Addr()
}

// ProxyProtocolStats returns the PROXY protocol counts of both TCP listeners.
func (s *Servers) ProxyProtocolStats() ProxyProtocolStats { return s.proxyCount.stats() }

// TLS returns the TLS configuration the servers use.
func (s *Servers) TLS() *TLS { return s.tls }

// Serve serves every listener and rotates the session ticket keys until Shutdown. It returns
// nil once all servers stopped after Shutdown, or the first error of a server that failed
// on its own (the others keep running until Shutdown). Call it once.
func (s *Servers) Serve() error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("listen: Serve called twice")
	}
	s.serving = true
	s.mu.Unlock()

	type result struct {
		name string
		err  error
	}
	var wg sync.WaitGroup
	results := make(chan result, 4)
	run := func(name string, serve func() error) {
		wg.Go(func() {
			err := serve()
			if errors.Is(err, http.ErrServerClosed) || errors.Is(err, quic.ErrServerClosed) {
				err = nil
			}
			results <- result{name, err}
		})
	}
	wg.Go(func() { s.tls.RunTicketKeyRotation(s.rotationCtx) })
	if s.tlsMux != nil {
		run(ListenerHTTPS, s.tlsMux.Serve)
	}
	if s.h3Srv != nil {
		run(ListenerHTTP3, func() error { return s.h3Srv.Serve(s.udp) })
	}
	if s.httpSrv != nil {
		run(ListenerHTTP, func() error { return s.httpSrv.Serve(s.httpLis) })
	}
	go func() {
		wg.Wait()
		close(s.done)
	}()
	for {
		select {
		case r := <-results:
			if r.err != nil {
				return fmt.Errorf("%s server: %w", r.name, r.err)
			}
		case <-s.done:
			return nil
		}
	}
}

// Shutdown stops accepting on every listener at once and waits until in-flight requests
// finish (HTTP/2 and HTTP/3 clients get GOAWAY) or ctx ends; then it closes what is left and
// returns ctx's error. Hijacked connections (WebSockets) are not waited for: the edge closes
// them. Shutdown before Serve just closes the listeners.
func (s *Servers) Shutdown(ctx context.Context) error {
	s.stopRotation()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	stop := func(name string, shutdown func(context.Context) error, closeNow func() error) {
		wg.Go(func() {
			if err := shutdown(ctx); err != nil {
				_ = closeNow()
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s server: %w", name, err))
				mu.Unlock()
			}
		})
	}
	if s.tlsMux != nil {
		stop(ListenerHTTPS, s.tlsMux.Shutdown, s.tlsMux.Close)
	}
	if s.h3Srv != nil {
		stop(ListenerHTTP3, s.h3Srv.Shutdown, s.h3Srv.Close)
	}
	if s.httpSrv != nil {
		stop(ListenerHTTP, s.httpSrv.Shutdown, s.httpSrv.Close)
	}
	wg.Wait()
	s.mu.Lock()
	serving := s.serving
	s.mu.Unlock()
	if serving {
		select {
		case <-s.done:
		case <-ctx.Done():
		}
	}
	s.closeListeners()
	if s.plain != nil {
		s.plain.Close()
	}
	return errors.Join(errs...)
}

// closeListeners closes the sockets; the servers have stopped using them (or never started).
func (s *Servers) closeListeners() {
	// A nil net.Listener converts to a nil io.Closer.
	for _, c := range []io.Closer{s.tlsLis, s.httpLis, s.udp} {
		if c != nil {
			_ = c.Close()
		}
	}
}
