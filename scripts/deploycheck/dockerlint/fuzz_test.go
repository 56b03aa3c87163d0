package dockerlint

import (
	"os"
	"path/filepath"
	"testing"
)

// The project's rules take any Dockerfile BuildKit's parser accepts without panicking.
func FuzzProjectRules(f *testing.F) {
	for _, name := range []string{"good.Dockerfile", "bad-single-stage.Dockerfile", "bad-base-untagged.Dockerfile"} {
		dt, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(dt)
	}
	f.Add([]byte("FROM a:b@sha256:00\nUSER 0:0\nHEALTHCHECK NONE\nLABEL x=\n"))
	f.Fuzz(func(t *testing.T, dt []byte) {
		stages, err := parse(dt)
		if err != nil {
			return
		}
		for _, f := range projectRules("Dockerfile", stages) {
			if f.Rule == "" || f.Msg == "" {
				t.Fatalf("empty finding %+v", f)
			}
		}
	})
}
