package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Tier is the kind of a backup.
type Tier string

// The tiers, largest first: when two are due at once the larger one runs.
const (
	Full         Tier = "full"
	Differential Tier = "differential"
	Incremental  Tier = "incremental"
)

// Tiers lists the tiers, largest first.
var Tiers = []Tier{Full, Differential, Incremental}

// ParseTier accepts a tier's name or its short form in file names (full, diff, incr).
func ParseTier(s string) (Tier, error) {
	for _, t := range Tiers {
		if s == string(t) || s == t.short() {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown backup tier %q (want full, diff or incr)", s)
}

func (t Tier) short() string {
	switch t {
	case Differential:
		return "diff"
	case Incremental:
		return "incr"
	}
	return string(t)
}

const (
	magic      = "PMBK"
	version    = 1
	ext        = ".pmbk"
	timeLayout = "20060102T150405Z"
	maxHeader  = 4096
)

// FileName is the name of the backup of tier t taken at at: 20261122T020000Z-full.pmbk.
func FileName(t Tier, at time.Time) string {
	return at.UTC().Format(timeLayout) + "-" + t.short() + ext
}

// Header is the plaintext start of a backup file: enough to list and chain backups without
// the key, and nothing secret. The manifest inside repeats it under the encryption's
// authentication; a file where the two disagree is refused.
type Header struct {
	Tier Tier      `json:"tier"`
	Time time.Time `json:"time"`
	Base string    `json:"base,omitempty"` // the backup this one applies to; "" for a full
}

// manifest is the authenticated description of a backup's payload.
type manifest struct {
	Header
	Name        string   `json:"name"`
	PageSize    int      `json:"page_size"`
	PageCount   int      `json:"page_count"`   // of the database this backup reconstructs
	ImageSHA256 string   `json:"image_sha256"` // of the whole database it reconstructs
	Pages       []uint32 `json:"pages"`        // page numbers stored (0-based), ascending
	PagesSHA256 string   `json:"pages_sha256"` // of the stored pages' bytes, in order
}

// writeFile writes a backup atomically: a temporary file in dir, fsynced, renamed to its name,
// and the directory fsynced. A crash leaves either nothing or a complete file.
func writeFile(dir string, key *Key, m *manifest, image []byte) (size int64, err error) {
	final := filepath.Join(dir, m.Name)
	if _, err := os.Lstat(final); err == nil {
		return 0, fmt.Errorf("write %s: a backup with this name already exists", final)
	}
	tmp, err := os.CreateTemp(dir, "."+m.Name+".*.tmp")
	if err != nil {
		return 0, fmt.Errorf("write backup: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := encode(tmp, key, m, image); err != nil {
		return 0, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	st, err := tmp.Stat()
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return 0, fmt.Errorf("write backup: %w", err)
	}
	return st.Size(), syncDir(dir)
}

func encode(w io.Writer, key *Key, m *manifest, image []byte) error {
	h, err := json.Marshal(m.Header)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "%s %d %s\n", magic, version, h); err != nil {
		return err
	}
	enc, err := key.encrypt(w)
	if err != nil {
		return fmt.Errorf("encrypt: %w", err)
	}
	zw, err := zstd.NewWriter(enc, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	mj, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := binary.Write(zw, binary.BigEndian, uint32(len(mj))); err != nil {
		return err
	}
	if _, err := zw.Write(mj); err != nil {
		return err
	}
	for _, p := range m.Pages {
		off := int(p) * m.PageSize
		if _, err := zw.Write(image[off : off+m.PageSize]); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return enc.Close()
}

// readHeader reads the plaintext header at the start of r.
func readHeader(br *bufio.Reader) (Header, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return Header{}, fmt.Errorf("no backup header: %w", noEOF(err))
	}
	var h Header
	rest, ok := bytes.CutPrefix(line, []byte(fmt.Sprintf("%s %d ", magic, version)))
	if !ok {
		return Header{}, errors.New("not a proxy-manager backup (bad magic or version)")
	}
	if err := json.Unmarshal(rest, &h); err != nil {
		return Header{}, fmt.Errorf("bad backup header: %w", err)
	}
	if _, err := ParseTier(string(h.Tier)); err != nil {
		return Header{}, fmt.Errorf("bad backup header: %w", err)
	}
	return h, nil
}

// ReadHeader reads the plaintext header of the backup file path (no key needed).
func ReadHeader(path string) (Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, err
	}
	defer f.Close()
	h, err := readHeader(bufio.NewReaderSize(io.LimitReader(f, maxHeader), maxHeader))
	if err != nil {
		return Header{}, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if want := FileName(h.Tier, h.Time); want != filepath.Base(path) {
		return Header{}, fmt.Errorf("%s: its header says %s", filepath.Base(path), want)
	}
	return h, nil
}

// readFile decrypts and checks the backup at path: the header, the manifest, the agreement of
// the two and with the file name, and the checksum of the stored pages. It returns the
// manifest and the pages' bytes (in manifest.Pages order).
func readFile(path string, key *Key) (*manifest, []byte, error) {
	name := filepath.Base(path)
	fail := func(err error) (*manifest, []byte, error) { return nil, nil, fmt.Errorf("%s: %w", name, err) }
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, maxHeader)
	h, err := readHeader(br)
	if err != nil {
		return fail(err)
	}
	dec, err := key.decrypt(br)
	if err != nil {
		return fail(fmt.Errorf("decrypt: %w", err))
	}
	zr, err := zstd.NewReader(dec, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<34))
	if err != nil {
		return fail(err)
	}
	defer zr.Close()
	var n uint32
	if err := binary.Read(zr, binary.BigEndian, &n); err != nil {
		return fail(fmt.Errorf("read manifest: %w", noEOF(err)))
	}
	if n > 64<<20 {
		return fail(fmt.Errorf("manifest of %d bytes is too large", n))
	}
	mj := make([]byte, n)
	if _, err := io.ReadFull(zr, mj); err != nil {
		return fail(fmt.Errorf("read manifest: %w", noEOF(err)))
	}
	m := &manifest{}
	if err := json.Unmarshal(mj, m); err != nil {
		return fail(fmt.Errorf("bad manifest: %w", err))
	}
	if err := m.check(h, name); err != nil {
		return fail(err)
	}
	pages := make([]byte, len(m.Pages)*m.PageSize)
	if _, err := io.ReadFull(zr, pages); err != nil {
		return fail(fmt.Errorf("read pages: %w", noEOF(err)))
	}
	if extra, err := io.Copy(io.Discard, zr); err != nil || extra != 0 {
		return fail(fmt.Errorf("after the pages: %d extra bytes, %w", extra, noEOF(err)))
	}
	if sum := sha256.Sum256(pages); hex.EncodeToString(sum[:]) != m.PagesSHA256 {
		return fail(errors.New("the stored pages do not match their checksum"))
	}
	return m, pages, nil
}

// check compares the authenticated manifest with the plaintext header and the file name.
func (m *manifest) check(h Header, name string) error {
	switch {
	case m.Tier != h.Tier || !m.Time.Equal(h.Time) || m.Base != h.Base:
		return fmt.Errorf("the plaintext header (%s %s base %q) disagrees with the authenticated manifest (%s %s base %q)",
			h.Tier, h.Time.Format(time.RFC3339), h.Base, m.Tier, m.Time.Format(time.RFC3339), m.Base)
	case m.Name != name:
		return fmt.Errorf("the manifest names it %s", m.Name)
	case m.PageSize < 512 || m.PageSize > 65536 || m.PageSize&(m.PageSize-1) != 0:
		return fmt.Errorf("bad page size %d", m.PageSize)
	case m.PageCount < 1 || (m.Tier == Full && len(m.Pages) != m.PageCount):
		return fmt.Errorf("bad page count %d (%d pages stored)", m.PageCount, len(m.Pages))
	case (m.Tier == Full) != (m.Base == ""):
		return errors.New("a full backup has no base, the others have one")
	case !ascending(m.Pages) || len(m.Pages) > 0 && int(m.Pages[len(m.Pages)-1]) >= m.PageCount:
		return errors.New("bad page list")
	}
	return nil
}

// ascending reports whether p is strictly increasing (no page stored twice).
func ascending(p []uint32) bool {
	for i := 1; i < len(p); i++ {
		if p[i] <= p[i-1] {
			return false
		}
	}
	return true
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the file is truncated (%w)", err)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !strings.Contains(err.Error(), "invalid argument") {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
