package bans_test

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/admin"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/bans"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/ingest"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// propagation is the bound: a ban or a lift reaches every data plane within 2 s.
const propagation = 2 * time.Second

// controlPlane is the control plane's ban path, wired as cmd/controlplane wires it: a real store
// on a file, the fleet's snapshot stream, the event service and the admin service on loopback.
type controlPlane struct {
	t     *testing.T
	st    *store.Store
	reg   *bans.Registry
	addr  string
	admin proxyv1.AdminServiceClient

	stopOnce sync.Once
	stopFn   func()
}

func startCP(t *testing.T, dbPath string, opts bans.Options) *controlPlane {
	t.Helper()
	log := zaptest.NewLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, dbPath, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SyncRoutes(ctx, []*proxyv1.Route{{Id: "vault", Hosts: []string{"vault.test"}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	fl := fleet.New(log)
	fl.Publish(&proxyv1.Snapshot{Version: 1})
	reg, err := bans.New(ctx, log, st, fl, opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.WaitForHandlers(true)) // no handler logs after its test ended
	proxyv1.RegisterSnapshotServiceServer(srv, fl.Service())
	proxyv1.RegisterEventServiceServer(srv, ingest.New(log, reg.Saver(st), fl))
	proxyv1.RegisterAdminServiceServer(srv, admin.New(fl, nil, reg))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.Serve(lis) }()
	go func() {
		defer wg.Done()
		if err := reg.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	cp := &controlPlane{t: t, st: st, reg: reg, addr: lis.Addr().String(), admin: proxyv1.NewAdminServiceClient(conn)}
	cp.stopFn = func() {
		conn.Close()
		srv.Stop()
		cancel()
		wg.Wait()
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	}
	t.Cleanup(cp.stop)
	return cp
}

func (cp *controlPlane) stop() { cp.stopOnce.Do(cp.stopFn) }

// dataplane speaks the data plane's side of both streams, as cpclient does: Hello, an Ack for
// every snapshot, nothing for a ban list; event batches acknowledged after commit.
type dataplane struct {
	t      *testing.T
	node   string
	lists  chan *proxyv1.BanList
	events grpc.BidiStreamingClient[proxyv1.StreamEventsRequest, proxyv1.StreamEventsResponse]
	seq    uint64
	last   *proxyv1.BanList
}

func connectDP(t *testing.T, addr, node string, holds uint64) *dataplane {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	snaps, err := proxyv1.NewSnapshotServiceClient(conn).StreamSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := snaps.Send(&proxyv1.StreamSnapshotsRequest{Kind: &proxyv1.StreamSnapshotsRequest_Hello{Hello: &proxyv1.Hello{NodeId: node, CurrentVersion: holds}}}); err != nil {
		t.Fatal(err)
	}
	events, err := proxyv1.NewEventServiceClient(conn).StreamEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := &dataplane{t: t, node: node, lists: make(chan *proxyv1.BanList, 1000), events: events}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := snaps.Recv()
			if err != nil {
				return
			}
			if l := r.GetBans(); l != nil {
				d.lists <- l
				continue
			}
			ack := &proxyv1.StreamSnapshotsRequest{Kind: &proxyv1.StreamSnapshotsRequest_Ack{Ack: &proxyv1.Ack{Version: r.GetSnapshot().GetVersion()}}}
			if snaps.Send(ack) != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; conn.Close() })
	return d
}

// report sends one event batch and waits for its ack.
func (d *dataplane) report(evs ...*proxyv1.SecurityEvent) {
	d.t.Helper()
	d.seq++
	d.resend(d.seq, evs...)
}

func (d *dataplane) resend(seq uint64, evs ...*proxyv1.SecurityEvent) {
	d.t.Helper()
	b := &proxyv1.EventBatch{NodeId: d.node, BootId: "boot-" + d.node, Sequence: seq, Security: evs}
	if err := d.events.Send(&proxyv1.StreamEventsRequest{Batch: b}); err != nil {
		d.t.Fatal(err)
	}
	if r, err := d.events.Recv(); err != nil || r.GetAck().GetSequence() != seq {
		d.t.Fatalf("ack of batch %d: %v, %v", seq, r, err)
	}
}

// await reads ban lists until one satisfies ok, failing after within.
func (d *dataplane) await(within time.Duration, what string, ok func(*proxyv1.BanList) bool) *proxyv1.BanList {
	d.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l := <-d.lists:
			if d.last != nil && l.GetVersion() <= d.last.GetVersion() {
				d.t.Fatalf("%s: ban list version %d after %d; versions must grow", d.node, l.GetVersion(), d.last.GetVersion())
			}
			d.last = l
			if ok(l) {
				return l
			}
		case <-deadline:
			d.t.Fatalf("%s: no ban list with %s within %v (last: %v)", d.node, what, within, d.last)
			return nil
		}
	}
}

// quiet fails if a ban list arrives within d.
func (d *dataplane) quiet(within time.Duration) {
	d.t.Helper()
	select {
	case l := <-d.lists:
		d.t.Fatalf("%s: unexpected ban list %v", d.node, l)
	case <-time.After(within):
	}
}

func banned(ip, route string, until time.Time) *proxyv1.SecurityEvent {
	return &proxyv1.SecurityEvent{Time: timestamppb.Now(), Kind: proxyv1.SecurityKind_SECURITY_KIND_BANNED, RouteId: route,
		ClientIp: ip, Path: "/login", Action: "banned", Count: 5, BanUntil: timestamppb.New(until), Reason: "5 failed logins"}
}

func has(ip string) func(*proxyv1.BanList) bool {
	return func(l *proxyv1.BanList) bool {
		for _, b := range l.GetBans() {
			if b.GetClientIp() == ip {
				return true
			}
		}
		return false
	}
}

func not(f func(*proxyv1.BanList) bool) func(*proxyv1.BanList) bool {
	return func(l *proxyv1.BanList) bool { return !f(l) }
}

func empty(l *proxyv1.BanList) bool { return len(l.GetBans()) == 0 }

func TestBanDecidedOnOneDataplaneReachesTheOther(t *testing.T) {
	cp := startCP(t, filepath.Join(t.TempDir(), "proxy.db"), bans.Options{})
	a := connectDP(t, cp.addr, "dp-a", 0)
	b := connectDP(t, cp.addr, "dp-b", 0)
	a.await(propagation, "the initial empty list", empty)
	b.await(propagation, "the initial empty list", empty)

	start := time.Now()
	a.report(banned("203.0.113.7", "vault", time.Now().Add(time.Hour)))
	l := b.await(propagation, "the ban", has("203.0.113.7"))
	t.Logf("ban reached the other data plane %v after its report was acknowledged", time.Since(start))
	if len(l.GetBans()) != 1 || l.GetBans()[0].GetRouteId() != "vault" || l.GetBans()[0].GetReason() != "5 failed logins" {
		t.Fatalf("list = %v", l)
	}
	a.await(propagation, "the ban", has("203.0.113.7"))

	ctx := context.Background()
	listed, err := cp.admin.ListBans(ctx, &proxyv1.ListBansRequest{})
	if err != nil || len(listed.GetBans()) != 1 || listed.GetBans()[0].GetClientIp() != "203.0.113.7" {
		t.Fatalf("ListBans = %v, %v", listed, err)
	}
	if _, err := cp.admin.LiftBan(ctx, &proxyv1.LiftBanRequest{ClientIp: "203.0.113.x"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("LiftBan of a bad address: %v, want InvalidArgument", err)
	}

	start = time.Now()
	lifted, err := cp.admin.LiftBan(ctx, &proxyv1.LiftBanRequest{ClientIp: "203.0.113.7"})
	if err != nil || lifted.GetLifted() != 1 {
		t.Fatalf("LiftBan = %v, %v", lifted, err)
	}
	a.await(propagation, "the ban lifted", empty)
	b.await(propagation, "the ban lifted", empty)
	t.Logf("lift reached both data planes %v after LiftBan was called", time.Since(start))
	if listed, err := cp.admin.ListBans(ctx, &proxyv1.ListBansRequest{}); err != nil || len(listed.GetBans()) != 0 {
		t.Fatalf("ListBans after the lift = %v, %v", listed, err)
	}
	entries, err := cp.st.AuditEntries(ctx, 10, "ban_lifted")
	if err != nil || len(entries) != 1 || entries[0].Source != "grpc" || entries[0].ResourceID != "203.0.113.7" {
		t.Fatalf("audit log = %+v, %v", entries, err)
	}
	if again, err := cp.admin.LiftBan(ctx, &proxyv1.LiftBanRequest{ClientIp: "203.0.113.7"}); err != nil || again.GetLifted() != 0 {
		t.Fatalf("second LiftBan = %v, %v; want nothing lifted", again, err)
	}
}

func TestBanSurvivesRestartsOfBothSides(t *testing.T) {
	db := filepath.Join(t.TempDir(), "proxy.db")
	cp := startCP(t, db, bans.Options{})
	a := connectDP(t, cp.addr, "dp-a", 0)
	a.await(propagation, "the initial list", empty)
	a.report(banned("2001:db8::7", "", time.Now().Add(time.Hour)))
	before := a.await(propagation, "the ban", has("2001:db8::7"))
	cp.stop()

	cp2 := startCP(t, db, bans.Options{})
	// Both data planes restart too: one holding the snapshot (no snapshot is sent, the bans are),
	// one holding nothing.
	for _, d := range []*dataplane{connectDP(t, cp2.addr, "dp-a", 1), connectDP(t, cp2.addr, "dp-b", 0)} {
		l := d.await(propagation, "the ban from before the restart", has("2001:db8::7"))
		if l.GetVersion() <= before.GetVersion() {
			t.Fatalf("after the restart the list has version %d, before it %d: versions must keep growing", l.GetVersion(), before.GetVersion())
		}
		if b := l.GetBans()[0]; b.GetRouteId() != "" || !b.GetExpiresAt().AsTime().Equal(before.GetBans()[0].GetExpiresAt().AsTime()) {
			t.Fatalf("ban after the restart = %v, before %v", b, before.GetBans()[0])
		}
	}
}

func TestExpiredBanLeavesTheList(t *testing.T) {
	cp := startCP(t, filepath.Join(t.TempDir(), "proxy.db"), bans.Options{})
	a := connectDP(t, cp.addr, "dp-a", 0)
	a.await(propagation, "the initial list", empty)
	// Ban ends are stored in whole seconds: this one ends within 1-2 s.
	until := time.Now().Add(2 * time.Second).Truncate(time.Second)
	a.report(banned("203.0.113.7", "vault", until), banned("203.0.113.8", "vault", time.Now().Add(time.Hour)))
	a.await(propagation, "both bans", func(l *proxyv1.BanList) bool { return len(l.GetBans()) == 2 })
	l := a.await(time.Until(until)+propagation, "the first ban expired", not(has("203.0.113.7")))
	if time.Now().Before(until) || !has("203.0.113.8")(l) {
		t.Fatalf("list %v at %v; want only the second ban, after %v", l, time.Now(), until)
	}
	if got := cp.reg.List(); len(got) != 1 {
		t.Fatalf("List after the expiry = %v", got)
	}
}

func TestDuplicateReportsMakeOneBan(t *testing.T) {
	cp := startCP(t, filepath.Join(t.TempDir(), "proxy.db"), bans.Options{})
	a := connectDP(t, cp.addr, "dp-a", 0)
	b := connectDP(t, cp.addr, "dp-b", 0)
	a.await(propagation, "the initial list", empty)
	b.await(propagation, "the initial list", empty)

	first, later := time.Now().Add(time.Hour).Truncate(time.Second), time.Now().Add(2*time.Hour).Truncate(time.Second)
	a.report(banned("203.0.113.7", "vault", first))
	a.await(propagation, "the ban", has("203.0.113.7"))
	b.report(banned("203.0.113.7", "vault", later)) // the other data plane saw the same client
	l := a.await(propagation, "the later expiry", func(l *proxyv1.BanList) bool {
		return len(l.GetBans()) == 1 && l.GetBans()[0].GetExpiresAt().AsTime().Equal(later)
	})
	if len(l.GetBans()) != 1 {
		t.Fatalf("list = %v, want one ban", l)
	}

	// A re-sent batch (the data plane missed the ack) and a report that changes nothing publish
	// nothing new.
	a.resend(1, banned("203.0.113.7", "vault", first))
	a.report(banned("203.0.113.7", "vault", first))
	a.quiet(500 * time.Millisecond)
}

func TestBurstOfBansIsCoalesced(t *testing.T) {
	cp := startCP(t, filepath.Join(t.TempDir(), "proxy.db"), bans.Options{Coalesce: 100 * time.Millisecond})
	a := connectDP(t, cp.addr, "dp-a", 0)
	a.await(propagation, "the initial list", empty)
	const n = 300
	start := time.Now()
	for i := range n {
		ip := net.IPv4(198, 51, byte(100+i/256), byte(i%256)).String()
		a.report(banned(ip, "vault", time.Now().Add(time.Hour)))
	}
	elapsed := time.Since(start)
	lists := 0
	a.await(propagation, "every ban", func(l *proxyv1.BanList) bool { lists++; return len(l.GetBans()) == n })
	// One list per coalescing period at most, plus one for the tail of the burst.
	if limit := int(elapsed/(100*time.Millisecond)) + 2; lists > limit {
		t.Fatalf("%d bans reported over %v made %d lists; want at most %d", n, elapsed, lists, limit)
	}
	t.Logf("%d bans in %d batches over %v: %d lists", n, n, elapsed, lists)
}

func TestListIsBoundedKeepingBansThatEndLast(t *testing.T) {
	cp := startCP(t, filepath.Join(t.TempDir(), "proxy.db"), bans.Options{MaxBans: 2})
	a := connectDP(t, cp.addr, "dp-a", 0)
	a.await(propagation, "the initial list", empty)
	now := time.Now()
	a.report(banned("203.0.113.1", "vault", now.Add(time.Hour)), banned("203.0.113.2", "vault", now.Add(2*time.Hour)))
	a.await(propagation, "two bans", func(l *proxyv1.BanList) bool { return len(l.GetBans()) == 2 })
	a.report(banned("203.0.113.3", "vault", now.Add(3*time.Hour)))
	l := a.await(propagation, "the ban ending last", has("203.0.113.3"))
	if len(l.GetBans()) != 2 || has("203.0.113.1")(l) {
		t.Fatalf("list %v; want the two bans ending last", l)
	}
	// A lift makes room: the ban left out comes back.
	if n, err := cp.reg.Lift(context.Background(), "203.0.113.3", "", "test", ""); err != nil || n != 1 {
		t.Fatalf("Lift = %d, %v", n, err)
	}
	a.await(propagation, "the ban left out", has("203.0.113.1"))
	if got := cp.reg.List(); len(got) != 2 || got[0].GetClientIp() != "203.0.113.2" || got[1].GetClientIp() != "203.0.113.1" {
		t.Fatalf("List = %v; want 203.0.113.2 then 203.0.113.1, those ending last first", got)
	}
}
