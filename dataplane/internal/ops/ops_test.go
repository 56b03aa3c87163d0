package ops

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestProbes(t *testing.T) {
	var version atomic.Uint64
	s := NewState(version.Load)
	h := Handler(s)
	get := func(path string) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code
	}
	steps := []struct {
		desc                string
		do                  func()
		live, ready, startd int
	}{
		{desc: "just started", do: func() {}, live: 200, ready: 503, startd: 503},
		{desc: "listening, no snapshot", do: s.SetStarted, live: 200, ready: 503, startd: 200},
		{desc: "snapshot applied", do: func() { version.Store(3) }, live: 200, ready: 200, startd: 200},
		{desc: "stopping", do: s.SetStopping, live: 200, ready: 503, startd: 200},
	}
	for _, st := range steps {
		st.do()
		if got := []int{get("/health/live"), get("/health/ready"), get("/health/startup")}; got[0] != st.live || got[1] != st.ready || got[2] != st.startd {
			t.Errorf("%s: live/ready/startup = %v, want [%d %d %d]", st.desc, got, st.live, st.ready, st.startd)
		}
	}
}
