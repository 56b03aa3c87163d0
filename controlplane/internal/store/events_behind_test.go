package store

import (
	"testing"
	"time"
)

func TestBehind(t *testing.T) {
	now := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		age  time.Duration
		want bool
	}{
		{age: 0, want: false},
		{age: 20 * time.Millisecond, want: false}, // a data plane that keeps up: sent as it is full
		{age: catchUpAfter, want: false},
		{age: catchUpAfter + time.Millisecond, want: true},
		{age: time.Minute, want: true},       // a backlog, or batches re-sent after a reconnect
		{age: -2 * time.Second, want: false}, // a data plane whose clock is ahead
	} {
		if got := behind(now.Add(-tc.age), now); got != tc.want {
			t.Errorf("newest event %v old: behind %v, want %v", tc.age, got, tc.want)
		}
	}
}
