// Package stack checks deploy/stack.yml: the schema `docker stack deploy` validates against, the
// compose-spec loader, and the properties the deployment relies on (docs/DEPLOY.md).
package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	swarmschema "github.com/docker/cli/cli/compose/schema"
	"go.yaml.in/yaml/v4"
)

// Finding is one property the stack file breaks.
type Finding struct {
	Rule string
	Msg  string
}

func (f Finding) String() string { return f.Rule + ": " + f.Msg }

// Env is the environment the check interpolates with: the variables the stack requires.
var Env = map[string]string{"PROXY_VERSION": "0.0.0-check"}

// Check loads the stack file at path and returns every broken property. An error means the
// file could not be read.
func Check(ctx context.Context, path string) ([]Finding, error) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(dt, &raw); err != nil {
		return []Finding{{Rule: "YAML", Msg: fmt.Sprintf("%s: %v", path, err)}}, nil
	}
	var out []Finding
	// docker stack deploy validates against docker/cli's versioned v3 schema, not compose-spec.
	if err := swarmschema.Validate(raw, swarmschema.Version(raw)); err != nil {
		out = append(out, Finding{Rule: "SwarmSchema", Msg: fmt.Sprintf("%s (version %s): %v", path, swarmschema.Version(raw), err)})
	}
	project, err := loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  filepath.Dir(path),
		ConfigFiles: []types.ConfigFile{{Filename: path, Content: dt}},
		Environment: Env,
	}, func(o *loader.Options) { o.SetProjectName("proxy", true) })
	if err != nil {
		return append(out, Finding{Rule: "ComposeSpec", Msg: err.Error()}), nil
	}
	return append(out, properties(project)...), nil
}
