package dockerlint

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// OCILabels are the labels every final image carries; the ones in labelsFromArgs take their
// value from a build ARG (set by the release build, not written in the file).
var (
	OCILabels = []string{
		"org.opencontainers.image.title", "org.opencontainers.image.description",
		"org.opencontainers.image.source", "org.opencontainers.image.version",
		"org.opencontainers.image.revision", "org.opencontainers.image.created",
	}
	labelsFromArgs = []string{
		"org.opencontainers.image.version", "org.opencontainers.image.revision",
		"org.opencontainers.image.created",
	}
)

// Lint returns every finding of BuildKit's linter and of the project's rules for the Dockerfile
// at path. An error means the file could not be read or checked at all.
func Lint(ctx context.Context, path string) ([]Finding, error) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lint: %w", err)
	}
	name := filepath.Base(path)
	out, err := buildkitLint(ctx, name, dt, nil)
	if err != nil {
		return nil, err
	}
	stages, err := parse(dt)
	if err != nil {
		return append(out, Finding{File: name, Rule: "Parse", Msg: err.Error()}), nil
	}
	return append(out, projectRules(name, stages)...), nil
}

func parse(dt []byte) ([]instructions.Stage, error) {
	res, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		return nil, err
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	return stages, err
}

var (
	curlWget  = regexp.MustCompile(`\b(curl|wget)\b`)
	userRoot  = regexp.MustCompile(`^(root|0)(:.*)?$`)
	argRef    = regexp.MustCompile(`^"?\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?"?$`) // LABEL keeps the quotes
	goBuildRe = regexp.MustCompile(`\bgo build\b`)
)

// projectRules are the rules of docs/DEPLOY.md ("Images") that BuildKit does not know.
func projectRules(name string, stages []instructions.Stage) []Finding {
	var out []Finding
	add := func(line int, rule, format string, args ...any) {
		out = append(out, Finding{File: name, Line: line, Rule: rule, Msg: fmt.Sprintf(format, args...)})
	}
	if len(stages) < 2 {
		add(0, "MultiStage", "want a build stage and a final stage, got %d stage(s)", len(stages))
	}
	var names []string
	goBuilds := 0
	for i, st := range stages {
		final := i == len(stages)-1
		checkBase(st, names, add)
		names = append(names, strings.ToLower(st.Name))
		stageCGOOff := false
		for _, c := range st.Commands {
			line := lineOf(c)
			switch c := c.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					stageCGOOff = stageCGOOff || kv.Key == "CGO_ENABLED" && kv.Value == "0"
				}
			case *instructions.RunCommand:
				cmd := strings.Join(c.CmdLine, " ")
				if curlWget.MatchString(cmd) {
					add(line, "NoCurl", "RUN uses curl or wget; the images carry neither")
				}
				if !goBuildRe.MatchString(cmd) {
					continue
				}
				goBuilds++
				if final {
					add(line, "GoBuild", "go build in the final stage: build in a build stage and copy the binary")
				}
				if !stageCGOOff && !strings.Contains(cmd, "CGO_ENABLED=0") {
					add(line, "GoBuild", "go build without CGO_ENABLED=0: the final image has no libc")
				}
				if !strings.Contains(cmd, "-trimpath") {
					add(line, "GoBuild", "go build without -trimpath")
				}
			case *instructions.HealthCheckCommand, *instructions.CmdCommand, *instructions.EntrypointCommand:
				if curlWget.MatchString(commandText(c)) {
					add(line, "NoCurl", "%s uses curl or wget; use the binary's healthcheck subcommand", c.Name())
				}
			}
		}
		if final {
			out = append(out, finalStage(name, st)...)
		}
	}
	if goBuilds == 0 {
		add(0, "GoBuild", "no RUN go build in any stage")
	}
	return out
}

// checkBase refuses a base image without a fixed tag or digest, or tagged latest.
func checkBase(st instructions.Stage, earlier []string, add func(int, string, string, ...any)) {
	base := st.BaseName
	line := 0
	if len(st.Location) > 0 {
		line = st.Location[0].Start.Line
	}
	if strings.EqualFold(base, "scratch") || slices.Contains(earlier, strings.ToLower(base)) || strings.Contains(base, "@sha256:") {
		return
	}
	repo := base[strings.LastIndex(base, "/")+1:]
	tag, ok := "", false
	if i := strings.LastIndex(repo, ":"); i >= 0 {
		tag, ok = repo[i+1:], true
	}
	switch {
	case !ok:
		add(line, "PinnedBase", "FROM %s without a tag means latest: name a version", base)
	case tag == "latest":
		add(line, "PinnedBase", "FROM %s: name a version, not latest", base)
	}
}

// finalStage checks what the shipped image must have: a non-root USER, a HEALTHCHECK running the
// binary's healthcheck subcommand (exec form: there is no shell), and the OCI labels.
func finalStage(name string, st instructions.Stage) []Finding {
	var out []Finding
	add := func(line int, rule, format string, args ...any) {
		out = append(out, Finding{File: name, Line: line, Rule: rule, Msg: fmt.Sprintf(format, args...)})
	}
	var (
		user            string
		userLine        int
		health          *instructions.HealthCheckCommand
		labels          = map[string]string{}
		args            = map[string]bool{}
		stageLine       int
		healthcheckLine int
	)
	if len(st.Location) > 0 {
		stageLine = st.Location[0].Start.Line
	}
	for _, c := range st.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user, userLine = c.User, lineOf(c)
		case *instructions.HealthCheckCommand:
			health, healthcheckLine = c, lineOf(c)
		case *instructions.LabelCommand:
			for _, kv := range c.Labels {
				labels[kv.Key] = kv.Value
			}
		case *instructions.ArgCommand:
			for _, a := range c.Args {
				args[a.Key] = true
			}
		}
	}
	switch {
	case user == "":
		add(stageLine, "NonRootUser", "final stage has no USER: the image would run as its base image's user")
	case userRoot.MatchString(user):
		add(userLine, "NonRootUser", "USER %s: the final image must not run as root", user)
	}
	switch {
	case health == nil:
		add(stageLine, "Healthcheck", "final stage has no HEALTHCHECK")
	case len(health.Health.Test) == 0 || health.Health.Test[0] != "CMD":
		add(healthcheckLine, "Healthcheck", "HEALTHCHECK must be exec form CMD [\"<binary>\", \"healthcheck\"] (no shell in the image), got %q", health.Health.Test)
	case !slices.Contains(health.Health.Test[1:], "healthcheck"):
		add(healthcheckLine, "Healthcheck", "HEALTHCHECK must run the binary's healthcheck subcommand, got %q", health.Health.Test[1:])
	}
	for _, k := range OCILabels {
		v, ok := labels[k]
		if !ok || strings.TrimSpace(v) == "" {
			add(stageLine, "OCILabels", "final stage lacks LABEL %s", k)
			continue
		}
		if !slices.Contains(labelsFromArgs, k) {
			continue
		}
		m := argRef.FindStringSubmatch(v)
		if m == nil || !args[m[1]] {
			add(stageLine, "OCILabels", "LABEL %s=%s: want the value of a build ARG of the final stage, such as ${VERSION}", k, v)
		}
	}
	return out
}

func lineOf(c instructions.Command) int {
	if l, ok := c.(interface{ Location() []parser.Range }); ok && len(l.Location()) > 0 {
		return l.Location()[0].Start.Line
	}
	return 0
}

func commandText(c instructions.Command) string {
	switch c := c.(type) {
	case *instructions.HealthCheckCommand:
		return strings.Join(c.Health.Test, " ")
	case *instructions.CmdCommand:
		return strings.Join(c.CmdLine, " ")
	case *instructions.EntrypointCommand:
		return strings.Join(c.CmdLine, " ")
	}
	return ""
}
