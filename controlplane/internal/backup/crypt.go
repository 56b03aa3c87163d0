package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
)

// Key encrypts and decrypts backups: an age X25519 identity or an scrypt passphrase, read
// from a file (a Docker secret). Its content is never logged; errors name only the file.
type Key struct {
	file      string
	recipient age.Recipient
	identity  age.Identity
}

// LoadKey reads the key from exactly one of identityFile (AGE-SECRET-KEY-1..., comments
// allowed) and passphraseFile (the first line is the passphrase).
func LoadKey(identityFile, passphraseFile string) (*Key, error) {
	switch {
	case identityFile != "" && passphraseFile != "":
		return nil, errors.New("backup key: give an identity file or a passphrase file, not both")
	case identityFile != "":
		data, err := os.ReadFile(identityFile)
		if err != nil {
			return nil, fmt.Errorf("backup key: %w", err)
		}
		ids, err := age.ParseIdentities(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("backup key %s: not an age identity file (make one with \"controlplane backup keygen --out FILE\"): %w", identityFile, err)
		}
		x, ok := ids[0].(*age.X25519Identity)
		if !ok || len(ids) != 1 {
			return nil, fmt.Errorf("backup key %s: want exactly one X25519 identity (AGE-SECRET-KEY-1...)", identityFile)
		}
		return &Key{file: identityFile, recipient: x.Recipient(), identity: x}, nil
	case passphraseFile != "":
		data, err := os.ReadFile(passphraseFile)
		if err != nil {
			return nil, fmt.Errorf("backup key: %w", err)
		}
		pass, _, _ := strings.Cut(string(data), "\n")
		pass = strings.TrimRight(pass, "\r")
		if len(pass) < 16 {
			return nil, fmt.Errorf("backup key %s: the passphrase is shorter than 16 characters", passphraseFile)
		}
		r, err := age.NewScryptRecipient(pass)
		if err != nil {
			return nil, fmt.Errorf("backup key %s: %w", passphraseFile, err)
		}
		id, err := age.NewScryptIdentity(pass)
		if err != nil {
			return nil, fmt.Errorf("backup key %s: %w", passphraseFile, err)
		}
		return &Key{file: passphraseFile, recipient: r, identity: id}, nil
	}
	return nil, errors.New("backup key: no identity file or passphrase file configured (backup.encryption)")
}

// File is the file the key was read from.
func (k *Key) File() string { return k.file }

func (k *Key) encrypt(w io.Writer) (io.WriteCloser, error) {
	return age.Encrypt(w, k.recipient)
}

func (k *Key) decrypt(r io.Reader) (io.Reader, error) {
	d, err := age.Decrypt(r, k.identity)
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		return nil, fmt.Errorf("the key in %s does not decrypt it (no identity matched): it was made with another key", k.file)
	}
	return d, err
}

// GenerateKey writes a new X25519 identity to path (mode 0600; an existing file is never
// overwritten) and returns its public recipient (age1...).
func GenerateKey(path string) (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	content := fmt.Sprintf("# proxy-manager backup key, public recipient: %s\n%s\n", id.Recipient(), id)
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return "", fmt.Errorf("keygen %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("keygen %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("keygen %s: %w", path, err)
	}
	return id.Recipient().String(), nil
}
