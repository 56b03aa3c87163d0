package config

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sort"

	"github.com/proxy-manager/proxy-manager/pkg/pagetemplate"
)

// loadErrorPages reads every error page named by the global file and the sites, disabled ones
// included (enabling a site must not be what finds its broken page), adds them to the hash (an
// edited page is a new configuration) and checks each as the template of each status it is
// named for. A problem is reported at the page's file and the template's line.
func loadErrorPages(g *Global, sites []*Site, h hash.Hash, errs *errorSink) map[string]string {
	statuses := map[string][]int{} // path -> statuses it is the page of
	users := map[string]string{}   // path -> the first configuration file naming it, for messages
	add := func(pages ErrorPages, file string) {
		for code, path := range pages {
			statuses[path] = append(statuses[path], code)
			if _, ok := users[path]; !ok {
				users[path] = file
			}
		}
	}
	add(g.ErrorPages, g.File)
	for _, s := range sites {
		for _, r := range s.Routes {
			add(r.Policy.ErrorPages, s.File)
		}
	}
	if len(statuses) == 0 {
		return nil
	}
	paths := make([]string, 0, len(statuses))
	for p := range statuses {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out := make(map[string]string, len(paths))
	for _, path := range paths {
		src, err := readPage(path)
		if err != nil {
			errs.add(Error{File: path, Msg: fmt.Sprintf("error page (named in %s): %v", users[path], err)})
			continue
		}
		hashFile(h, "page:"+path, src)
		codes := statuses[path]
		sort.Ints(codes)
		for i, code := range codes {
			if i > 0 && codes[i-1] == code {
				continue
			}
			if err := pagetemplate.Check(path, string(src), code); err != nil {
				e := Error{File: path, Msg: fmt.Sprintf("error page for %d (named in %s): %v", code, users[path], err)}
				var pe *pagetemplate.Error
				if errors.As(err, &pe) {
					e.Line, e.Column, e.Msg = pe.Line, pe.Column, fmt.Sprintf("error page for %d (named in %s): %s", code, users[path], pe.Msg)
				}
				errs.add(e)
				break // the same mistake for every status
			}
		}
		out[path] = string(src)
	}
	return out
}

// readPage reads an error page, refusing one over pagetemplate.MaxSource without reading all
// of it (a path mistyped to a large file).
func readPage(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, pagetemplate.MaxSource+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if len(src) > pagetemplate.MaxSource {
		return nil, fmt.Errorf("larger than %d bytes", pagetemplate.MaxSource)
	}
	return src, nil
}
