package bans_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/bans"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// countingPublisher counts the lists published and the bytes they take on the wire.
type countingPublisher struct{ lists, bytes int }

func (p *countingPublisher) PublishBans(l *proxyv1.BanList) {
	p.lists++
	p.bytes = proto.Size(&proxyv1.StreamSnapshotsResponse{Bans: l})
}

// BenchmarkLiftWithActiveBans is the cost of one change of a large list: the lift itself, the
// re-read of every active ban from SQLite and the new list. A flood of reported bans costs one
// such re-read per coalescing period. Run it with -benchtime 20x: each iteration lifts another ban.
func BenchmarkLiftWithActiveBans(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			st, err := store.Open(ctx, filepath.Join(b.TempDir(), "proxy.db"), zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			now := time.Now()
			ip := netip.MustParseAddr("10.0.0.0")
			for seq := 1; seq <= n/1000; seq++ {
				batch := &proxyv1.EventBatch{NodeId: "n", BootId: "b", Sequence: uint64(seq)}
				for range 1000 {
					ip = ip.Next()
					batch.Security = append(batch.Security, &proxyv1.SecurityEvent{Time: timestamppb.New(now),
						Kind: proxyv1.SecurityKind_SECURITY_KIND_BANNED, RouteId: "vault", ClientIp: ip.String(),
						BanUntil: timestamppb.New(now.Add(time.Hour)), Reason: "rate limit on /auth/*: 3 violations"})
				}
				if _, err := st.SaveBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			pub := &countingPublisher{}
			reg, err := bans.New(ctx, zap.NewNop(), st, pub, bans.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			if b.N > n {
				b.Fatalf("run at most %d iterations (-benchtime %dx): each lifts another ban", n, n)
			}
			lift := netip.MustParseAddr("10.0.0.0")
			for range b.N {
				// Lift another ban each time, so every iteration publishes a new list.
				lift = lift.Next()
				if lifted, err := reg.Lift(ctx, lift.String(), "", "bench", ""); err != nil || lifted != 1 {
					b.Fatalf("Lift(%s) = %d, %v", lift, lifted, err)
				}
			}
			if pub.lists != b.N+1 {
				b.Fatalf("%d lists published for %d lifts", pub.lists, b.N)
			}
			b.ReportMetric(float64(pub.bytes), "list_bytes")
		})
	}
}
