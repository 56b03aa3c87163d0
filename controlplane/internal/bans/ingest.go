package bans

import (
	"context"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Saver commits an event batch; *store.Store is one, and ingest.Service takes one.
type Saver interface {
	SaveBatch(ctx context.Context, b *proxyv1.EventBatch) (stored bool, err error)
}

// Saver returns next with the registry told of every committed batch that reports a ban: the
// ban is in rate_limits once next returns (the store writes it in the batch's transaction), so
// the list the registry publishes next includes it. A batch stored before (a re-send) reports
// nothing new.
func (r *Registry) Saver(next Saver) Saver { return reportingSaver{next: next, r: r} }

type reportingSaver struct {
	next Saver
	r    *Registry
}

func (s reportingSaver) SaveBatch(ctx context.Context, b *proxyv1.EventBatch) (bool, error) {
	stored, err := s.next.SaveBatch(ctx, b)
	if err != nil || !stored {
		return stored, err
	}
	var keys []store.BanKey
	for _, ev := range b.GetSecurity() {
		if ev.GetKind() != proxyv1.SecurityKind_SECURITY_KIND_BANNED {
			continue
		}
		if ip, err := store.BanAddress(ev.GetClientIp()); err == nil { // the store logged the others
			keys = append(keys, store.BanKey{IP: ip, Route: ev.GetRouteId()})
		}
	}
	if len(keys) > 0 {
		s.r.Reported(keys...)
	}
	return stored, nil
}
