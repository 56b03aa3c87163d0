package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// RestoreResult says what a restore did.
type RestoreResult struct {
	Target   string    `json:"target"`
	Previous string    `json:"previous,omitempty"` // where the replaced database was moved
	Chain    []string  `json:"chain"`
	At       time.Time `json:"at"`     // the time asked for
	Backup   time.Time `json:"backup"` // the point in time restored
}

// Restore rebuilds the database as of the newest backup at or before at, into a temporary file
// beside target, checks every checksum and PRAGMA integrity_check, records a backup_restored
// audit entry in it, and only then renames it over target. The database it replaces (and its
// -wal and -shm) is moved to <target>.before-restore-<time>. It refuses while <target>.lock is
// held: the control plane holds it while it runs.
func (e *Engine) Restore(ctx context.Context, at time.Time, target string) (RestoreResult, error) {
	res := RestoreResult{Target: target, At: at}
	lk, err := TryLock(target + ".lock")
	if errors.Is(err, ErrLocked) {
		return res, fmt.Errorf("restore %s: the control plane is running (it holds %s.lock); stop it first (docker service scale proxy_controlplane=0), restore, then start it again (docker service scale proxy_controlplane=1)", target, target)
	}
	if err != nil {
		return res, fmt.Errorf("restore %s: %w", target, err)
	}
	defer lk.Unlock()

	list, err := e.List()
	if err != nil {
		return res, err
	}
	var pick *Info
	for i := range list {
		if list[i].Err == "" && !list[i].Time.After(at) {
			pick = &list[i]
		}
	}
	if pick == nil {
		return res, fmt.Errorf("restore: no backup in %s at or before %s", e.o.Dir, at.Format(time.RFC3339))
	}
	// A damaged file newer than the pick might have been the one asked for: say so rather
	// than silently restore an older point in time.
	for _, in := range list {
		if ts, err := time.Parse(timeLayout, strings.SplitN(in.Name, "-", 2)[0]); in.Err != "" && err == nil && ts.After(pick.Time) && !ts.After(at) {
			return res, fmt.Errorf("restore: %s; choose a time before it with --at to restore %s (nothing was changed)", in.Err, pick.Name)
		}
	}
	ch, err := chain(byName(list), pick.Name)
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	for _, c := range ch {
		res.Chain = append(res.Chain, c.Name)
	}
	res.Backup = pick.Time
	img, _, err := e.rebuild(ch)
	if err != nil {
		return res, fmt.Errorf("restore: %w (nothing was changed)", err)
	}
	tmp, err := integrityCheck(ctx, img, filepath.Dir(target), true)
	if err != nil {
		return res, fmt.Errorf("restore %s: %w (nothing was changed)", pick.Name, err)
	}
	defer os.Remove(tmp) // after the rename, a no-op
	if err := e.auditRestore(ctx, tmp, res); err != nil {
		return res, fmt.Errorf("restore: %w (nothing was changed)", err)
	}
	if _, err := os.Stat(target); err == nil {
		res.Previous = target + ".before-restore-" + e.o.Now().UTC().Format(timeLayout)
		for _, suffix := range []string{"", "-wal", "-shm"} {
			err := os.Rename(target+suffix, res.Previous+suffix)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return res, fmt.Errorf("restore: keep the previous database: %w", err)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(filepath.Dir(target)); err != nil {
		return res, err
	}
	e.o.Log.Info("restored", zap.String("target", target), zap.Strings("chain", res.Chain), zap.Time("at", at))
	return res, nil
}

// auditRestore opens the restored database with the store (so it is migrated to this binary's
// schema) and records the restore in its audit log, then checkpoints it into the main file.
func (e *Engine) auditRestore(ctx context.Context, path string, res RestoreResult) error {
	st, err := store.Open(ctx, path, e.o.Log.Named("restored"))
	if err != nil {
		return fmt.Errorf("open the restored database: %w", err)
	}
	detail, _ := json.Marshal(map[string]any{"chain": res.Chain, "at": res.At.Format(time.RFC3339), "backup": res.Backup.Format(time.RFC3339)})
	aerr := st.Audit(ctx, store.AuditEntry{User: "admin", Action: "backup_restored", ResourceType: "database",
		ResourceID: res.Target, NewValue: string(detail), Source: "cli",
		Notes: fmt.Sprintf("restored from %d backup files as of %s", len(res.Chain), res.Backup.Format(time.RFC3339))})
	if err := errors.Join(aerr, st.Close()); err != nil {
		return fmt.Errorf("audit the restore: %w", err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return fmt.Errorf("the restored database was not checkpointed (%s remains)", path+"-wal")
	}
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	return nil
}

// Failure is a backup that verify could not restore.
type Failure struct {
	Name string `json:"name"`
	Err  string `json:"error"`
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Checked int       `json:"checked"`
	Failed  []Failure `json:"failed"`
}

// Verify restores every backup's point in time into a temporary file in tmpDir (the system's
// when empty) and checks it like a restore does. Each base image is rebuilt once and kept only
// while a later backup needs it.
func (e *Engine) Verify(ctx context.Context, tmpDir string) (VerifyReport, error) {
	var rep VerifyReport
	list, err := e.List()
	if err != nil {
		return rep, err
	}
	if tmpDir == "" {
		tmpDir = os.TempDir()
	}
	children := map[string]int{}
	for _, in := range list {
		if in.Err == "" && in.Base != "" {
			children[in.Base]++
		}
	}
	images := map[string][]byte{}
	failed := map[string]bool{}
	for _, in := range list {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.Checked++
		fail := func(err error) {
			rep.Failed = append(rep.Failed, Failure{Name: in.Name, Err: err.Error()})
			failed[in.Name] = true
		}
		if in.Err != "" {
			fail(errors.New(in.Err))
			continue
		}
		var base []byte
		if in.Base != "" {
			children[in.Base]--
			b, ok := images[in.Base]
			if children[in.Base] == 0 {
				delete(images, in.Base)
			}
			switch {
			case failed[in.Base]:
				fail(fmt.Errorf("its base %s cannot be restored", in.Base))
				continue
			case !ok:
				fail(fmt.Errorf("its base %s is missing", in.Base))
				continue
			}
			base = b
		}
		m, pages, err := readFile(filepath.Join(e.o.Dir, in.Name), e.o.Key)
		if err != nil {
			fail(err)
			continue
		}
		img, err := apply(base, m, pages)
		if err != nil {
			fail(err)
			continue
		}
		if _, err := integrityCheck(ctx, img, tmpDir, false); err != nil {
			fail(err)
			continue
		}
		if children[in.Name] > 0 {
			images[in.Name] = img
		}
	}
	return rep, nil
}
