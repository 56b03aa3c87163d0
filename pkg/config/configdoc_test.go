package config

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The keys docs/CONFIG.md documents before the code of this branch has them, as "namespace
// key". A key listed here that the code has (after a merge) fails the test: remove it here.
var docOnlyKeys = map[string]string{
	// Read by the Go runtime (time.Local), not by a flag.
	"env controlplane TZ": "Go runtime",
}

// configDoc is what the test reads of docs/CONFIG.md.
type configDoc struct {
	examples []docExample
	keys     map[string]map[string]string // namespace → key → its table row
}

type docExample struct {
	line int    // of the opening fence
	kind string // the first line's comment: "global.yaml", "sites-available/x.yaml" or "policy section"
	src  string
}

// namespaces maps CONFIG.md's headings to the key namespaces their tables document.
var namespaces = map[string]string{
	"global.yaml": "global", "Site files": "site", "Policy sections": "policy",
	"Environment variables controlplane": "env controlplane", "Environment variables dataplane": "env dataplane",
}

var keyRow = regexp.MustCompile("^\\| `([^`]+)` \\|")

func readConfigDoc(t *testing.T) configDoc {
	t.Helper()
	f, err := os.Open("../../docs/CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc := configDoc{keys: map[string]map[string]string{}}
	var h2, h3 string
	var block *docExample
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case block != nil && line == "```":
			doc.examples = append(doc.examples, *block)
			block = nil
		case block != nil:
			if block.kind == "" {
				block.kind = strings.TrimSpace(strings.TrimPrefix(line, "#"))
				if !strings.HasPrefix(line, "# ") {
					block.kind = "unmarked"
				}
			}
			block.src += line + "\n"
		case line == "```yaml":
			block = &docExample{line: n}
		case strings.HasPrefix(line, "## "):
			h2, h3 = strings.TrimPrefix(line, "## "), ""
		case strings.HasPrefix(line, "### "):
			h3 = strings.TrimPrefix(line, "### ")
		default:
			m := keyRow.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			ns, ok := namespaces[h2]
			if !ok {
				ns, ok = namespaces[h2+" "+h3]
			}
			if !ok {
				continue
			}
			if doc.keys[ns] == nil {
				doc.keys[ns] = map[string]string{}
			}
			if _, dup := doc.keys[ns][m[1]]; dup {
				t.Errorf("CONFIG.md:%d: %s key %s documented twice", n, ns, m[1])
			}
			doc.keys[ns][m[1]] = line
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if block != nil {
		t.Fatalf("CONFIG.md:%d: unclosed yaml block", block.line)
	}
	return doc
}

// TestConfigDocExamples loads every example of docs/CONFIG.md as the file its first line names:
// a global file beside a site serving the host the webhook examples name, a site file beside a
// global file with a GeoIP database, and a policy section both as a flat site's sections and
// as the global defaults. /etc/proxy/ in an example is a temporary directory holding the
// image's error pages (deploy/error-pages), so the pages the examples name are really read.
func TestConfigDocExamples(t *testing.T) {
	doc := readConfigDoc(t)
	kinds := map[string]int{}
	for _, ex := range doc.examples {
		name := fmt.Sprintf("CONFIG.md:%d", ex.line)
		etc := proxyDir(t)
		src := strings.ReplaceAll(stripDocOnly(t, name, ex.src), "/etc/proxy/", etc+"/")
		global, sites := filepath.Join(etc, "global.yaml"), filepath.Join(etc, "sites-available")
		switch {
		case ex.kind == "global.yaml":
			writeDocFile(t, global, src)
			writeDocFile(t, filepath.Join(sites, "gpanel.yaml"), "host: gpanel.chilla55.de\nbackend: http://pterodactyl_panel:80\n")
			kinds["global"]++
		case strings.HasPrefix(ex.kind, "sites-available/") && strings.HasSuffix(ex.kind, ".yaml"):
			writeDocFile(t, global, "geoip:\n  database: /data/GeoLite2-City.mmdb\n")
			writeDocFile(t, filepath.Join(etc, ex.kind), src)
			kinds["site"]++
		case ex.kind == "policy section":
			writeDocFile(t, global, "geoip:\n  database: /data/GeoLite2-City.mmdb\ndefaults:\n"+indent(src))
			writeDocFile(t, filepath.Join(sites, "flat.yaml"), "host: policy.example.org\nbackend: http://app:80\n"+src)
			kinds["policy"]++
		default:
			t.Errorf("%s: the first line is %q; start the example with # global.yaml, # sites-available/NAME.yaml or # policy section", name, ex.kind)
			continue
		}
		cfg, err := Load(global, sites)
		if err != nil {
			t.Errorf("%s (%s) does not load:\n%s\n%v", name, ex.kind, ex.src, err)
			continue
		}
		if ex.kind != "global.yaml" && len(cfg.Sites) != 1 {
			t.Errorf("%s: %d sites loaded, want 1", name, len(cfg.Sites))
		}
	}
	if kinds["global"] < 5 || kinds["site"] < 2 || kinds["policy"] < 10 {
		t.Errorf("examples found: %v; the parser of CONFIG.md lost some", kinds)
	}
}

// proxyDir makes a directory laid out like the image's /etc/proxy: sites-available/ and
// error-pages/ (a copy of deploy/error-pages).
func proxyDir(t *testing.T) string {
	t.Helper()
	etc := t.TempDir()
	if err := os.CopyFS(filepath.Join(etc, "error-pages"), os.DirFS("../../deploy/error-pages")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(etc, "sites-available"), 0o755); err != nil {
		t.Fatal(err)
	}
	return etc
}

func writeDocFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func indent(src string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(src, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// stripDocOnly removes the global keys of docOnlyKeys from an example, so that it loads with the
// code of this branch.
func stripDocOnly(t *testing.T, name, src string) string {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(src), &root); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	stripped := false
	var strip func(n *yaml.Node, path string)
	strip = func(n *yaml.Node, path string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); {
			key := path + n.Content[i].Value
			if _, ok := docOnlyKeys["global "+key]; ok {
				n.Content = slices.Delete(n.Content, i, i+2)
				stripped = true
				continue
			}
			strip(n.Content[i+1], key+".")
			i += 2
		}
	}
	if len(root.Content) == 1 {
		strip(root.Content[0], "")
	}
	if !stripped {
		return src
	}
	out, err := yaml.Marshal(&root)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out)
}

// TestConfigDocKeys checks that docs/CONFIG.md has a table row for every key of the global file,
// the site files and the policy sections (found by walking the structs the YAML is decoded into,
// so a key added later fails here until it is documented), for every environment variable and
// flag of both binaries (found in their sources), and for nothing else.
func TestConfigDocKeys(t *testing.T) {
	doc := readConfigDoc(t)
	code := map[string]map[string]bool{
		"global": yamlKeys(reflect.TypeFor[globalFile]()),
		"site":   yamlKeys(reflect.TypeFor[siteFile]()),
		"policy": yamlKeys(reflect.TypeFor[Policy]()),
	}
	if len(code["global"]) < 30 || len(code["policy"]) < 100 || !code["site"]["routes[].options"] {
		t.Fatalf("the struct walk found too little: %d global, %d policy keys, site %v", len(code["global"]), len(code["policy"]), code["site"])
	}
	settings := map[string][]envSetting{}
	for _, bin := range []string{"controlplane", "dataplane"} {
		settings[bin] = envSettings(t, filepath.Join("../..", bin, "cmd", bin))
		code["env "+bin] = map[string]bool{}
		for _, s := range settings[bin] {
			code["env "+bin][s.env] = true
		}
	}
	for ns, keys := range code {
		for _, k := range sortedKeys(keys) {
			if _, ok := doc.keys[ns][k]; !ok {
				t.Errorf("%s key %s is not documented in docs/CONFIG.md", ns, k)
			}
			if _, ok := docOnlyKeys[ns+" "+k]; ok {
				t.Errorf("%s key %s exists in the code now: remove it from docOnlyKeys", ns, k)
			}
		}
		for _, k := range sortedKeys(doc.keys[ns]) {
			if _, ok := docOnlyKeys[ns+" "+k]; !keys[k] && !ok {
				t.Errorf("docs/CONFIG.md documents %s key %s, which the code does not have", ns, k)
			}
		}
	}
	for ns := range doc.keys {
		if code[ns] == nil {
			t.Errorf("docs/CONFIG.md has keys in namespace %q, which the test does not know", ns)
		}
	}
	// Each variable's row names its flag and the variable's other names.
	for bin, list := range settings {
		for _, s := range list {
			row, ok := doc.keys["env "+bin][s.env]
			if !ok {
				continue // reported above
			}
			for _, want := range append([]string{"`-" + s.flag + "`"}, wrapTicks(s.aliases)...) {
				if !strings.Contains(row, want) {
					t.Errorf("docs/CONFIG.md, %s %s: the row does not say %s:\n%s", bin, s.env, want, row)
				}
			}
		}
	}
}

// yamlKeys returns the dotted YAML paths of every key t decodes: a list's items are "key[]", and
// a field that holds raw YAML (*yaml.Node: defaults, options) is a key with nothing below it.
func yamlKeys(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Slice, reflect.Array:
			walk(t.Elem(), strings.TrimSuffix(prefix, ".")+"[].")
			return
		case reflect.Map:
			walk(t.Elem(), prefix+"*.")
			return
		case reflect.Struct:
		default:
			return
		}
		if t == reflect.TypeFor[yaml.Node]() {
			return
		}
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			out[prefix+name] = true
			walk(f.Type, prefix+name+".")
		}
	}
	walk(t, "")
	return out
}

// envSetting is one setting of a binary: flag -flag, environment variable env and its aliases.
type envSetting struct {
	flag, env string
	aliases   []string
}

// envSettings finds the envflag declarations (fs.StringVar(&v, "flag", "ENV", def, usage,
// aliases...) and its Duration, Int and Bool twins) in the Go files of dir.
func envSettings(t *testing.T, dir string) []envSetting {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var out []envSetting
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 5 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !slices.Contains([]string{"StringVar", "DurationVar", "IntVar", "BoolVar"}, sel.Sel.Name) {
				return true
			}
			if _, ok := sel.X.(*ast.Ident); !ok { // fs.FlagSet.StringVar: a flag without a variable
				return true
			}
			var lits []string
			for _, a := range append([]ast.Expr{call.Args[1], call.Args[2]}, call.Args[5:]...) {
				lit, ok := a.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Errorf("%s: %s call with a non-literal name: read it by hand", file, sel.Sel.Name)
					return true
				}
				s, _ := strconv.Unquote(lit.Value)
				lits = append(lits, s)
			}
			if !seen[lits[1]] {
				seen[lits[1]] = true
				out = append(out, envSetting{flag: lits[0], env: lits[1], aliases: lits[2:]})
			}
			return true
		})
	}
	if len(out) < 10 {
		t.Fatalf("%s: found %d settings; the parser lost some", dir, len(out))
	}
	return out
}

func wrapTicks(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = "`" + s + "`"
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
