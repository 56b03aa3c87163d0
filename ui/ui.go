// Package ui holds the dashboard's static files. They are embedded in the control-plane binary,
// so the dashboard needs nothing on disk and works through an SSH tunnel with no internet access:
// no CDN, no external fonts, no framework.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed dashboard
var files embed.FS

// Dashboard returns the dashboard's files, index.html at the root.
func Dashboard() fs.FS {
	sub, err := fs.Sub(files, "dashboard")
	if err != nil {
		panic(err) // the directory is embedded above; this cannot fail at run time
	}
	return sub
}
