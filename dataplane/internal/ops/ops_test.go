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
	h := Handler(s, false, nil)
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

func TestProfiling(t *testing.T) {
	s := NewState(func() uint64 { return 1 })
	for _, on := range []bool{false, true} {
		w := httptest.NewRecorder()
		Handler(s, on, nil).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/debug/pprof/goroutine?debug=1", nil))
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if w.Code != want {
			t.Errorf("profiling %v: /debug/pprof/goroutine = %d, want %d", on, w.Code, want)
		}
	}
}
