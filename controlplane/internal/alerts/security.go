package alerts

import (
	"fmt"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// securityLocked runs the detectors of the security events: failed_login_spike,
// waf_block_spike, rate_limit_ban and unusual_country_login. Security events carry the raw
// client address (bans need it); every alert masks it by the route's method first.
func (a *Alerts) securityLocked(evs []*proxyv1.SecurityEvent, now time.Time) []alert.Alert {
	type spike struct {
		r     *route
		n     int
		last  *proxyv1.SecurityEvent
		login bool
	}
	var spikes []*spike
	find := func(r *route, login bool) *spike {
		for _, s := range spikes {
			if s.r == r && s.login == login {
				return s
			}
		}
		s := &spike{r: r, login: login}
		spikes = append(spikes, s)
		return s
	}
	var out []alert.Alert
	for _, ev := range evs {
		r := a.routes.byRoute(ev.GetRouteId())
		if r == nil {
			continue
		}
		switch k := ev.GetKind(); {
		case k == proxyv1.SecurityKind_SECURITY_KIND_FAILED_LOGIN,
			k == proxyv1.SecurityKind_SECURITY_KIND_BANNED && ev.GetRule() == "failed_logins": // the failure that decided the ban
			s := find(r, true)
			s.n++
			s.last = ev
		case k == proxyv1.SecurityKind_SECURITY_KIND_WAF && ev.GetAction() == "blocked":
			s := find(r, false)
			s.n++
			s.last = ev
		}
		switch ev.GetKind() {
		case proxyv1.SecurityKind_SECURITY_KIND_BANNED:
			if ev.GetAlertWebhook() {
				out = append(out, a.banAlert(r, ev, now))
			}
		case proxyv1.SecurityKind_SECURITY_KIND_UNUSUAL_COUNTRY:
			out = append(out, a.unusualCountry(r, ev, now))
		}
	}
	for _, s := range spikes {
		st := a.stateLocked(s.r, a.thresholds().ErrorRate.Window)
		sl, trig, limit, typ, what := st.waf, &st.wafTrigger, WAFBlocksPerMinute, alert.WAFBlockSpike, "WAF blocks"
		if s.login {
			sl, trig, limit, typ, what = st.logins, &st.loginTrigger, FailedLoginsPerMinute, alert.FailedLoginSpike, "failed logins"
		}
		sl.add(now, s.n, s.n)
		_, n := sl.sum(now)
		if !trig.update(n > limit, n <= limit) {
			continue
		}
		ev := s.last
		client := s.r.maskIP(ev.GetClientIp(), ev.GetTime().AsTime())
		sample := fmt.Sprintf("%s %s from %s", ev.GetRule(), ev.GetPath(), client)
		al := alert.Alert{Type: typ, Severity: alert.Warning, RouteID: s.r.id, Host: s.r.host,
			Title:       fmt.Sprintf("%s spike: %s (%d in a minute)", capitalize(what), s.r.host, n),
			Description: fmt.Sprintf("%d %s on %s in the last minute (more than %d).", n, what, s.r.host, limit),
			RequestID:   ev.GetRequestId(), Sample: sample,
			Fields: []alert.Field{{Name: "Count", Value: fmt.Sprint(n), Inline: true}, {Name: "Last client", Value: client, Inline: true},
				{Name: "Last path", Value: ev.GetPath(), Inline: true}, {Name: "Request id", Value: ev.GetRequestId()}},
			Time: now}
		if !s.login {
			al.Fields = append(al.Fields, alert.Field{Name: "Rule", Value: ev.GetRule(), Inline: true})
			if p := ev.GetPattern(); p != "" {
				al.Fields = append(al.Fields, alert.Field{Name: "Pattern", Value: p, Inline: true})
			}
		}
		out = append(out, al)
	}
	return out
}

// banAlert is rate_limit_ban: a ban decided by a data plane on a route whose rate limit asks for
// the webhook (rate_limit.paths[].alert_webhook or failed_logins.alert_webhook).
func (a *Alerts) banAlert(r *route, ev *proxyv1.SecurityEvent, now time.Time) alert.Alert {
	client := r.maskIP(ev.GetClientIp(), ev.GetTime().AsTime())
	until := ev.GetBanUntil().AsTime()
	fields := []alert.Field{{Name: "Client", Value: client, Inline: true}, {Name: "Rule", Value: ev.GetRule(), Inline: true},
		{Name: "Count", Value: fmt.Sprint(ev.GetCount()), Inline: true}}
	if ev.GetBanUntil() != nil {
		fields = append(fields, alert.Field{Name: "Until", Value: until.UTC().Format(time.RFC3339), Inline: true})
	}
	if ev.GetReason() != "" {
		fields = append(fields, alert.Field{Name: "Reason", Value: ev.GetReason()})
	}
	return alert.Alert{Type: alert.RateLimitBan, Severity: alert.Warning, RouteID: r.id, Host: r.host,
		Title:       fmt.Sprintf("Client banned: %s on %s", client, r.host),
		Description: fmt.Sprintf("%s was banned from %s by the rule %s (%d violations).", client, r.host, ev.GetRule(), ev.GetCount()),
		RequestID:   ev.GetRequestId(), Sample: ev.GetPath(), Fields: fields, Time: now}
}

// unusualCountry is unusual_country_login: a login on a route with geoip.alert_on_unusual_country
// from a country its data plane had not seen its logins from (reported once per route and
// country by the data plane).
func (a *Alerts) unusualCountry(r *route, ev *proxyv1.SecurityEvent, now time.Time) alert.Alert {
	client := r.maskIP(ev.GetClientIp(), ev.GetTime().AsTime())
	country := ev.GetCountry()
	if country == "" {
		country = "unknown"
	}
	return alert.Alert{Type: alert.UnusualCountryLogin, Severity: alert.Warning, RouteID: r.id, Host: r.host,
		Title:       fmt.Sprintf("Login from an unusual country: %s on %s", country, r.host),
		Description: fmt.Sprintf("A login on %s came from %s, a country its logins had not come from: check that it is expected.", r.host, country),
		RequestID:   ev.GetRequestId(), Sample: ev.GetPath() + " from " + client,
		Fields: []alert.Field{{Name: "Country", Value: country, Inline: true}, {Name: "Client", Value: client, Inline: true},
			{Name: "Path", Value: ev.GetPath(), Inline: true}, {Name: "Request id", Value: ev.GetRequestId()}},
		Time: now}
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
