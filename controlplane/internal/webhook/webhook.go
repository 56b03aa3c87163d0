// Package webhook delivers alerts to the webhooks of global.yaml: Discord embeds, Slack blocks
// or signed generic JSON.
//
// Send never blocks its caller: alerts wait in a bounded queue (overflow is counted and logged).
// One goroutine routes them: each goes to every webhook subscribed to its type (and, for an
// alert about a route, whose routes: list its host), unless the webhook's throttle held back
// its type; what the throttle held back is counted and reported in the next message of that
// type. Each webhook has its own goroutine and bounded queue, so a slow receiver delays only
// itself. Every delivery attempt is recorded.
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/config"
)

// Configs gives the global configuration in force, or nil before one was accepted;
// *reloader.Reloader is one. It is read for every alert, so a reload applies to the next
// alert routed, and alerts already queued are not lost.
type Configs interface {
	Global() *config.Global
}

// Recorder keeps the delivery attempts; *store.Store is one.
type Recorder interface {
	SaveWebhookDelivery(ctx context.Context, d store.WebhookDelivery) error
	WebhookDeliveries(ctx context.Context, q store.WebhookDeliveryQuery) ([]store.WebhookDelivery, error)
}

// ErrUnknownWebhook is returned by Test for a name no webhook of the configuration has.
var ErrUnknownWebhook = errors.New("no such webhook")

// Options tune the dispatcher; zero values take the defaults.
type Options struct {
	QueueSize     int           // alerts waiting to be routed; default 256
	WebhookQueue  int           // messages waiting for one webhook; default 64
	Timeout       time.Duration // of one attempt; default 10s
	Attempts      int           // per message; default 3
	Backoff       time.Duration // before the second attempt, doubled for each next one; jittered to half–all of it; default 1s
	MaxRetryAfter time.Duration // the longest 429 Retry-After waited for; longer gives up; default 60s
	Now           func() time.Time
	Client        *http.Client // default: no redirects followed
}

func (o *Options) defaults() {
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.WebhookQueue <= 0 {
		o.WebhookQueue = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		// A webhook URL that redirects is misconfigured: a POST turned GET would be lost.
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
}

// queued is an alert waiting to be routed, with when it was sent (the throttle's clock).
type queued struct {
	alert alert.Alert
	at    time.Time
}

type throttleKey struct {
	webhook string
	event   alert.Type
}

type throttleState struct {
	last       time.Time // of the last message sent
	suppressed int       // held back since
}

// Dispatcher routes, throttles and delivers alerts. Send and Test are safe for concurrent use.
type Dispatcher struct {
	log  *zap.Logger
	cfgs Configs
	rec  Recorder
	opts Options

	queue   chan queued
	dropped atomic.Uint64 // alerts and messages lost to full queues

	// Used by the router goroutine (Run) only.
	throttle map[throttleKey]*throttleState
	workers  map[string]chan message
	wg       sync.WaitGroup
}

// New returns a dispatcher; Run routes and delivers what Send queues.
func New(log *zap.Logger, cfgs Configs, rec Recorder, opts Options) *Dispatcher {
	opts.defaults()
	return &Dispatcher{log: log, cfgs: cfgs, rec: rec, opts: opts, queue: make(chan queued, opts.QueueSize),
		throttle: map[throttleKey]*throttleState{}, workers: map[string]chan message{}}
}

// Send queues a for delivery and returns at once; when the queue is full, a is dropped,
// counted and logged.
func (d *Dispatcher) Send(a alert.Alert) {
	select {
	case d.queue <- queued{alert: a, at: d.opts.Now()}:
	default:
		n := d.dropped.Add(1)
		d.log.Warn("webhook queue full; alert dropped", zap.String("event", string(a.Type)), zap.String("title", a.Title),
			zap.Int("queue", cap(d.queue)), zap.Uint64("dropped_total", n))
	}
}

// Dropped returns how many alerts and messages full queues have lost.
func (d *Dispatcher) Dropped() uint64 { return d.dropped.Load() }

// Run routes queued alerts until ctx ends, then waits for the deliveries in progress to stop.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.wg.Wait()
	for {
		select {
		case q := <-d.queue:
			d.route(ctx, q)
		case <-ctx.Done():
			if n := len(d.queue); n > 0 {
				d.log.Warn("stopping with alerts not routed", zap.Int("alerts", n))
			}
			return nil
		}
	}
}

// route hands a to every webhook that takes it and whose throttle lets it through.
func (d *Dispatcher) route(ctx context.Context, q queued) {
	a := q.alert
	if a.Time.IsZero() {
		a.Time = q.at
	}
	g := d.cfgs.Global()
	if g == nil {
		// The webhooks are in the configuration: none accepted yet, nowhere to send.
		d.log.Warn("alert not sent: no configuration accepted yet", zap.String("event", string(a.Type)), zap.String("title", a.Title))
		return
	}
	hooks := g.Webhooks
	for _, w := range hooks {
		if !subscribed(w, a) {
			continue
		}
		m, ok := d.admit(w, a, q.at)
		if !ok {
			continue
		}
		ch := d.workers[w.Name]
		if ch == nil {
			ch = make(chan message, d.opts.WebhookQueue)
			d.workers[w.Name] = ch
			d.wg.Add(1)
			go d.work(ctx, w.Name, ch)
		}
		select {
		case ch <- m:
		default:
			n := d.dropped.Add(1)
			d.log.Warn("webhook busy; message dropped", zap.String("webhook", w.Name), zap.String("event", string(a.Type)),
				zap.Int("waiting", cap(ch)), zap.Uint64("dropped_total", n))
		}
	}
	d.retire(hooks)
}

// subscribed reports whether w takes a: its type is one of w's events and, when a is about a
// route and w lists routes, the route's host is one of them.
func subscribed(w config.Webhook, a alert.Alert) bool {
	if !slices.Contains(w.Events, string(a.Type)) {
		return false
	}
	if a.Host == "" || len(w.Routes) == 0 {
		return true
	}
	host := strings.ToLower(strings.TrimSuffix(a.Host, "."))
	for _, p := range w.Routes {
		if p == host || (strings.HasPrefix(p, "*.") && strings.HasSuffix(host, p[1:]) && len(host) > len(p)-1) {
			return true
		}
	}
	return false
}

// admit applies w's throttle to a at time at: the first alert of its type in a throttle period
// becomes a message carrying the count of those held back since the previous one.
func (d *Dispatcher) admit(w config.Webhook, a alert.Alert, at time.Time) (message, bool) {
	k := throttleKey{w.Name, a.Type}
	st := d.throttle[k]
	if st == nil {
		st = &throttleState{}
		d.throttle[k] = st
	}
	if w.Throttle > 0 && !st.last.IsZero() && at.Sub(st.last) < w.Throttle {
		st.suppressed++
		return message{}, false
	}
	m := message{id: newID(), hook: w, alert: a, suppressed: st.suppressed}
	if st.suppressed > 0 {
		m.since = at.Sub(st.last)
	}
	st.last, st.suppressed = at, 0
	return m, true
}

// retire stops the workers, and forgets the throttles, of webhooks no longer configured; a
// retired worker delivers what it holds first.
func (d *Dispatcher) retire(hooks []config.Webhook) {
	live := func(name string) bool {
		return slices.ContainsFunc(hooks, func(w config.Webhook) bool { return w.Name == name })
	}
	for name, ch := range d.workers {
		if !live(name) {
			close(ch)
			delete(d.workers, name)
		}
	}
	for k := range d.throttle {
		if !live(k.webhook) {
			delete(d.throttle, k)
		}
	}
}

// work delivers one webhook's messages in order until its queue is closed or ctx ends.
func (d *Dispatcher) work(ctx context.Context, name string, ch <-chan message) {
	defer d.wg.Done()
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				return
			}
			d.deliver(ctx, m)
		case <-ctx.Done():
			if n := len(ch); n > 0 {
				d.log.Warn("stopping with messages not delivered", zap.String("webhook", name), zap.Int("messages", n))
			}
			return
		}
	}
}

// Test sends a test alert to the webhook named name at once, whatever its events, routes and
// throttle, and returns how its delivery went.
func (d *Dispatcher) Test(ctx context.Context, name string) (Result, error) {
	var hook *config.Webhook
	if g := d.cfgs.Global(); g != nil {
		for i := range g.Webhooks {
			if g.Webhooks[i].Name == name {
				hook = &g.Webhooks[i]
			}
		}
	}
	if hook == nil {
		return Result{}, fmt.Errorf("%w: %q", ErrUnknownWebhook, name)
	}
	a := alert.Alert{Type: alert.Test, Severity: alert.Info, Title: "Test alert from proxy-manager",
		Description: fmt.Sprintf("The webhook %q works: alerts of its events will arrive here.", name),
		Fields: []alert.Field{{Name: "Webhook", Value: name, Inline: true}, {Name: "Format", Value: hook.Format, Inline: true},
			{Name: "Events", Value: strings.Join(hook.Events, ", ")}},
		Time: d.opts.Now()}
	return d.deliver(ctx, message{id: newID(), hook: *hook, alert: a}), nil
}

// Deliveries returns the recorded delivery attempts q selects, newest first.
func (d *Dispatcher) Deliveries(ctx context.Context, q store.WebhookDeliveryQuery) ([]store.WebhookDelivery, error) {
	return d.rec.WebhookDeliveries(ctx, q)
}

// newID is a message's random id: 16 bytes in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
