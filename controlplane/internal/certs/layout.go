package certs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// maxFileSize bounds what is read of one file; a chain of a dozen certificates is ~20 KiB.
const maxFileSize = 1 << 20

// Ranks order the candidates of one name: the lowest is used, the others are reported.
const (
	rankLive    = iota // live/<name>/
	rankLineage        // <name>/
	rankPair           // <name>.crt + <name>.key
	rankPEM            // <name>.pem
)

// certbotDirs are the directories of a certbot configuration that hold no lineage to serve.
var certbotDirs = map[string]bool{
	"archive": true, "renewal": true, "renewal-hooks": true, "accounts": true, "keys": true, "csr": true,
}

// lineageFiles are certbot's file names, which make a directory a lineage.
var lineageFiles = map[string]bool{"fullchain.pem": true, "privkey.pem": true, "cert.pem": true, "chain.pem": true}

// candidate is one place that provides the certificate called name. A missing file is "".
type candidate struct {
	name      string
	rank      int
	dir       string // the lineage directory; "" for flat files
	certFile  string
	chainFile string // chain.pem, appended to cert.pem when there is no fullchain.pem
	keyFile   string // certFile when one .pem holds both
	expect    string // the files looked for, for a missing certificate or key
}

// files are the candidate's files, for a Problem.
func (c candidate) files() []string {
	var out []string
	for _, f := range []string{c.certFile, c.chainFile, c.keyFile} {
		if f != "" && (len(out) == 0 || out[len(out)-1] != f) {
			out = append(out, f)
		}
	}
	return out
}

// what names the candidate in a message.
func (c candidate) what() string {
	switch {
	case c.dir != "":
		return "lineage " + c.dir
	case c.certFile != "":
		return c.certFile
	default:
		return c.keyFile
	}
}

// load reads and parses the candidate's files; the error is a *pairError.
func (c candidate) load() (*proxyv1.Certificate, error) {
	if c.certFile == "" {
		return nil, failf(KindMissingCert, "private key %s has no certificate (looked for %s)", describe(c.keyFile), c.expect)
	}
	certData, err := readFile(c.certFile)
	if err != nil {
		return nil, err
	}
	if c.chainFile != "" {
		chain, err := readFile(c.chainFile)
		if err != nil {
			return nil, err
		}
		certData = append(append(certData, '\n'), chain...)
	}
	if c.keyFile == "" {
		return nil, failf(KindMissingKey, "certificate %s has no private key (looked for %s)", describe(c.certFile), c.expect)
	}
	keyData := certData
	if c.keyFile != c.certFile {
		if keyData, err = readFile(c.keyFile); err != nil {
			return nil, err
		}
	}
	return parsePair(c.certFile, certData, c.keyFile, keyData)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, failf(KindBroken, "cannot read %s: %v", describe(path), unwrapPathError(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, failf(KindBroken, "cannot read %s: %v", describe(path), unwrapPathError(err))
	}
	if len(data) > maxFileSize {
		return nil, failf(KindBroken, "%s is larger than %d bytes, too large for a certificate or key", describe(path), maxFileSize)
	}
	return data, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ignored reports names that are never read: hidden files and directories (editor lock and
// swap files, Kubernetes' ..data), and editor leftovers that keep a known extension.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") || strings.HasSuffix(name, "~")
}

type fileKind int

const (
	notCertFile fileKind = iota
	certKind             // a certificate chain
	keyKind              // a private key
	pemKind              // a chain, with or without its key
)

var suffixes = []struct {
	suffix string
	kind   fileKind
}{
	{".cert.pem", certKind}, {".crt.pem", certKind}, {".key.pem", keyKind},
	{".crt", certKind}, {".cer", certKind}, {".key", keyKind}, {".pem", pemKind},
}

// classify tells a flat file's certificate name and role from its name.
func classify(name string) (string, fileKind) {
	lower := strings.ToLower(name)
	for _, s := range suffixes {
		if strings.HasSuffix(lower, s.suffix) && len(name) > len(s.suffix) {
			return name[:len(name)-len(s.suffix)], s.kind
		}
	}
	return "", notCertFile
}

// flatGroup is the flat files of one name, each list in file-name order.
type flatGroup struct{ certs, keys, pems []string }

// discover finds the candidates of dir. The error is about dir itself.
func discover(dir string) ([]candidate, []Problem, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, unwrapPathError(err)
	}
	var cands []candidate
	var problems []Problem
	groups := map[string]*flatGroup{}
	var order []string
	selfLineage := false
	for _, e := range entries {
		name := e.Name()
		if ignored(name) {
			continue
		}
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err == nil && fi.IsDir() { // follows symlinks
			switch {
			case name == "live":
				cands = append(cands, lineages(path)...)
			case certbotDirs[name]:
			default:
				if c, ok := lineage(path, name, rankLineage); ok {
					cands = append(cands, c)
				}
			}
			continue
		} else if err == nil && !fi.Mode().IsRegular() {
			continue // sockets, devices, fifos
		}
		// A file, or a symlink that leads nowhere: reading it will say so.
		if lineageFiles[name] {
			selfLineage = true
			continue
		}
		base, kind := classify(name)
		if kind == notCertFile {
			continue
		}
		g := groups[base]
		if g == nil {
			g = &flatGroup{}
			groups[base] = g
			order = append(order, base)
		}
		switch kind {
		case certKind:
			g.certs = append(g.certs, path)
		case keyKind:
			g.keys = append(g.keys, path)
		case pemKind:
			g.pems = append(g.pems, path)
		}
	}
	if selfLineage {
		if c, ok := lineage(dir, filepath.Base(dir), rankLineage); ok {
			c.dir = dir
			cands = append(cands, c)
		}
	}
	for _, base := range order {
		cs, ps := pairs(base, groups[base])
		cands, problems = append(cands, cs...), append(problems, ps...)
	}
	return cands, problems, nil
}

// pairs matches the flat files of one name.
func pairs(name string, g *flatGroup) ([]candidate, []Problem) {
	var cands []candidate
	var problems []Problem
	key := ""
	if len(g.keys) > 0 {
		key = g.keys[0]
		for _, k := range g.keys[1:] {
			problems = append(problems, Problem{Kind: KindDuplicate, Name: name, Files: []string{k, key},
				Reason: "private key " + k + " is ignored: " + key + " is the key of " + name})
		}
	}
	expect := name + ".key or " + name + ".key.pem"
	keyUsed := false
	for _, c := range g.certs {
		cands = append(cands, candidate{name: name, rank: rankPair, certFile: c, keyFile: key, expect: expect})
		keyUsed = true
	}
	var combined string
	for _, p := range g.pems {
		if holdsKey(p) {
			cands = append(cands, candidate{name: name, rank: rankPEM, certFile: p, keyFile: p})
			combined = p
			continue
		}
		cands = append(cands, candidate{name: name, rank: rankPEM, certFile: p, keyFile: key, expect: expect})
		keyUsed = true
	}
	switch {
	case key == "" || keyUsed:
	case combined != "":
		problems = append(problems, Problem{Kind: KindDuplicate, Name: name, Files: []string{key, combined},
			Reason: "private key " + key + " is ignored: " + combined + " holds the certificate and its own key"})
	default:
		cands = append(cands, candidate{name: name, rank: rankPair, keyFile: key,
			expect: name + ".crt, " + name + ".cer, " + name + ".cert.pem or " + name + ".pem"})
	}
	return cands, problems
}

// holdsKey reports whether a .pem file holds a private key (encrypted ones included), so it
// is a combined file rather than a chain waiting for its key file.
func holdsKey(path string) bool {
	data, err := readFile(path)
	return err == nil && bytes.Contains(data, []byte("PRIVATE KEY-----"))
}

// lineages returns the lineages of certbot's live/ directory.
func lineages(live string) []candidate {
	entries, err := os.ReadDir(live)
	if err != nil {
		return nil
	}
	var out []candidate
	for _, e := range entries {
		if ignored(e.Name()) {
			continue
		}
		p := filepath.Join(live, e.Name())
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			if c, ok := lineage(p, e.Name(), rankLive); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// lineage reads a certbot lineage directory: fullchain.pem (or cert.pem and chain.pem) and
// privkey.pem. A directory with none of them is no lineage.
func lineage(dir, name string, rank int) (candidate, bool) {
	c := candidate{name: name, rank: rank, dir: dir}
	has := func(f string) bool {
		_, err := os.Lstat(filepath.Join(dir, f)) // a dangling symlink counts: reading it will say why
		return err == nil
	}
	switch {
	case has("fullchain.pem"):
		c.certFile = filepath.Join(dir, "fullchain.pem")
	case has("cert.pem"):
		c.certFile = filepath.Join(dir, "cert.pem")
		if has("chain.pem") {
			c.chainFile = filepath.Join(dir, "chain.pem")
		}
	}
	if has("privkey.pem") {
		c.keyFile = filepath.Join(dir, "privkey.pem")
	}
	switch {
	case c.certFile == "":
		c.expect = filepath.Join(dir, "fullchain.pem")
	case c.keyFile == "":
		c.expect = filepath.Join(dir, "privkey.pem")
	}
	return c, c.certFile != "" || c.keyFile != ""
}
