package reloader

import (
	"context"
	"strings"
	"testing"
)

// An error page is part of the configuration: a broken template is rejected with its file and
// line while the last good version keeps serving, and an edited page alone is a new version.
func TestErrorPageReload(t *testing.T) {
	e := newEnv(t)
	e.write("global.yaml", "error_pages:\n  404: 404.html\n")
	e.write("404.html", "<h1>{{.StatusCode}}</h1>\n")
	e.write("sites/a.yaml", "host: a.test\nbackend: http://a:80\nerror_pages:\n  502: 502.html\n")
	e.write("sites/502.html", "<p>{{.RequestID}}</p>\n")
	r, _, fl := e.open()
	ctx := context.Background()

	if changed, v, errs := r.Reload(ctx, "startup"); !changed || v != 1 || errs != nil {
		t.Fatalf("first load: changed %v version %d errs %v", changed, v, errs)
	}
	snap, _ := fl.Current()
	if got := snap.GetErrorPages()[404]; got != "<h1>{{.StatusCode}}</h1>\n" {
		t.Fatalf("global page = %q", got)
	}
	if got := snap.GetRoutes()[0].GetPolicy().GetErrorPages()[502]; got != "<p>{{.RequestID}}</p>\n" {
		t.Fatalf("route page = %q", got)
	}

	e.write("sites/502.html", "<html>\n<body>\n<p>{{.RequestID}</p>\n")
	changed, v, errs := r.Reload(ctx, "file_watcher")
	if changed || v != 1 || len(errs) != 1 || !strings.Contains(errs[0], "sites/502.html:3:") || !strings.Contains(errs[0], "error page for 502") {
		t.Fatalf("broken page: changed %v version %d errs %v", changed, v, errs)
	}
	if snap, _ := fl.Current(); snap.GetVersion() != 1 || snap.GetRoutes()[0].GetPolicy().GetErrorPages()[502] != "<p>{{.RequestID}}</p>\n" {
		t.Fatalf("after the rejection the live snapshot is %v", snap)
	}

	e.write("sites/502.html", "<p>Back soon. {{.RequestID}}</p>\n")
	if changed, v, errs := r.Reload(ctx, "file_watcher"); !changed || v != 2 || errs != nil {
		t.Fatalf("fixed page: changed %v version %d errs %v", changed, v, errs)
	}
	if snap, _ := fl.Current(); snap.GetRoutes()[0].GetPolicy().GetErrorPages()[502] != "<p>Back soon. {{.RequestID}}</p>\n" {
		t.Fatalf("the edited page was not published: %v", snap.GetRoutes()[0].GetPolicy().GetErrorPages())
	}
}
