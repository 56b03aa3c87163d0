package snapshot

import (
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/pkg/ipmask"
)

// policy converts an effective policy. A section that is not configured stays nil; a zero
// duration (not set, or "no limit") is left out.
func policy(p config.Policy) *proxyv1.Policy {
	out := &proxyv1.Policy{}
	if t := p.Timeouts; t != nil {
		out.Timeouts = &proxyv1.Timeouts{Connect: dur(t.Connect), Read: dur(t.Read), Write: dur(t.Write), Idle: dur(t.Idle)}
	}
	if l := p.Limits; l != nil {
		out.Limits = &proxyv1.Limits{
			MaxRequestBody:    int64(l.MaxRequestBody),
			MaxRequestHeaders: int64(l.MaxRequestHeaders),
			MaxResponseBody:   int64(l.MaxResponseBody),
		}
	}
	if h := p.Headers; h != nil {
		out.Headers = &proxyv1.Headers{Preset: h.Preset, Request: headerOps(h.Request), Response: headerOps(h.Response)}
	}
	if r := p.RateLimit; r != nil {
		out.RateLimit = rateLimit(r)
	}
	if w := p.WAF; w != nil {
		out.Waf = &proxyv1.Waf{
			Enabled: w.Enabled,
			Mode:    w.Mode,
			Rules: &proxyv1.WafRules{
				SqlInjection:      w.Rules.SQLInjection,
				Xss:               w.Rules.XSS,
				PathTraversal:     w.Rules.PathTraversal,
				SuspiciousHeaders: w.Rules.SuspiciousHeaders,
				CommandInjection:  w.Rules.CommandInjection,
			},
			MaxRequestSize: int64(w.MaxRequestSize),
			MaxHeaderSize:  int64(w.MaxHeaderSize),
		}
		for _, e := range w.Exclusions {
			out.Waf.Exclusions = append(out.Waf.Exclusions, &proxyv1.WafExclusion{
				Path: e.Path, Params: slices.Clone(e.Params), Rules: slices.Clone(e.Rules)})
		}
	}
	if l := p.Logging; l != nil {
		out.Logging = &proxyv1.Logging{
			StripHeaders: slices.Clone(l.StripHeaders),
			MaskPii:      l.MaskPII,
			MaskIpMethod: maskIPMethod(l),
		}
		for _, r := range l.RedactPaths {
			out.Logging.RedactPaths = append(out.Logging.RedactPaths, &proxyv1.RedactPath{Pattern: r.Pattern, Replacement: r.Replacement})
		}
	}
	if d := p.DataRetention; d != nil {
		out.DataRetention = &proxyv1.DataRetention{
			AccessLogs:   dur(d.AccessLogs),
			ErrorLogs:    dur(d.ErrorLogs),
			SecurityLogs: dur(d.SecurityLogs),
			AuditLogs:    dur(d.AuditLogs),
			Metrics:      dur(d.Metrics),
		}
	}
	if h := p.HealthCheck; h != nil {
		out.HealthCheck = &proxyv1.HealthCheck{
			Enabled:        h.Enabled,
			Interval:       dur(h.Interval),
			Timeout:        dur(h.Timeout),
			Path:           h.Path,
			ExpectedStatus: int32(h.ExpectedStatus),
		}
	}
	if w := p.WebSocket; w != nil {
		out.Websocket = &proxyv1.WebSocket{
			Enabled:        w.Enabled,
			MaxConnections: w.MaxConnections,
			MaxDuration:    dur(w.MaxDuration),
			IdleTimeout:    dur(w.IdleTimeout),
			PingInterval:   dur(w.PingInterval),
		}
	}
	if c := p.Compression; c != nil {
		out.Compression = &proxyv1.Compression{
			Enabled:      c.Enabled,
			Algorithms:   slices.Clone(c.Algorithms),
			Level:        int32(c.Level),
			MinSize:      int64(c.MinSize),
			ContentTypes: slices.Clone(c.ContentTypes),
		}
	}
	if c := p.ConnectionPool; c != nil {
		out.ConnectionPool = &proxyv1.ConnectionPool{
			MaxIdleConns:        c.MaxIdleConns,
			MaxIdleConnsPerHost: c.MaxIdleConnsPerHost,
			MaxConnsPerHost:     c.MaxConnsPerHost,
			IdleTimeout:         dur(c.IdleTimeout),
		}
	}
	if c := p.CircuitBreaker; c != nil {
		out.CircuitBreaker = &proxyv1.CircuitBreaker{
			Enabled:          c.Enabled,
			FailureThreshold: c.FailureThreshold,
			SuccessThreshold: c.SuccessThreshold,
			Timeout:          dur(c.Timeout),
			Window:           dur(c.Window),
		}
	}
	if g := p.GeoIP; g != nil {
		out.Geoip = &proxyv1.GeoIP{
			Enabled:               g.Enabled,
			AllowedCountries:      slices.Clone(g.AllowedCountries),
			AlertOnUnusualCountry: g.AlertOnUnusualCountry,
			BlockedCountries:      slices.Clone(g.BlockedCountries),
			LoginPaths:            slices.Clone(g.LoginPaths),
		}
	}
	if s := p.SlowRequest; s != nil {
		out.SlowRequest = &proxyv1.SlowRequest{
			Enabled:      s.Enabled,
			Warning:      dur(s.Thresholds.Warning),
			Critical:     dur(s.Thresholds.Critical),
			Timeout:      dur(s.Thresholds.Timeout),
			AlertWebhook: s.AlertWebhook,
		}
	}
	if r := p.Retry; r != nil {
		out.Retry = &proxyv1.Retry{
			Enabled:      r.Enabled,
			MaxAttempts:  r.MaxAttempts,
			Backoff:      r.Backoff,
			InitialDelay: dur(r.InitialDelay),
			MaxDelay:     dur(r.MaxDelay),
			RetryOn:      slices.Clone(r.RetryOn),
		}
	}
	return out
}

func headerOps(h config.HeaderOps) *proxyv1.HeaderOps {
	if len(h.Add) == 0 && len(h.Remove) == 0 {
		return nil
	}
	return &proxyv1.HeaderOps{Add: maps.Clone(map[string]string(h.Add)), Remove: slices.Clone(h.Remove)}
}

func rateLimit(r *config.RateLimit) *proxyv1.RateLimit {
	out := &proxyv1.RateLimit{Global: r.Global, PerIp: r.PerIP}
	for _, p := range r.Paths {
		out.Paths = append(out.Paths, &proxyv1.RateLimitPath{
			Path:         p.Path,
			PerIp:        p.PerIP,
			BanAfter:     p.BanAfter,
			BanDuration:  dur(p.BanDuration),
			AlertWebhook: p.AlertWebhook,
		})
	}
	for _, w := range r.Whitelist {
		out.Whitelist = append(out.Whitelist, w.String())
	}
	if f := r.FailedLogins; f != nil {
		out.FailedLogins = &proxyv1.FailedLogins{Paths: slices.Clone(f.Paths), BanAfter: f.BanAfter, Window: dur(f.Window),
			BanDuration: dur(f.BanDuration), AlertWebhook: f.AlertWebhook}
		for _, st := range f.Statuses {
			out.FailedLogins.Statuses = append(out.FailedLogins.Statuses, int32(st))
		}
	}
	return out
}

// dur converts a duration; 0 (not set) becomes nil, which reads back as 0.
func dur(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// maskIPMethod is the snapshot's mask_ip_method. The Logging message has no fields for the
// prefix lengths, so prefix travels with them in the method: "prefix:16:48" (ipmask.Parse).
func maskIPMethod(l *config.Logging) string {
	if l.MaskIPMethod == string(ipmask.Prefix) {
		v4, v6 := ipmask.DefaultPrefixV4, ipmask.DefaultPrefixV6
		if l.MaskIPPrefixV4 != nil {
			v4 = *l.MaskIPPrefixV4
		}
		if l.MaskIPPrefixV6 != nil {
			v6 = *l.MaskIPPrefixV6
		}
		return ipmask.FormatPrefix(v4, v6)
	}
	return l.MaskIPMethod
}
