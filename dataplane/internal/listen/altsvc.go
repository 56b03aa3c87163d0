package listen

import (
	"net/http"
	"strconv"
)

// AltSvcMaxAge is how long (seconds) clients may remember the HTTP/3 advertisement.
const AltSvcMaxAge = 86400

// AltSvc advertises HTTP/3 on UDP port to clients of HTTPS over TCP: it adds
// `Alt-Svc: h3=":<port>"; ma=86400` to every response of a TLS request that is not already
// HTTP/3, unless the Edge in force has HTTP/3 disabled (or there is none yet). The switch is
// read per request, so a snapshot turns the header on and off at once. Plain HTTP responses
// never carry it: Alt-Svc is only trusted over TLS.
func AltSvc(next http.Handler, edges EdgeSource, port int) http.Handler {
	if port <= 0 {
		return next
	}
	value := `h3=":` + strconv.Itoa(port) + `"; ma=` + strconv.Itoa(AltSvcMaxAge)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && r.ProtoMajor < 3 {
			if e := edges.Load(); e != nil && !e.HTTP3Disabled {
				w.Header().Set("Alt-Svc", value)
			}
		}
		next.ServeHTTP(w, r)
	})
}
