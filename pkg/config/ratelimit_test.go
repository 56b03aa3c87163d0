package config

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestFailedLoginsAndExempt(t *testing.T) {
	src := `host: vault.example.org
backend: http://vaultwarden:80
rate_limit:
  per_ip: 10
  whitelist: [192.168.1.0/24]
  exempt: [10.0.0.7, "2001:db8::/32"]
  failed_logins:
    paths: [/identity/connect/token, /admin*]
    ban_after: 5
    ban_duration: 1h
    alert_webhook: true
`
	s, err := ParseSite("site.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rl := s.Routes[0].Policy.RateLimit
	wantWL := []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("10.0.0.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if !slices.Equal(rl.Whitelist, wantWL) || rl.Exempt != nil {
		t.Errorf("whitelist %v exempt %v; want exempt merged into %v", rl.Whitelist, rl.Exempt, wantWL)
	}
	fl := rl.FailedLogins
	want := FailedLogins{Paths: []string{"/identity/connect/token", "/admin*"}, Statuses: []int{401, 403}, BanAfter: 5,
		Window: 15 * time.Minute, BanDuration: time.Hour, AlertWebhook: true}
	if fl == nil || !slices.Equal(fl.Paths, want.Paths) || !slices.Equal(fl.Statuses, want.Statuses) || fl.BanAfter != want.BanAfter ||
		fl.Window != want.Window || fl.BanDuration != want.BanDuration || !fl.AlertWebhook {
		t.Errorf("failed_logins %+v, want %+v", fl, want)
	}
}

func TestRateLimitErrors(t *testing.T) {
	cases := []struct{ desc, src, want string }{
		{
			desc: "failed_logins",
			src:  "rate_limit:\n  global: 5000000\n  failed_logins:\n    paths: [login, /ok]\n    statuses: [401, 99]\n    window: 500ms\n    ban_duration: 0s\n",
			want: `site.yaml:4:11: rate_limit.global: 5000000 is over the largest limit, 4194303 requests per minute
site.yaml:6:5: rate_limit.failed_logins: missing ban_after (failures that ban a client)
site.yaml:6:13: rate_limit.failed_logins.paths: path "login" must start with /
site.yaml:7:21: rate_limit.failed_logins.statuses: 99 is not an HTTP status (100-599)
site.yaml:8:13: rate_limit.failed_logins.window: must be at least 1s
site.yaml:9:19: rate_limit.failed_logins.ban_duration: must be longer than 0`,
		},
		{
			desc: "failed_logins without paths or duration",
			src:  "rate_limit:\n  failed_logins: {ban_after: 0}\n",
			want: `site.yaml:4:18: rate_limit.failed_logins: missing paths (the login paths), ban_duration (how long a ban lasts)
site.yaml:4:30: rate_limit.failed_logins.ban_after: must be between 1 and 4194303`,
		},
		{
			desc: "exempt",
			src:  "rate_limit:\n  exempt: [10.0.0.1/8]\n  paths: [{path: /a, per_ip: 9999999}]\n",
			want: `site.yaml:4:12: rate_limit.exempt[0]: "10.0.0.1/8" has bits set after the prefix length; did you mean "10.0.0.0/8"?
site.yaml:5:30: rate_limit.paths[0].per_ip: 9999999 is over the largest limit, 4194303 requests per minute`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseSite("site.yaml", []byte("host: a.example.org\nbackend: http://app:80\n"+tc.src))
			if err == nil || err.Error() != tc.want {
				t.Errorf("got:\n%v\nwant:\n%s", err, tc.want)
			}
		})
	}
}

func TestGlobalWhitelist(t *testing.T) {
	g, err := ParseGlobal("global.yaml", []byte("whitelist: [203.0.113.10, 198.51.100.0/24]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("203.0.113.10/32"), netip.MustParsePrefix("198.51.100.0/24")}; !slices.Equal(g.Whitelist, want) {
		t.Errorf("whitelist %v, want %v", g.Whitelist, want)
	}
	_, err = ParseGlobal("global.yaml", []byte("whitelist: [nope]\n"))
	if err == nil || err.Error() != `global.yaml:1:13: whitelist[0]: "nope" is not an IP address or CIDR network` {
		t.Errorf("error %v", err)
	}
}
