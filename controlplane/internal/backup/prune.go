package backup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// Prune applies retention: the newest Keep of each tier are kept (a tier with Keep 0 keeps
// all), and so is every file one of them needs to be restored (its chain). A kept backup whose
// chain is incomplete can never be restored: it is removed too. Files whose header cannot be
// read are left for verify to report. It returns the names removed.
func (e *Engine) Prune() ([]string, error) {
	list, err := e.List()
	if err != nil {
		return nil, err
	}
	idx := byName(list)
	count := map[Tier]int{}
	needed := map[string]bool{}
	for i := len(list) - 1; i >= 0; i-- {
		in := list[i]
		if in.Err != "" {
			continue
		}
		if n := e.o.Keep.of(in.Tier); n > 0 && count[in.Tier] >= n {
			continue
		}
		ch, err := chain(idx, in.Name)
		if err != nil {
			e.o.Log.Warn("removing a backup that can never be restored", zap.String("name", in.Name), zap.Error(err))
			continue
		}
		count[in.Tier]++
		for _, c := range ch {
			needed[c.Name] = true
		}
	}
	var removed []string
	var errs []error
	for _, in := range list {
		if in.Err != "" || needed[in.Name] {
			continue
		}
		if err := os.Remove(filepath.Join(e.o.Dir, in.Name)); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", in.Name, err))
			continue
		}
		removed = append(removed, in.Name)
	}
	if len(removed) > 0 {
		errs = append(errs, syncDir(e.o.Dir))
	}
	return removed, errors.Join(errs...)
}
