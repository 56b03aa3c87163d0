package config

import (
	"path/filepath"
	"testing"
)

func TestTLSAndACME(t *testing.T) {
	tests := []struct {
		desc string
		src  string
		want TLS
		acme ACME
	}{
		{desc: "no sections: HTTP/3 and redirects on", src: "trusted_proxies: [10.0.0.0/8]\n",
			want: TLS{HTTP3: true, RedirectHTTP: true}},
		{desc: "empty sections", src: "tls:\nacme:\n", want: TLS{HTTP3: true, RedirectHTTP: true}},
		{desc: "everything written", src: `
tls:
  default_certificate: example.org
  http3: false
  redirect_http: false
acme:
  challenge_backend: HTTP://Certbot:80
`, want: TLS{DefaultCertificate: "example.org"}, acme: ACME{ChallengeBackend: "http://certbot:80"}},
		{desc: "one switch off, the other defaulted", src: "tls: {http3: false}\nacme: {challenge_backend: 'https://10.0.0.5:8443/acme'}\n",
			want: TLS{RedirectHTTP: true}, acme: ACME{ChallengeBackend: "https://10.0.0.5:8443/acme"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			g, err := ParseGlobal("global.yaml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if g.TLS != tc.want || g.ACME != tc.acme {
				t.Errorf("got %+v %+v, want %+v %+v", g.TLS, g.ACME, tc.want, tc.acme)
			}
		})
	}
}

func TestTLSWithoutGlobalFile(t *testing.T) {
	cfg, err := Load(filepath.Join(t.TempDir(), "absent.yaml"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if want := (TLS{HTTP3: true, RedirectHTTP: true}); cfg.Global.TLS != want || cfg.Global.ACME != (ACME{}) {
		t.Errorf("got %+v %+v, want %+v and no ACME backend", cfg.Global.TLS, cfg.Global.ACME, want)
	}
}

func TestTLSErrors(t *testing.T) {
	tests := []struct {
		desc string
		src  string
		want string
	}{
		{desc: "empty default certificate", src: "tls:\n  default_certificate: ''\n",
			want: `global.yaml:2:24: tls.default_certificate: must name a certificate`},
		{desc: "default certificate given as a path", src: "tls:\n  default_certificate: /etc/proxy/certs/example.org.crt\n",
			want: `global.yaml:2:24: tls.default_certificate: "/etc/proxy/certs/example.org.crt" is a path; name the certificate instead: the certbot lineage or the file name without extension ("example.org")`},
		{desc: "default certificate given as a file name", src: "tls: {default_certificate: example.org.pem}\n",
			want: `global.yaml:1:28: tls.default_certificate: "example.org.pem" is a file name; name the certificate instead, without extension: "example.org"`},
		{desc: "wrong types and unknown keys", src: "tls:\n  http3: yes\n  redirect_https: true\n",
			want: `global.yaml:2:10: tls.http3: expected true or false, found "yes"
global.yaml:3:3: unknown key "redirect_https" in tls; did you mean "redirect_http"?`},
		{desc: "challenge backend not a URL", src: "acme:\n  challenge_backend: certbot:80\n",
			want: `global.yaml:2:22: acme.challenge_backend: "certbot:80" is not an absolute URL; write it as http://certbot:80`},
		{desc: "challenge backend with another scheme", src: "acme: {challenge_backend: 'ftp://certbot'}\n",
			want: `global.yaml:1:27: acme.challenge_backend: "ftp://certbot": the scheme must be http or https, not "ftp"`},
		{desc: "acme without a backend", src: "acme: {backend: 'http://certbot'}\n",
			want: `global.yaml:1:7: acme: missing challenge_backend (the URL of the ACME client that answers /.well-known/acme-challenge/)
global.yaml:1:8: unknown key "backend" in acme; did you mean "challenge_backend"?`},
		{desc: "acme with a client's settings", src: "acme: {challenge_backend: 'http://certbot', email: admin@example.org}\n",
			want: `global.yaml:1:45: unknown key "email" in acme; the proxy does not request certificates itself (its ACME client does, see docs/configuration.md): acme: only takes challenge_backend`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseGlobal("global.yaml", []byte(tc.src))
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("errors differ\ngot:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
