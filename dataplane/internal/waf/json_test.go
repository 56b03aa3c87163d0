package waf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// jsonStringsSlow is what jsonStrings replaces: encoding/json's Decoder.Token, with the names
// as jsonFields gave them.
func jsonStringsSlow(doc string) []string {
	var out []string
	dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.UseNumber()
	type frame struct {
		object, key bool
		name        string
	}
	stack := []frame{{}}
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		top := &stack[len(stack)-1]
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, frame{object: t == '{', key: t == '{', name: top.name})
				continue
			default:
				if len(stack) > 1 {
					stack = stack[:len(stack)-1]
				}
			}
		case string:
			if top.object && top.key {
				top.name, top.key = t, false
				out = append(out, fmt.Sprintf("key %q", t))
				continue
			}
			out = append(out, fmt.Sprintf("value %q=%q", top.name, t))
		}
		if top := &stack[len(stack)-1]; top.object {
			top.key = true
		}
	}
}

func jsonStringsFast(doc string) []string {
	var out []string
	jsonStrings(doc, func(key bool, name, s string) bool {
		if key {
			out = append(out, fmt.Sprintf("key %q", s))
		} else {
			out = append(out, fmt.Sprintf("value %q=%q", name, s))
		}
		return false
	})
	return out
}

func checkJSONStrings(t *testing.T, doc string) {
	fast, slow := jsonStringsFast(doc), jsonStringsSlow(doc)
	if fmt.Sprint(fast) != fmt.Sprint(slow) {
		t.Fatalf("jsonStrings(%q):\n got %q\nwant %q", doc, fast, slow)
	}
}

var jsonSeeds = []string{
	`{"a":"b","c":[1,"d",{"e":"f"}],"g":{"h":null,"i":true}}`, `"x" "y"`, `{"a":1}{"b":"c"}`, `[1,]`, `{"a" "b"}`,
	`{"a":"\u00e9\ud83d\ude00\ud800x\\\"\/\b\f\n\r\t"}`, "{\"a\":\"\xff\xed\xa0\x80\"}", `{"a":-0.5e+3,"b":01}`,
	`{"a":tru`, `{"a":"unterminated`, `[{"a":["b"]},"c"]`, `{"a":"b",}`, `{,}`, `  ["a"  ,  "b" ] x`, `{"a":1.}`, `[-]`,
}

func TestJSONStrings(t *testing.T) {
	for _, doc := range jsonSeeds {
		checkJSONStrings(t, doc)
		for i := range len(doc) { // every truncation, as max_request_size cuts a body
			checkJSONStrings(t, doc[:i])
		}
	}
	for _, r := range loadCorpus(t, "attacks.visible.jsonl") {
		checkJSONStrings(t, r.Body)
	}
	for _, r := range loadCorpus(t, "benign.visible.jsonl") {
		checkJSONStrings(t, r.Body)
	}
}

// FuzzJSONStrings compares jsonStrings with encoding/json. Run:
// go test -run=^$ -fuzz=FuzzJSONStrings -fuzztime=30s
func FuzzJSONStrings(f *testing.F) {
	for _, doc := range jsonSeeds {
		f.Add(doc)
	}
	f.Fuzz(checkJSONStrings)
}
