package replay

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var repo = filepath.Join("..", "..", "..")

// Each image's build stage, replayed from exactly the files it COPYs, builds a binary that runs.
// One go build per binary; the Go build cache makes later runs take seconds.
func TestProjectImagesBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles both binaries")
	}
	for _, bin := range []string{"dataplane", "controlplane"} {
		t.Run(bin, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			res, err := Build(ctx, filepath.Join(repo, "Dockerfile."+bin), repo, t.TempDir(), map[string]string{"VERSION": "replay-1"})
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(ctx, res.Path("/out/"+bin), "version").CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "replay-1" {
				t.Fatalf("%s version = %q, %v; want replay-1 (the VERSION build arg)", bin, out, err)
			}
		})
	}
}

// Broken variants of the real Dockerfiles fail the replay, so it is proven to catch them.
func TestReplayCatches(t *testing.T) {
	tests := []struct {
		desc, file, old, new, wantErr string
	}{
		{desc: "controlplane without ui", file: "Dockerfile.controlplane", old: "COPY ui/ ui/\n", new: "", wantErr: "ui"},
		{desc: "dataplane without pkg", file: "Dockerfile.dataplane", old: "COPY pkg/ pkg/\n", new: "", wantErr: "pkg"},
		{desc: "source not in the context", file: "Dockerfile.dataplane", old: "COPY pkg/ pkg/\n", new: "COPY pkg/ pkg/\nCOPY nothing-here/ x/\n", wantErr: "nothing-here"},
		{desc: "wrong package", file: "Dockerfile.dataplane", old: "./cmd/dataplane", new: "./cmd/nothing", wantErr: "cmd/nothing"},
		{desc: "command not replayed", file: "Dockerfile.dataplane", old: "WORKDIR /src\n", new: "WORKDIR /src\nRUN apk add --no-cache git\n", wantErr: "RUN apk is not replayed"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dt, err := os.ReadFile(filepath.Join(repo, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(dt), tc.old) {
				t.Fatalf("snippet not in %s (the test is stale): %q", tc.file, tc.old)
			}
			df := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(df, []byte(strings.Replace(string(dt), tc.old, tc.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, err = Build(ctx, df, repo, t.TempDir(), nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Build = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
