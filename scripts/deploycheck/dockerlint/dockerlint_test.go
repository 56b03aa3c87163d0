package dockerlint

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// The project's own Dockerfiles pass every rule.
func TestProjectDockerfiles(t *testing.T) {
	for _, name := range []string{"Dockerfile.controlplane", "Dockerfile.dataplane"} {
		t.Run(name, func(t *testing.T) {
			got, err := Lint(context.Background(), filepath.Join("..", "..", "..", name))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range got {
				t.Errorf("%s", f)
			}
		})
	}
}

// Each broken Dockerfile in testdata is caught by the rule named for it, so the checker itself is
// proven; the good one beside them passes.
func TestLintCatches(t *testing.T) {
	tests := []struct {
		file, rule, msg string
	}{
		{file: "good.Dockerfile"},
		{file: "bad-single-stage.Dockerfile", rule: "MultiStage", msg: "got 1 stage"},
		{file: "bad-cgo-on.Dockerfile", rule: "GoBuild", msg: "CGO_ENABLED=0"},
		{file: "bad-no-trimpath.Dockerfile", rule: "GoBuild", msg: "-trimpath"},
		{file: "bad-no-user.Dockerfile", rule: "NonRootUser", msg: "no USER"},
		{file: "bad-root-user.Dockerfile", rule: "NonRootUser", msg: "USER root"},
		{file: "bad-no-healthcheck.Dockerfile", rule: "Healthcheck", msg: "no HEALTHCHECK"},
		{file: "bad-healthcheck-curl.Dockerfile", rule: "NoCurl", msg: "curl or wget"},
		{file: "bad-healthcheck-other.Dockerfile", rule: "Healthcheck", msg: "healthcheck subcommand"},
		{file: "bad-label-missing.Dockerfile", rule: "OCILabels", msg: "org.opencontainers.image.revision"},
		{file: "bad-label-literal.Dockerfile", rule: "OCILabels", msg: "build ARG"},
		{file: "bad-base-latest.Dockerfile", rule: "PinnedBase", msg: "not latest"},
		{file: "bad-base-untagged.Dockerfile", rule: "PinnedBase", msg: "without a tag"},
		{file: "bad-run-wget.Dockerfile", rule: "NoCurl", msg: "RUN uses"},
		// BuildKit's own rules.
		{file: "bad-buildkit-as-casing.Dockerfile", rule: "FromAsCasing"},
		{file: "bad-buildkit-shell-entrypoint.Dockerfile", rule: "JSONArgsRecommended"},
		{file: "bad-buildkit-undefined-var.Dockerfile", rule: "UndefinedVar", msg: "VERSON"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := Lint(context.Background(), filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if tc.rule == "" {
				for _, f := range got {
					t.Errorf("unexpected finding: %s", f)
				}
				return
			}
			for _, f := range got {
				if f.Rule == tc.rule && strings.Contains(f.Msg, tc.msg) {
					if f.File != tc.file {
						t.Errorf("finding names file %q, want %q", f.File, tc.file)
					}
					return
				}
			}
			t.Errorf("no %s finding containing %q; got %v", tc.rule, tc.msg, got)
		})
	}
}

func TestLintMissingFile(t *testing.T) {
	if _, err := Lint(context.Background(), filepath.Join("testdata", "absent.Dockerfile")); err == nil {
		t.Fatal("want an error for a missing file")
	}
}
