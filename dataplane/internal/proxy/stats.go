package proxy

import (
	"cmp"
	"slices"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Stats reports every transport held (in use or retiring), ordered by backend, and starts a
// new interval: requests and reused count the round trips since the previous call.
//
//   - backend: scheme://host:port. Routes to one backend with different timeouts or pool
//     sizes use different transports, so a backend may appear more than once.
//   - active: connections carrying a request now (HTTP/1.1: one request per connection);
//     idle: the other open connections. Requests waiting for a connection (max_conns_per_host
//     reached) count neither.
//   - requests: round trips that got a connection; reused: how many of them got one that had
//     carried a request before (kept alive), counted as requests minus first uses of new
//     connections, so a report may be off by the requests in flight at its boundary.
//   - average_connection_age: since dialing, over the open connections.
//   - max_conns: the transport's max_conns_per_host, 0 for unlimited.
func (p *Pools) Stats(now time.Time) []*proxyv1.PoolStats {
	p.mu.Lock()
	pools := make([]*pool, 0, len(p.pools))
	for _, pl := range p.pools {
		pools = append(pools, pl)
	}
	p.mu.Unlock()
	slices.SortFunc(pools, func(a, b *pool) int { return cmp.Compare(a.key.host, b.key.host) })

	ts := timestamppb.New(now)
	out := make([]*proxyv1.PoolStats, 0, len(pools))
	for _, pl := range pools {
		open, age, requests, reused := pl.stats.snapshot(now)
		active := min(max(pl.stats.inFlight.Load(), 0), open)
		out = append(out, &proxyv1.PoolStats{
			Time:                 ts,
			Backend:              pl.key.host,
			Active:               active,
			Idle:                 open - active,
			Requests:             requests,
			Reused:               reused,
			AverageConnectionAge: durationpb.New(age),
			MaxConns:             int64(pl.settings.MaxConnsPerHost),
		})
	}
	return out
}
