// Package cpclient is the data plane's side of the contract with the control plane: it receives
// snapshots (and answers each with an Ack or a Nack), ban lists and health lists (never
// answered: each replaces the previous one, and the control plane sends the whole list again
// after every reconnect), and ships event batches (keeping each until it is acknowledged), with
// the data plane's system metrics every few seconds. Both streams reconnect with jittered
// backoff for as long as the process runs; meanwhile the data plane keeps serving its last
// snapshot (static stability).
package cpclient

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/pkg/grpcauth"
)

// MaxMessageBytes raises gRPC's 4 MiB default: snapshots carry certificates and ban lists.
const MaxMessageBytes = 64 << 20

// Dial returns a lazily connecting client for the control plane at addr.
func Dial(addr, token string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(grpcauth.NewCredentials(token)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		// Notice a control plane that vanished without closing its connections (host crash, partition).
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 200 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("control plane client for %s: %w", addr, err)
	}
	return conn, nil
}

// Applier makes a snapshot live. An error means the snapshot was not applied and the previous one
// still serves; the error text becomes the Nack reason.
type Applier interface {
	Apply(s *proxyv1.Snapshot) error
}

// BanSetter enforces the bans of every data plane; the ban set of the edge is one. Each BanList
// replaces the previous one entirely (bans added by any data plane, lifted or expired).
type BanSetter interface {
	SetBans(l *proxyv1.BanList)
}

// Queue is the bounded buffer the request path pushes events into; *events.Queue is one.
// Len counts events of both kinds.
type Queue interface {
	Take(max int) []*proxyv1.RequestEvent
	TakeWebSockets(max int) []*proxyv1.WebSocketEvent
	TakeCircuits(max int) []*proxyv1.CircuitEvent
	TakeSecurity(max int) []*proxyv1.SecurityEvent
	TakeDropped() uint64
	Len() int
}

// Options configure a Client. Zero values take the defaults.
type Options struct {
	NodeID        string
	BinaryVersion string
	BatchSize     int           // request events per batch (and WebSocket events), default 100
	FlushEvery    time.Duration // send a partial batch after this long, default 1s
	Window        int           // unacknowledged batches at most, default 8
	// PoolStats, if set, is called every StatsEvery (default 30 s) and its result travels in the
	// next batch.
	PoolStats  func(now time.Time) []*proxyv1.PoolStats
	StatsEvery time.Duration
	// Bans, if set, is handed every ban list the control plane sends; nil ignores them.
	Bans BanSetter
	// Health, if set, is handed every health list the control plane sends; nil ignores them.
	Health HealthSetter
	// Maintenance, if set, is handed every maintenance list the control plane sends.
	Maintenance MaintenanceSetter
	// System, if set, is called every SystemEvery (default 5 s) and its result travels in the
	// next batch, which is sent even when there is no event to go with it.
	System      func(now time.Time) *proxyv1.SystemMetrics
	SystemEvery time.Duration
}

// MaintenanceSetter takes the routes in maintenance; each list replaces the previous one
// entirely. *maintenance.Holder is one.
type MaintenanceSetter interface {
	SetMaintenance(l *proxyv1.MaintenanceList)
}

// HealthSetter takes the control plane's health-check state of the routes' backends; each
// HealthList replaces the previous one entirely. *health.Holder is one.
type HealthSetter interface {
	SetHealth(l *proxyv1.HealthList)
}

// Client talks to one control plane. Run both RunSnapshots and RunEvents.
type Client struct {
	log     *zap.Logger
	conn    grpc.ClientConnInterface
	opts    Options
	bootID  string
	applier Applier
	queue   Queue
	version atomic.Uint64 // the snapshot version being served
	events  *outbox
	// lastStats and lastSystem are when pool statistics and the system metrics were last
	// taken; only the event sender touches them.
	lastStats, lastSystem time.Time
}

// New returns a client; conn comes from Dial.
func New(log *zap.Logger, conn grpc.ClientConnInterface, applier Applier, queue Queue, opts Options) *Client {
	if opts.BatchSize <= 0 {
		// A browser's request event marshals to about 300 bytes, so 100 stay around gRPC's
		// 32 KiB send-buffer tier; 500 took (and kept pooled) 1 MiB buffers, 2 MB of the
		// data plane's heap under load.
		opts.BatchSize = 100
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = time.Second
	}
	if opts.Window <= 0 {
		opts.Window = 8
	}
	if opts.StatsEvery <= 0 {
		opts.StatsEvery = 30 * time.Second
	}
	if opts.SystemEvery <= 0 {
		opts.SystemEvery = 5 * time.Second
	}
	var b [8]byte
	_, _ = crand.Read(b[:]) // never fails on supported platforms
	boot := hex.EncodeToString(b[:])
	return &Client{
		log: log.With(zap.String("boot_id", boot)), conn: conn, opts: opts,
		bootID: boot, applier: applier, queue: queue, events: newOutbox(),
	}
}

// Version returns the snapshot version being served, 0 before the first.
func (c *Client) Version() uint64 { return c.version.Load() }

// retry runs one stream attempt after another until ctx ends, sleeping with jittered exponential
// backoff between attempts. An attempt that lived long enough resets the backoff.
func (c *Client) retry(ctx context.Context, what string, attempt func(context.Context) error) {
	const base, max = 200 * time.Millisecond, 5 * time.Second
	delay := base
	for {
		start := time.Now()
		err := attempt(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			delay = base
		}
		sleep := delay/2 + rand.N(delay) // full jitter around delay: [0.5, 1.5) x
		c.log.Warn(what+" stream to the control plane ended; reconnecting", zap.Error(err), zap.Duration("retry_in", sleep))
		select {
		case <-ctx.Done():
			return
		case <-time.After(sleep):
		}
		delay = min(delay*2, max)
	}
}
