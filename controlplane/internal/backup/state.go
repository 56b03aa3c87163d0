package backup

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// pageState is the page hashes of the database a backup reconstructs.
type pageState struct {
	Name     string
	PageSize int
	Hashes   [][32]byte
}

// state is the page cache: the hashes of the last full and of the previous backup, which a
// differential and an incremental compare with. It lives beside the database, not in it: a
// write to the database would make every incremental see a change.
type state struct {
	Dir        string
	Full, Prev pageState
}

func (e *Engine) statePath() string { return e.o.DB + ".backup-pages" }

// state returns the page cache, rebuilt from the backups (by restoring the newest full and the
// newest backup) when it is missing or describes other backups (a new host, a restore, a
// backup taken by another copy of the database).
func (e *Engine) state(list []Info) (*state, error) {
	full, prev := newest(list, Full), newest(list, "")
	if data, err := os.ReadFile(e.statePath()); err == nil {
		var st state
		if gob.NewDecoder(bytes.NewReader(data)).Decode(&st) == nil && st.Dir == e.o.Dir &&
			st.Full.Name == full.Name && st.Prev.Name == prev.Name {
			return &st, nil
		}
	}
	e.o.Log.Info("rebuilding the page cache from the backups", zap.String("full", full.Name), zap.String("previous", prev.Name))
	idx := byName(list)
	st := &state{Dir: e.o.Dir}
	for _, t := range []struct {
		name string
		into *pageState
	}{{full.Name, &st.Full}, {prev.Name, &st.Prev}} {
		if t.name == st.Full.Name {
			*t.into = st.Full
			continue
		}
		ch, err := chain(idx, t.name)
		if err != nil {
			return nil, fmt.Errorf("rebuild page cache: %w", err)
		}
		img, _, err := e.rebuild(ch)
		if err != nil {
			return nil, fmt.Errorf("rebuild page cache: %w", err)
		}
		size, _ := pageSize(img)
		*t.into = pageState{Name: t.name, PageSize: size, Hashes: pageHashes(img, size)}
	}
	if err := e.saveState(st); err != nil {
		e.o.Log.Warn("page cache not saved", zap.Error(err))
	}
	return st, nil
}

// saveState writes the page cache atomically.
func (e *Engine) saveState(st *state) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		return fmt.Errorf("page cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(e.statePath()), ".backup-pages-*.tmp")
	if err != nil {
		return fmt.Errorf("page cache: %w", err)
	}
	_, err = tmp.Write(buf.Bytes())
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), e.statePath())
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("page cache: %w", err)
	}
	return nil
}
