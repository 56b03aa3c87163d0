package reloader

import (
	"strings"
	"testing"
)

func TestRedactYAML(t *testing.T) {
	key := fingerprint("Bearer s3cr3t")
	testCases := []struct {
		desc, src, want string
	}{
		{desc: "no secret: kept as written, comments too",
			src:  "# the panel\nhost: panel.test   # public\nbackend: http://panel:80\n",
			want: "# the panel\nhost: panel.test   # public\nbackend: http://panel:80\n"},
		{desc: "request header added, flat form",
			src:  "host: a.test\nbackend: http://a:80\nheaders:\n  request:\n    add:\n      Authorization: Bearer s3cr3t  # for the API\n      X-Env: prod\n  response:\n    add:\n      X-Frame-Options: DENY\n",
			want: "host: a.test\nbackend: http://a:80\nheaders:\n  request:\n    add:\n      Authorization: \"" + key + "\"\n      X-Env: \"" + fingerprint("prod") + "\"\n  response:\n    add:\n      X-Frame-Options: DENY\n"},
		{desc: "request header in a route, as a block scalar",
			src:  "routes:\n  - host: a.test\n    headers:\n      request:\n        add:\n          Authorization: |\n            Bearer s3cr3t\n          X-B: \"two\n            lines\"\n    backend: http://a:80\n",
			want: "routes:\n  - host: a.test\n    headers:\n      request:\n        add:\n          Authorization: \"" + fingerprint("Bearer s3cr3t\n") + "\"\n          X-B: \"" + fingerprint("two lines") + "\"\n    backend: http://a:80\n"},
		{desc: "webhook URL",
			src:  "webhooks:\n  - name: ops\n    url: https://discord.com/api/webhooks/1/tok\n    events: [ban]\n",
			want: "webhooks:\n  - name: ops\n    url: \"" + fingerprint("https://discord.com/api/webhooks/1/tok") + "\"\n    events: [ban]\n"},
		{desc: "password in a URL",
			src:  "host: a.test\nbackend: http://user:pw@a:80\n",
			want: "host: a.test\nbackend: \"" + fingerprint("http://user:pw@a:80") + "\"\n"},
		{desc: "secret in a flow mapping: written anew",
			src:  "headers: {request: {add: {Authorization: Bearer s3cr3t}}}\n",
			want: "headers: {request: {add: {Authorization: \"" + key + "\"}}}\n"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			got, ok := redactYAML([]byte(tc.src))
			if !ok || got != tc.want {
				t.Errorf("got (%v)\n%s\nwant\n%s", ok, got, tc.want)
			}
			for _, secret := range []string{"s3cr3t", "tok\n", ":pw@"} {
				if strings.Contains(got, secret) {
					t.Errorf("%q left in\n%s", secret, got)
				}
			}
		})
	}
	if _, ok := redactYAML([]byte("host: [a\n")); ok {
		t.Error("unparsable YAML reported redacted")
	}
}
