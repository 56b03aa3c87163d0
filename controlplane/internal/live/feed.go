package live

import (
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// ErrorSink receives the failed requests of a batch (a 5xx, or an error set); *errorlog.Log is one.
type ErrorSink interface {
	WriteErrors(entries []store.LogEntry) error
}

// Feed is told about every event batch the control plane stored (an ingest.Observer): it adds
// the batch's requests to the ring and writes its failed ones to the error sink.
type Feed struct {
	log  *zap.Logger
	ring *Ring
	errs ErrorSink // nil: no error log
	now  func() time.Time
}

// NewFeed returns a feed into ring and errs (which may be nil).
func NewFeed(log *zap.Logger, ring *Ring, errs ErrorSink) *Feed {
	return &Feed{log: log, ring: ring, errs: errs, now: time.Now}
}

// ObserveBatch takes the requests of a batch that was stored now; a batch stored before (a
// re-send) or not stored at all is ignored, so every request enters the ring once.
func (f *Feed) ObserveBatch(b *proxyv1.EventBatch, stored bool, _ time.Duration, err error) {
	if !stored || err != nil || len(b.GetRequests()) == 0 {
		return
	}
	now := f.now().UTC()
	entries := make([]store.LogEntry, 0, len(b.GetRequests()))
	var failed []store.LogEntry
	for _, ev := range b.GetRequests() {
		e := Entry(b.GetNodeId(), ev)
		if e.Time.IsZero() { // the store stamps it with the time it was received, too
			e.Time = now
		}
		entries = append(entries, e)
		if e.IsError() {
			failed = append(failed, e)
		}
	}
	f.ring.Add(entries...)
	if len(failed) > 0 && f.errs != nil {
		if err := f.errs.WriteErrors(failed); err != nil {
			// The rows are in the database; only the file copy is missing.
			f.log.Error("write error log", zap.String("node", b.GetNodeId()), zap.Int("errors", len(failed)),
				zap.String("first_request_id", failed[0].RequestID), zap.Error(err))
		}
	}
}
