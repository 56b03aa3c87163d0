package waf

import "testing"

func BenchmarkProbeCheck(b *testing.B) {
	vals := [][2]string{{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}, {"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, {"Accept-Language", "en-US,en;q=0.5"}, {"Accept-Encoding", "gzip, deflate, br"}, {"Referer", "https://forum.example.org/t/10-tips-for-new-players-2024/77"}, {"Cookie", "_t=AbCdEf0123456789; _forum_session=Zm9vYmFyYmF6cXV4%3D%3D--0a1b2c3d"}, {"q", "where+to+buy+rtx+4070"}, {"command", "say Restarting in 1 minute!"}, {"reason", "Update to 1.20.4 -- back soon"}}
	for _, v := range vals {
		b.Run(v[0], func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				hr := allRules
				if structuredHeaders[v[0]] {
					hr &= structuredRules
				}
				if v[0] == "Cookie" {
					cookies(hr, nil, v[1])
				} else {
					check(hr, LocHeader, v[0], v[1], v[0] == "q")
				}
			}
		})
	}
}

func BenchmarkProbeJSON(b *testing.B) {
	data := []byte(`{"server":"551414f2","command":"say Restarting in 1 minute!","options":{"notify":true,"delay":60,"reason":"Update to 1.20.4 -- back soon"}}`)
	b.ReportAllocs()
	for range b.N {
		jsonFields(0, nil, data)
	}
}
