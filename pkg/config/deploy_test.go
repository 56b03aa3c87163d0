package config

import (
	"path/filepath"
	"testing"
)

// TestDeployConfigsLoad keeps the shipped configurations loadable: deploy/global.yaml (make run)
// and deploy/global.swarm.yaml (the Swarm stack's config), each with the example sites.
func TestDeployConfigsLoad(t *testing.T) {
	deploy := filepath.Join("..", "..", "deploy")
	for _, global := range []string{"global.yaml", "global.swarm.yaml"} {
		t.Run(global, func(t *testing.T) {
			cfg, err := Load(filepath.Join(deploy, global), filepath.Join(deploy, "sites-available"))
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Sites) == 0 {
				t.Fatal("no sites loaded from deploy/sites-available")
			}
		})
	}
}
