package backup

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/retention"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// builtin is the configuration without a global file: the built-in data_retention periods.
type builtin struct{}

func (builtin) Global() *config.Global { return nil }

// community is the traffic of the benchmark: requests stored per hour (with a day/night
// cycle), over a few hosts and paths, a share of errors and bots.
type community struct {
	r   *rand.Rand
	seq uint64
}

func (c *community) batch(end time.Time) *proxyv1.EventBatch {
	c.seq++
	b := &proxyv1.EventBatch{NodeId: "dp1", BootId: "boot", Sequence: c.seq}
	n := 20 + 40*(12-abs(end.Hour()-15))/12 // about 20 an hour at night, 60 in the afternoon
	hosts := []string{"gpanel.example.org", "forum.example.org", "wiki.example.org", "api.example.org", "cdn.example.org"}
	agents := []string{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15", "curl/8.5.0", "Googlebot/2.1"}
	for i := range n {
		status := []int32{200, 200, 200, 200, 200, 304, 301, 404, 403, 502}[c.r.IntN(10)]
		b.Requests = append(b.Requests, &proxyv1.RequestEvent{
			Time:      timestamppb.New(end.Add(-time.Hour + time.Duration(i)*time.Hour/time.Duration(n))),
			RequestId: fmt.Sprintf("%016x", c.r.Uint64()),
			Host:      hosts[c.r.IntN(len(hosts))], Method: []string{"GET", "GET", "GET", "POST"}[c.r.IntN(4)],
			Path:   fmt.Sprintf("/%s/%d", []string{"t", "u", "static", "api/v1/items"}[c.r.IntN(4)], c.r.IntN(3000)),
			Status: status, Duration: durationpb.New(time.Duration(5+c.r.IntN(400)) * time.Millisecond),
			BytesIn: int64(c.r.IntN(2000)), BytesOut: int64(c.r.IntN(60000)),
			ClientIp: fmt.Sprintf("203.0.%d.0", c.r.IntN(256)), UserAgent: agents[c.r.IntN(len(agents))],
			Backend: "http://app:8080", Protocol: "HTTP/2.0", Country: "DE",
		})
	}
	return b
}

func abs(x int) int { return max(x, -x) }

// BenchmarkFourWeeksOfSeedSchedule measures what four weeks of the seed's schedule (full Sunday
// 02:00 keep 4, differential Wednesday 02:00 keep 8, incremental hourly keep 168) keep on disk
// for a community's database of about 5 MB: request logs stored every hour through the store
// (with its roll-ups), the retention job every day at 03:00 deleting what is older than the
// built-in periods. The database is first filled with a week of traffic.
//
//	go test -run '^$' -bench FourWeeks -benchtime 1x ./internal/backup/
func BenchmarkFourWeeksOfSeedSchedule(b *testing.B) {
	for range b.N {
		dir := b.TempDir()
		ctx := context.Background()
		path := filepath.Join(dir, "proxy.db")
		clk := &clock{}
		st, err := store.Open(ctx, path, zap.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		ret, err := retention.New(zap.NewNop(), st, builtin{}, retention.Options{Now: clk.Now})
		if err != nil {
			b.Fatal(err)
		}
		traffic := &community{r: rand.New(rand.NewPCG(9, 10))}
		start := time.Date(2026, 11, 1, 1, 30, 0, 0, time.UTC) // Sunday, before the first full
		for h := time.Duration(7 * 24); h > 0; h-- {
			if _, err := st.SaveBatch(ctx, traffic.batch(start.Add(-h*time.Hour))); err != nil {
				b.Fatal(err)
			}
		}
		bs := backupSection(b, "")
		eng, _ := New(Options{DB: path, Dir: filepath.Join(dir, "b"), Key: newKey(b, dir, "key"), Now: clk.Now,
			Keep: Keep{Full: bs.Full.Keep, Differential: bs.Differential.Keep, Incremental: bs.Incremental.Keep}})
		written := map[Tier]int64{}
		var dbSize int64
		end := start.AddDate(0, 0, 28)
		b.ResetTimer()
		for at, tier := Due(bs, start); at.Before(end); at, tier = Due(bs, at) {
			clk.set(at)
			if _, err := st.SaveBatch(ctx, traffic.batch(at)); err != nil {
				b.Fatal(err)
			}
			if at.Hour() == 3 {
				if _, err := ret.RunNow(ctx, "schedule"); err != nil {
					b.Fatal(err)
				}
			}
			res, err := eng.Run(ctx, tier)
			if err != nil {
				b.Fatal(err)
			}
			written[res.Tier] += res.Size
			dbSize = max(dbSize, res.DBBytes)
		}
		b.StopTimer()
		st.Close()
		list, _ := eng.List()
		kept, files := map[Tier]int64{}, map[Tier]int{}
		var total int64
		for _, in := range list {
			kept[in.Tier] += in.Size
			files[in.Tier]++
			total += in.Size
		}
		b.ReportMetric(float64(total)/1e6, "MB_kept")
		for _, t := range Tiers {
			b.ReportMetric(float64(kept[t])/1e6, "MB_"+t.short())
			b.ReportMetric(float64(files[t]), "files_"+t.short())
		}
		b.ReportMetric(float64(dbSize)/1e6, "MB_db_max")
		b.Logf("kept %d bytes in %d files (full %d in %d, diff %d in %d, incr %d in %d); database up to %d bytes; written full %d diff %d incr %d",
			total, len(list), kept[Full], files[Full], kept[Differential], files[Differential], kept[Incremental], files[Incremental], dbSize,
			written[Full], written[Differential], written[Incremental])
	}
}
