package uaclass

import (
	"strings"
	"testing"
)

func TestOf(t *testing.T) {
	tests := []struct {
		ua   string
		want Class
	}{
		// Desktop browsers.
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", Browser},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", Browser},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", Browser},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", Browser},
		{"Opera/9.80 (Windows NT 6.1; WOW64) Presto/2.12.388 Version/12.18", Browser},
		// Phones, tablets and mobile apps.
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", Mobile},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36", Mobile},
		{"Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/604.1", Mobile},
		{"Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", Mobile},
		{"Dalvik/2.1.0 (Linux; U; Android 12; SM-G991B Build/SP1A.210812.016)", Mobile},
		{"okhttp/4.12.0", Mobile},
		{"MyApp/3.2 CFNetwork/1496.0.7 Darwin/23.5.0", Mobile},
		// Crawlers, previews, monitors, scanners.
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", Bot},
		{"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", Bot},
		{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", Bot},
		{"Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)", Bot},
		{"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", Bot},
		{"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", Bot},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36", Bot},
		{"Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", Bot},
		{"Mozilla/5.0 zgrab/0.x", Bot},
		{"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)", Bot},
		{"sqlmap/1.8#stable (https://sqlmap.org)", Bot},
		{"Scrapy/2.11.2 (+https://scrapy.org)", Bot},
		// Scripts, libraries and tools.
		{"curl/8.5.0", API},
		{"Wget/1.21.4", API},
		{"python-requests/2.32.3", API},
		{"Go-http-client/2.0", API},
		{"PostmanRuntime/7.42.0", API},
		{"axios/1.7.7", API},
		{"Java/17.0.2", API},
		{"node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", API},
		{"", API},
		// A huge header is classified from its start.
		{"Mozilla/5.0 (X11; Linux x86_64) " + strings.Repeat("x", 100_000) + " Googlebot", Browser},
	}
	for _, tt := range tests {
		name := tt.ua
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			if got := Of(tt.ua); got != tt.want {
				t.Errorf("Of(%q) = %s, want %s", name, got, tt.want)
			}
		})
	}
}

func TestOfDoesNotAllocate(t *testing.T) {
	ua := "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36"
	if n := testing.AllocsPerRun(100, func() { _ = Of(ua) }); n != 0 {
		t.Errorf("Of allocates %v times per call", n)
	}
}

func FuzzOf(f *testing.F) {
	f.Add("Mozilla/5.0 (compatible; Googlebot/2.1)")
	f.Add("curl/8.5.0")
	f.Add("")
	f.Fuzz(func(t *testing.T, ua string) {
		c := Of(ua)
		switch c {
		case Bot, Browser, Mobile, API:
		default:
			t.Fatalf("Of(%q) = %q, not a class", ua, c)
		}
	})
}

func BenchmarkOf(b *testing.B) {
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	for b.Loop() {
		_ = Of(ua)
	}
}
