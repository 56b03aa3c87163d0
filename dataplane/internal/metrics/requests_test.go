package metrics

import (
	"net/http"
	"testing"
	"time"
)

func TestObserve(t *testing.T) {
	tests := []struct {
		desc       string
		method     string
		status     int
		d          time.Duration
		waf        bool
		wantMethod string
		wantStatus int
		wantBucket int // index into buckets; nBuckets is +Inf
	}{
		{"GET 200 under a millisecond", http.MethodGet, 200, 300 * time.Microsecond, false, "GET", 200, 0},
		{"exactly on a bound is in that bucket", http.MethodPost, 201, time.Millisecond, false, "POST", 201, 0},
		{"just over a bound", http.MethodPut, 204, time.Millisecond + 1, false, "PUT", 204, 1},
		{"unknown method folds to OTHER", "PROPFIND", 207, 40 * time.Millisecond, false, "OTHER", 207, 5},
		{"lower-case method is not GET", "get", 200, time.Second, false, "OTHER", 200, 9},
		{"over 30 s is +Inf", http.MethodGet, 504, time.Minute, false, "GET", 504, nBuckets},
		{"WAF block", http.MethodGet, 403, 2 * time.Millisecond, true, "GET", 403, 1},
		{"status out of range counts as 000", http.MethodGet, 1200, time.Millisecond, false, "GET", 0, 0},
		{"client gone", http.MethodDelete, 499, 10 * time.Second, false, "DELETE", 499, 12},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := &Route{id: "a.test/"}
			r.Observe(tt.method, tt.status, tt.d, tt.waf)
			m := methodIndex(tt.method)
			if methods[m] != tt.wantMethod {
				t.Fatalf("method label %q, want %q", methods[m], tt.wantMethod)
			}
			if n := r.byMethod[m].Load()[tt.wantStatus].Load(); n != 1 {
				t.Errorf("count of %s %03d = %d, want 1", tt.wantMethod, tt.wantStatus, n)
			}
			for i := range r.buckets {
				want := uint64(0)
				if i == tt.wantBucket {
					want = 1
				}
				if n := r.buckets[i].Load(); n != want {
					t.Errorf("bucket %d = %d, want %d", i, n, want)
				}
			}
			if r.sumNanos.Load() != int64(tt.d) {
				t.Errorf("sum %d, want %d", r.sumNanos.Load(), tt.d)
			}
			if got := r.wafBlocks.Load() == 1; got != tt.waf {
				t.Errorf("WAF blocks counted %v, want %v", got, tt.waf)
			}
		})
	}
}

func TestStatusLabel(t *testing.T) {
	for in, want := range map[int]string{0: "000", 7: "007", 99: "099", 200: "200", 999: "999"} {
		if got := statusLabel(in); got != want {
			t.Errorf("statusLabel(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestNilRouteCountsNothing(t *testing.T) {
	var q *Requests
	q.Route("a.test/").Observe(http.MethodGet, 200, time.Millisecond, false) // no panic
	q.Retain(nil)
	if q.Unmatched() != nil {
		t.Fatal("a nil Requests has unmatched counters")
	}
}

func TestRequestsKeepRoutesAcrossBuildsAndRetain(t *testing.T) {
	q := NewRequests()
	a := q.Route("a.test/")
	if q.Route("a.test/") != a {
		t.Fatal("a second Route call gave new counters: a reload would reset them")
	}
	a.Observe(http.MethodGet, 200, time.Millisecond, false)
	q.Route("b.test/").Observe(http.MethodGet, 200, time.Millisecond, false)
	q.Unmatched().Observe(http.MethodGet, 404, time.Millisecond, false)
	q.Retain(map[string]bool{"a.test/": true})
	if got := len(q.all()); got != 2 {
		t.Errorf("%d routes after Retain, want a.test/ and the unmatched ones", got)
	}
	if n := q.Total(); n != 3 {
		t.Errorf("Total() = %d, want 3: a dropped route's requests stay counted", n)
	}
	if q.Route("b.test/").requests() != 0 {
		t.Error("a route back after being dropped starts from zero")
	}
}

// BenchmarkObserve is what counting adds to one request on the edge: a method switch, three
// atomic adds, no lock, no allocation.
func BenchmarkObserve(b *testing.B) {
	r := NewRequests().Route("site.test/")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Observe(http.MethodGet, 200, 3*time.Millisecond, false)
		}
	})
}

// BenchmarkObserveSerial is Observe without contention on the counters' cache lines.
func BenchmarkObserveSerial(b *testing.B) {
	r := NewRequests().Route("site.test/")
	b.ReportAllocs()
	for b.Loop() {
		r.Observe(http.MethodPost, 201, 30*time.Millisecond, false)
	}
}
