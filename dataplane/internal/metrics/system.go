package metrics

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// heapObjects is the Go heap in use: live objects and garbage not yet swept.
const heapObjects = "/memory/classes/heap/objects:bytes"

// System is the data plane's state now, for the control plane (EventBatch.system). It is meant
// for one caller (the event sender), every few seconds.
func (e *Exporter) System(now time.Time) *proxyv1.SystemMetrics {
	s := e.src
	m := &proxyv1.SystemMetrics{
		Time:          timestamppb.New(now),
		Uptime:        durationpb.New(now.Sub(s.Start)),
		Goroutines:    int64(runtime.NumGoroutine()),
		HeapBytes:     heapBytes(),
		RequestsTotal: s.Requests.Total(),
	}
	rss, err := rssBytes()
	if err != nil && e.rssWarn.CompareAndSwap(false, true) {
		s.Log.Warn("resident memory not reported", zap.Error(err))
	}
	m.RssBytes = rss
	if s.Connections != nil {
		m.ActiveConnections = s.Connections()
	}
	if s.WebSockets != nil {
		m.WebsocketsActive = s.WebSockets()
	}
	if s.Bans != nil {
		m.BansActive = int64(s.Bans())
	}
	if s.Snapshot != nil {
		v, applied := s.Snapshot()
		m.SnapshotVersion = v
		if !applied.IsZero() {
			m.SnapshotAppliedAt = timestamppb.New(applied)
		}
	}
	if s.Queue != nil {
		m.EventsDroppedTotal = s.Queue.DroppedTotal()
		m.EventQueueLength = int64(s.Queue.Len())
		m.EventQueueCapacity = int64(s.Queue.Cap())
	}
	return m
}

func heapBytes() int64 {
	sample := []rtmetrics.Sample{{Name: heapObjects}}
	rtmetrics.Read(sample)
	if sample[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0 // not in this Go version; the metric is documented as stable
	}
	return int64(sample[0].Value.Uint64())
}

// rssBytes reads the resident set size from /proc/self/statm (its second field, in pages).
func rssBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("read resident memory: %w", err)
	}
	fields := bytes.Fields(b)
	if len(fields) < 2 {
		return 0, fmt.Errorf("read resident memory: /proc/self/statm: %q has no second field", b)
	}
	pages, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read resident memory: /proc/self/statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}
