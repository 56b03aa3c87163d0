// Package dockerlint checks a Dockerfile offline: BuildKit's own linter (the rules
// `docker build --check` applies) and the project's rules for its images.
package dockerlint

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Finding is one rule a Dockerfile breaks.
type Finding struct {
	File string
	Line int // 0: the file as a whole
	Rule string
	Msg  string
}

func (f Finding) String() string {
	if f.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", f.File, f.Line, f.Rule, f.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", f.File, f.Rule, f.Msg)
}

// buildkitLint runs BuildKit's Dockerfile linter as `docker build --check` does, every stage
// included. Base images are not pulled (no registry here): each resolves to an empty
// linux/amd64 image with the usual PATH, which is all the rules look at.
func buildkitLint(ctx context.Context, name string, dt []byte, buildArgs map[string]string) ([]Finding, error) {
	platform := ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	sm := llb.NewSourceMap(nil, name, "Dockerfile", dt)
	sm.Definition = &llb.Definition{} // the results' source record wants one; nothing is built
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{
		Config:         dockerui.Config{BuildArgs: buildArgs},
		SourceMap:      sm,
		TargetPlatform: &platform,
		MetaResolver:   offlineImages{platform: platform},
	})
	if err != nil {
		return nil, fmt.Errorf("lint %s: %w", name, err)
	}
	var out []Finding
	for _, w := range res.Warnings {
		f := Finding{File: name, Rule: w.RuleName, Msg: w.Detail}
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			f.Line = int(w.Location.Ranges[0].Start.Line)
		}
		out = append(out, f)
	}
	if res.Error != nil {
		f := Finding{File: name, Rule: "BuildError", Msg: res.Error.Message}
		if len(res.Error.Location.Ranges) > 0 {
			f.Line = int(res.Error.Location.Ranges[0].Start.Line)
		}
		out = append(out, f)
	}
	return out, nil
}

// offlineImages answers BuildKit's image-config lookups without a registry.
type offlineImages struct{ platform ocispecs.Platform }

func (o offlineImages) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	img := ocispecs.Image{
		Platform: o.platform,
		Config:   ocispecs.ImageConfig{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		RootFS:   ocispecs.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString(ref)}},
	}
	dt, err := json.Marshal(img)
	if err != nil {
		return "", "", nil, fmt.Errorf("image config for %s: %w", ref, err)
	}
	return strings.TrimSpace(ref), "", dt, nil
}
