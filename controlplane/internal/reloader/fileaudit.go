package reloader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/textdiff"
	"github.com/proxy-manager/proxy-manager/pkg/config"
)

// Every configuration file a reload accepts or rejects is audited on its own, with its text
// before (old_value) and after (new_value), secrets redacted (redact.go), and the unified diff:
//
//	config_file_added     a file the previous accepted configuration did not have
//	config_file_changed   a file whose text changed
//	config_file_removed   a file no longer in the directory (new_value empty)
//	config_file_rejected  a file a rejected reload found errors in: new_value is the text on
//	                      disk, notes its errors (file:line:column: reason); nothing is recorded
//	                      as accepted, so the next good reload compares with the same old text
//
// resource_type is "site" or "global", resource_id the file name. The accepted text of each file
// is kept in the store (config_files) across restarts, so that an edit made while the control
// plane was stopped is audited at the next start. The first reload with an empty record (a new
// install, or the first start after the upgrade that added it) audits every file as added.

// Audit actions of the configuration file entries.
const (
	actionFileAdded    = "config_file_added"
	actionFileChanged  = "config_file_changed"
	actionFileRemoved  = "config_file_removed"
	actionFileRejected = "config_file_rejected"
)

// configFile is one file of an accepted configuration.
type configFile struct {
	key      string // "site:a.yaml" or "global:global.yaml", the store's name
	kind     string // "site" or "global"
	name     string // file name
	text     string // secrets redacted
	describe string // for notes: "site community" or "global file"
}

// filesOf lists the files of cfg with their redacted text.
func filesOf(cfg *config.Config) []configFile {
	var out []configFile
	if g := cfg.Global; g.File != "" && g.Source != nil {
		out = append(out, newConfigFile("global", g.File, g.Source, "global file"))
	}
	for _, s := range cfg.Sites {
		out = append(out, newConfigFile("site", s.File, s.Source, "site "+s.Name))
	}
	return out
}

func newConfigFile(kind, path string, src []byte, describe string) configFile {
	name := filepath.Base(path)
	text, ok := redactYAML(src)
	if !ok {
		text = unparsable(src)
	}
	return configFile{key: kind + ":" + name, kind: kind, name: name, text: text, describe: describe}
}

// unparsable stands for the text of a file that is not YAML: its secrets cannot be found, so only
// a fingerprint is kept.
func unparsable(src []byte) string {
	sum := sha256.Sum256(src)
	return fmt.Sprintf("# not recorded: the file does not parse as YAML, so its secrets cannot be redacted (%d bytes, sha256 %s)\n",
		len(src), hex.EncodeToString(sum[:]))
}

// fileChanges compares the files of an accepted configuration with the texts recorded before
// (store name → text). It returns the records to write (nil: forget the file) and the entries.
func fileChanges(prev map[string]string, files []configFile, version uint64, source, user string, now time.Time) (map[string]*string, []store.AuditEntry) {
	records := map[string]*string{}
	var entries []store.AuditEntry
	live := map[string]bool{}
	for _, f := range files {
		live[f.key] = true
		old, known := prev[f.key]
		if known && old == f.text {
			continue
		}
		action := actionFileChanged
		if !known {
			action = actionFileAdded
		}
		records[f.key] = &f.text
		entries = append(entries, fileEntry(action, f.kind, f.name, old, f.text, user, source, now,
			fmt.Sprintf("version %d: %s %s", version, f.describe, strings.TrimPrefix(action, "config_file_"))))
	}
	keys := make([]string, 0, len(prev))
	for k := range prev {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if live[k] {
			continue
		}
		kind, name, _ := strings.Cut(k, ":")
		records[k] = nil
		entries = append(entries, fileEntry(actionFileRemoved, kind, name, prev[k], "", user, source, now,
			fmt.Sprintf("version %d: %s file %s removed", version, kind, name)))
	}
	return records, entries
}

func fileEntry(action, kind, name, old, cur, user, source string, now time.Time, notes string) store.AuditEntry {
	return store.AuditEntry{Time: now, User: user, Action: action, ResourceType: kind, ResourceID: name,
		OldValue: old, NewValue: cur, Diff: textdiff.Unified("a/"+name, "b/"+name, old, cur), Source: source, Notes: notes}
}

// auditFiles records the files of an accepted configuration and audits their changes.
func (r *Reloader) auditFiles(ctx context.Context, cfg *config.Config, version uint64, source, user string, now time.Time) {
	prev, err := r.store.ConfigFiles(ctx)
	if err == nil {
		records, entries := fileChanges(prev, filesOf(cfg), version, source, user, now)
		if len(records) == 0 {
			return
		}
		err = r.store.RecordConfigFiles(ctx, records, entries, now)
	}
	if err != nil {
		r.log.Error("audit configuration files; the file changes of this version are not audited", zap.Uint64("version", version), zap.Error(err))
	}
}

// auditRejectedFiles writes a config_file_rejected entry for each file the errors of a rejected
// reload name, with the text on disk now (read again: the loader does not return it for a
// rejected configuration) against the text last accepted.
func (r *Reloader) auditRejectedFiles(ctx context.Context, errs []error, source, user string, now time.Time) {
	byFile := map[string][]string{}
	var order []string
	for _, e := range errs {
		var ce config.Error
		if !errors.As(e, &ce) || ce.File == "" {
			continue
		}
		if _, seen := byFile[ce.File]; !seen {
			order = append(order, ce.File)
		}
		byFile[ce.File] = append(byFile[ce.File], e.Error())
	}
	if len(order) == 0 {
		return
	}
	prev, err := r.store.ConfigFiles(ctx)
	if err != nil {
		r.log.Error("audit rejected configuration files", zap.Error(err))
		return
	}
	for _, path := range order {
		kind := "site"
		if path == r.globalPath {
			kind = "global"
		}
		name := filepath.Base(path)
		var cur string
		if src, err := os.ReadFile(path); err == nil {
			if text, ok := redactYAML(src); ok {
				cur = text
			} else {
				cur = unparsable(src)
			}
		}
		e := fileEntry(actionFileRejected, kind, name, prev[kind+":"+name], cur, user, source, now, strings.Join(byFile[path], "\n"))
		r.audit(ctx, e)
	}
}
