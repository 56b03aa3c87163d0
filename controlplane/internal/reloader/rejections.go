package reloader

import (
	"context"
	"errors"
	"time"

	"github.com/proxy-manager/proxy-manager/pkg/config"
)

// Rejection is a configuration a reload refused, as alerting sees it: the version that stays
// live and every problem with its file and line.
type Rejection struct {
	At       time.Time
	Source   string // what asked for the reload ("file_watcher", "api", ...)
	Version  uint64 // the version that stays live (0: none was ever accepted)
	Problems []Problem
}

// Problem is one reason of a rejection. File is "" and Line 0 for a problem that is not in a file.
type Problem struct {
	File         string
	Line, Column int
	Reason       string
}

// SubscribeRejections returns a channel receiving every rejected reload from now on, closed when
// ctx ends. Publishing never blocks a reload (package notify).
func (r *Reloader) SubscribeRejections(ctx context.Context) <-chan Rejection {
	return r.rejections.Subscribe(ctx)
}

// publishRejection hands the rejection of errs (one per problem) to the subscribers.
func (r *Reloader) publishRejection(source string, errs []error, now time.Time) {
	rej := Rejection{At: now, Source: source, Version: r.version}
	for _, e := range errs {
		p := Problem{Reason: e.Error()}
		var ce config.Error
		if errors.As(e, &ce) {
			p = Problem{File: ce.File, Line: ce.Line, Column: ce.Column, Reason: ce.Msg}
		}
		rej.Problems = append(rej.Problems, p)
	}
	if lost := r.rejections.Publish(rej); lost > 0 {
		r.log.Warn("configuration rejection not handed to a subscriber: its buffer is full")
	}
}
