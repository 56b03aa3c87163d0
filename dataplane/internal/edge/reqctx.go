package edge

import (
	"context"
	"net/http"
)

// contextSetter is a response writer whose server lets the handler give the request it handed
// another context in place, without the copy Request.WithContext makes: the data plane's
// HTTP/1.1 server's writers are (h1). net/http's and quic-go's are not.
type contextSetter interface {
	SetRequestContext(r *http.Request, ctx context.Context) bool
}

// setContext gives x.r the context ctx, derived from its own, for the steps after this one and
// the backend: in place when the server allows it and x.r is still the request it handed, else
// on a copy. Either way x.r is the request from then on.
func (x *exchange) setContext(ctx context.Context) {
	if s, ok := x.w.rw.(contextSetter); ok && s.SetRequestContext(x.r, ctx) {
		return
	}
	x.r = x.r.WithContext(ctx)
}
