package reloader

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestSubscribeRejections(t *testing.T) {
	e := newEnv(t)
	e.write("sites/a.yaml", "host: a.test\nbackend: http://a:80\n")
	r, _, _ := e.open()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := r.SubscribeRejections(ctx)

	if _, _, errs := r.Reload(ctx, "startup"); errs != nil {
		t.Fatal(errs)
	}
	e.write("sites/a.yaml", "host: a.test\nbackend: http://b:80\ntimeouts:\n  conect: 5s\n")
	if _, _, errs := r.Reload(ctx, "file_watcher"); len(errs) != 1 {
		t.Fatalf("errors %v", errs)
	}
	select {
	case rej := <-ch:
		if rej.Source != "file_watcher" || rej.Version != 1 || len(rej.Problems) != 1 {
			t.Fatalf("rejection %+v", rej)
		}
		p := rej.Problems[0]
		if filepath.Base(p.File) != "a.yaml" || p.Line != 4 || p.Column != 3 || !strings.Contains(p.Reason, `"conect"`) || strings.Contains(p.Reason, "a.yaml:") {
			t.Fatalf("problem %+v", p)
		}
	default:
		t.Fatal("no rejection published")
	}
	// An accepted reload publishes nothing.
	e.write("sites/a.yaml", "host: a.test\nbackend: http://b:80\n")
	if _, _, errs := r.Reload(ctx, "file_watcher"); errs != nil {
		t.Fatal(errs)
	}
	select {
	case rej := <-ch:
		t.Fatalf("accepted reload published %+v", rej)
	default:
	}
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("channel not closed with its context")
	}
}
