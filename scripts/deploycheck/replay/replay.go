// Package replay re-runs a Dockerfile's build stages without Docker: each COPY from the build
// context into a temporary root, each RUN's go build there with the stage's environment. A
// Dockerfile that forgets to COPY what the build needs fails here as it would in docker build.
package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/shlex"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Result is what a replay produced: the temporary root (container paths live under it).
type Result struct {
	Root string
}

// Path maps a path of the build container to the replay's root.
func (r Result) Path(p string) string { return filepath.Join(r.Root, filepath.FromSlash(p)) }

// Build replays every stage before the final one of the Dockerfile at dockerfile, with
// contextDir as the build context (its .dockerignore applied) and root as the empty directory
// standing for the containers' /. buildArgs override ARG defaults.
func Build(ctx context.Context, dockerfile, contextDir, root string, buildArgs map[string]string) (Result, error) {
	res := Result{Root: root}
	dt, err := os.ReadFile(dockerfile)
	if err != nil {
		return res, fmt.Errorf("replay: %w", err)
	}
	ast, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		return res, fmt.Errorf("replay %s: %w", dockerfile, err)
	}
	stages, _, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		return res, fmt.Errorf("replay %s: %w", dockerfile, err)
	}
	if len(stages) < 2 {
		return res, fmt.Errorf("replay %s: no build stage", dockerfile)
	}
	ignore, err := dockerignore(contextDir)
	if err != nil {
		return res, err
	}
	for _, st := range stages[:len(stages)-1] {
		s := &stage{ctx: ctx, root: root, contextDir: contextDir, ignore: ignore, cwd: "/", env: map[string]string{}, args: buildArgs}
		for _, c := range st.Commands {
			if err := s.run(c); err != nil {
				return res, fmt.Errorf("replay %s, stage %s, line %d: %w", filepath.Base(dockerfile), st.Name, line(c), err)
			}
		}
	}
	return res, nil
}

type stage struct {
	ctx        context.Context
	root       string
	contextDir string
	ignore     *patternmatcher.PatternMatcher
	cwd        string // in the container
	env        map[string]string
	args       map[string]string
}

func (s *stage) run(c instructions.Command) error {
	switch c := c.(type) {
	case *instructions.ArgCommand:
		for _, a := range c.Args {
			if v, ok := s.args[a.Key]; ok {
				s.env[a.Key] = v
			} else if a.Value != nil {
				s.env[a.Key] = s.expand(*a.Value)
			}
		}
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			s.env[kv.Key] = s.expand(kv.Value)
		}
	case *instructions.WorkdirCommand:
		s.cwd = s.abs(s.expand(c.Path))
		return os.MkdirAll(s.host(s.cwd), 0o755)
	case *instructions.CopyCommand:
		if c.From != "" {
			return fmt.Errorf("COPY --from=%s in a build stage is not replayed", c.From)
		}
		dest := s.abs(s.expand(c.DestPath))
		for _, src := range c.SourcePaths {
			if err := s.copy(s.expand(src), dest); err != nil {
				return err
			}
		}
	case *instructions.RunCommand:
		return s.runShell(strings.Join(c.CmdLine, " "))
	case *instructions.LabelCommand, *instructions.ExposeCommand:
	default:
		return fmt.Errorf("%s is not replayed", c.Name())
	}
	return nil
}

// runShell runs a RUN line made of simple commands joined by &&: go (the real toolchain), mkdir
// and cd. Anything else is refused rather than skipped, so the replay never passes by ignoring.
func (s *stage) runShell(line string) error {
	for part := range strings.SplitSeq(line, "&&") {
		words, err := shlex.Split(s.expand(part))
		if err != nil {
			return fmt.Errorf("RUN %q: %w", part, err)
		}
		env := map[string]string{}
		for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
			k, v, _ := strings.Cut(words[0], "=")
			env[k], words = v, words[1:]
		}
		if len(words) == 0 {
			return fmt.Errorf("RUN %q: no command", part)
		}
		args := make([]string, len(words)-1)
		for i, w := range words[1:] {
			args[i] = s.mapArg(w)
		}
		switch words[0] {
		case "cd":
			if len(args) != 1 {
				return fmt.Errorf("RUN cd wants one directory, got %q", words[1:])
			}
			s.cwd = s.abs(words[1])
		case "mkdir":
			for _, a := range words[1:] {
				if !strings.HasPrefix(a, "-") {
					if err := os.MkdirAll(s.host(a), 0o755); err != nil {
						return err
					}
				}
			}
		case "go":
			if err := s.goCmd(args, env); err != nil {
				return err
			}
		default:
			return fmt.Errorf("RUN %s is not replayed (go, mkdir and cd are)", words[0])
		}
	}
	return nil
}

func (s *stage) goCmd(args []string, cmdEnv map[string]string) error {
	cmd := exec.CommandContext(s.ctx, "go", args...)
	cmd.Dir = s.host(s.cwd)
	cmd.Env = containerEnv(s.env, cmdEnv)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// containerEnv is the environment of a RUN: the stage's ENV and ARGs, the command's own
// assignments, and of the host only what finds the toolchain and its caches. GOWORK, GOFLAGS
// and CGO_ENABLED are the container's defaults (unset), not the host's.
func containerEnv(stageEnv, cmdEnv map[string]string) []string {
	keep := []string{"PATH", "HOME", "GOCACHE", "GOMODCACHE", "GOPATH", "GOPROXY", "GONOSUMDB", "GONOSUMCHECK", "GOPRIVATE", "GOSUMDB", "TMPDIR"}
	var env []string
	for _, k := range keep {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, "GOTOOLCHAIN=local", "GOFLAGS=")
	for _, m := range []map[string]string{stageEnv, cmdEnv} {
		for k, v := range m {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// copy copies src (relative to the build context; a directory's contents, as COPY does) to
// dest in the container, leaving out what .dockerignore excludes.
func (s *stage) copy(src, dest string) error {
	from := filepath.Join(s.contextDir, filepath.FromSlash(path.Clean(src)))
	info, err := os.Stat(from)
	if err != nil {
		return fmt.Errorf("COPY %s: %w", src, err)
	}
	if !info.IsDir() {
		to := s.host(dest)
		if strings.HasSuffix(dest, "/") {
			to = filepath.Join(to, filepath.Base(from))
		}
		return copyFile(from, to, info.Mode())
	}
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(s.contextDir, p)
		if err != nil {
			return err
		}
		if s.ignore != nil && rel != "." {
			if skip, err := s.ignore.MatchesOrParentMatches(filepath.ToSlash(rel)); err != nil {
				return err
			} else if skip {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		inner, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		to := filepath.Join(s.host(dest), inner)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		return copyFile(p, to, fi.Mode())
	})
}

func copyFile(from, to string, mode fs.FileMode) error {
	dt, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, dt, mode.Perm())
}

func dockerignore(contextDir string) (*patternmatcher.PatternMatcher, error) {
	f, err := os.Open(filepath.Join(contextDir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("replay: .dockerignore: %w", err)
	}
	return patternmatcher.New(patterns)
}

func (s *stage) expand(v string) string {
	return os.Expand(v, func(k string) string { return s.env[k] })
}

// abs resolves a container path against the working directory.
func (s *stage) abs(p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(s.cwd, p)
}

// host maps a container path under the replay's root.
func (s *stage) host(p string) string { return filepath.Join(s.root, filepath.FromSlash(s.abs(p))) }

// mapArg maps an absolute container path among a command's arguments (go build -o /out/x).
func (s *stage) mapArg(w string) string {
	if path.IsAbs(w) {
		return s.host(w)
	}
	return w
}

func line(c instructions.Command) int {
	if l, ok := c.(interface{ Location() []parser.Range }); ok && len(l.Location()) > 0 {
		return l.Location()[0].Start.Line
	}
	return 0
}
