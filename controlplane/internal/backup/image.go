package backup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"

	sqlite "modernc.org/sqlite" // also registers the "sqlite" driver
)

// backuper is the online backup API on modernc.org/sqlite's driver connection.
type backuper interface {
	NewBackup(dstURI string) (*sqlite.Backup, error)
}

// snapshot copies the database at dbPath with SQLite's online backup API into a temporary file
// in tmpDir and returns its bytes. Unlike VACUUM INTO, the backup API keeps page numbers, which
// the differential and incremental tiers compare page by page. It copies in one step, so the
// copy is one consistent read transaction; writers (WAL) are not blocked.
func snapshot(ctx context.Context, dbPath, tmpDir string) ([]byte, error) {
	if _, err := os.Stat(dbPath); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+dbPath+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dbPath, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dbPath, err)
	}
	defer conn.Close()
	tmp, err := os.CreateTemp(tmpDir, ".snapshot-*.db")
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	err = conn.Raw(func(dc any) error {
		b, ok := dc.(backuper)
		if !ok {
			return errors.New("the sqlite driver has no backup API")
		}
		bk, err := b.NewBackup(tmp.Name())
		if err != nil {
			return err
		}
		if _, err := bk.Step(-1); err != nil {
			return errors.Join(err, bk.Finish())
		}
		return bk.Finish()
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dbPath, err)
	}
	img, err := os.ReadFile(tmp.Name())
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if _, err := pageSize(img); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dbPath, err)
	}
	return img, nil
}

// pageSize reads the page size from a database image's header and checks the image is a
// whole number of pages.
func pageSize(img []byte) (int, error) {
	if len(img) < 100 || string(img[:16]) != "SQLite format 3\x00" {
		return 0, errors.New("not an SQLite database image")
	}
	n := int(binary.BigEndian.Uint16(img[16:18]))
	if n == 1 {
		n = 65536
	}
	if n < 512 || n&(n-1) != 0 || len(img)%n != 0 {
		return 0, fmt.Errorf("bad page size %d for an image of %d bytes", n, len(img))
	}
	return n, nil
}

// pageHashes returns the SHA-256 of every page of img.
func pageHashes(img []byte, size int) [][32]byte {
	h := make([][32]byte, len(img)/size)
	for i := range h {
		h[i] = sha256.Sum256(img[i*size : (i+1)*size])
	}
	return h
}

// changedPages lists the pages of cur (hashes) that differ from base or are beyond it.
func changedPages(cur, base [][32]byte) []uint32 {
	var out []uint32
	for i, h := range cur {
		if i >= len(base) || base[i] != h {
			out = append(out, uint32(i))
		}
	}
	return out
}

// apply rebuilds the image a backup describes from its base image (nil for a full) and checks
// its checksum.
func apply(base []byte, m *manifest, pages []byte) ([]byte, error) {
	size := m.PageCount * m.PageSize
	var img []byte
	if m.Tier == Full {
		img = make([]byte, size)
	} else {
		if bs, err := pageSize(base); err != nil || bs != m.PageSize {
			return nil, fmt.Errorf("%s: its base has another page size", m.Name)
		}
		img = make([]byte, size)
		copy(img, base) // a database that shrank is cut; one that grew gets its new pages below
	}
	for i, p := range m.Pages {
		copy(img[int(p)*m.PageSize:], pages[i*m.PageSize:(i+1)*m.PageSize])
	}
	if sum := sha256.Sum256(img); fmt.Sprintf("%x", sum) != m.ImageSHA256 {
		return nil, fmt.Errorf("%s: the rebuilt database does not match its checksum", m.Name)
	}
	return img, nil
}

// integrityCheck writes img to a temporary file in dir and runs PRAGMA integrity_check on it.
// It returns the file's path when keep is true (the caller owns it), else removes it.
func integrityCheck(ctx context.Context, img []byte, dir string, keep bool) (path string, err error) {
	f, err := os.CreateTemp(dir, ".restore-*.db")
	if err != nil {
		return "", fmt.Errorf("integrity check: %w", err)
	}
	path = f.Name()
	defer func() {
		if err != nil || !keep {
			os.Remove(path)
			os.Remove(path + "-wal")
			os.Remove(path + "-shm")
		}
	}()
	if _, err := f.Write(img); err != nil {
		f.Close()
		return "", fmt.Errorf("integrity check: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("integrity check: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("integrity check: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return "", fmt.Errorf("integrity check: %w", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return "", fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return "", fmt.Errorf("integrity check: %w", err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("integrity check failed: %v", problems[:min(len(problems), 5)])
	}
	return path, nil
}
