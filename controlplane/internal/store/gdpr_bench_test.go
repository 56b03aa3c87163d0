package store

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkEraseWithEventStream erases the 5,000 rows of one address from a request log of
// 50,000 while a data plane keeps storing batches of 100 events, and reports the longest a batch
// waited (max-batch-ms): what an erasure costs the event stream.
func BenchmarkEraseWithEventStream(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "proxy.db"), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	var seq atomic.Uint64
	fill := func(n int, subject bool) {
		batch := testBatch("n1", "b1", 0, n, "panel")
		for _, ev := range batch.Requests {
			if subject {
				ev.ClientIp = subjectIP
			}
		}
		batch.Sequence = seq.Add(1)
		if _, err := s.SaveBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	for range 50 {
		fill(1000, false) // the others
	}

	var maxWait atomic.Int64
	for b.Loop() {
		b.StopTimer()
		for range 5 {
			fill(1000, true) // the subject's
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				batch := testBatch("n2", "b2", seq.Add(1), 100, "panel")
				start := time.Now()
				if _, err := s.SaveBatch(ctx, batch); err != nil {
					b.Error(err)
					return
				}
				if d := time.Since(start).Nanoseconds(); d > maxWait.Load() {
					maxWait.Store(d)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
		b.StartTimer()
		er, err := s.Erase(ctx, Subject{IP: subjectIP}, "admin", "bench", "")
		b.StopTimer()
		close(stop)
		wg.Wait()
		if err != nil || er.Deleted["request_logs"] != 5000 {
			b.Fatalf("Erase = %+v, %v", er, err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(maxWait.Load())/1e6, "max-batch-ms")
}
