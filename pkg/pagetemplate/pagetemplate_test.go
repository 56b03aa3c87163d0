package pagetemplate

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	testCases := []struct {
		desc      string
		src       string
		status    int
		line, col int
		msg       string // part of the message; "" for a valid template
	}{
		{desc: "every variable", src: "<h1>{{.StatusCode}} {{.StatusText}}</h1>\n<p>{{.Message}} {{.Route}} {{.RequestID}} {{.Timestamp}} {{.MaxSize}} {{.RetryAfter}}</p>", status: 413},
		{desc: "conditional", src: "{{if .RetryAfter}}<p>in {{.RetryAfter}} s</p>{{end}}", status: 429},
		{desc: "unknown field", src: "<html>\n<body>\n<p>{{.Statuscode}}</p>", status: 404, line: 3, col: 6, msg: "<.Statuscode>: can't evaluate field Statuscode"},
		{desc: "unclosed action", src: "<p>\n{{if .Message}}\n", status: 404, line: 3, msg: "unexpected EOF"},
		{desc: "unknown function", src: "\n\n{{upper .Message}}", status: 502, line: 3, msg: `function "upper" not defined`},
		{desc: "unescapable", src: "<p>\n<a href=\"{{.Route}}\n", status: 404, msg: "ends in a non-text context"},
		{desc: "range", src: "<p>\n{{range 1000000000}}{{end}}", status: 404, line: 2, msg: "range is not allowed"},
		{desc: "recursion", src: `{{define "x"}}{{template "x" .}}{{template "x" .}}{{end}}` + "\n" + `{{template "x" .}}`, status: 404, line: 2, msg: "template and block are not allowed"},
		{desc: "printf", src: `{{printf "%0999999999d" 1}}`, status: 404, line: 1, col: 3, msg: `function "printf" is not allowed`},
		{desc: "allowed functions", src: `{{if and (eq .StatusCode 429) (ne .RetryAfter "")}}{{len .Message}} {{urlquery .RequestID}}{{end}}{{with .MaxSize}}{{.}}{{else}}-{{end}}`, status: 429},
		{desc: "too large source", src: strings.Repeat("x", MaxSource+1), status: 404, msg: "at most 65536"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			err := Check("pages/x.html", tc.src, tc.status)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Check = %v, want an *Error", err)
			}
			if pe.Line != tc.line || (tc.col != 0 && pe.Column != tc.col) || !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("Check = line %d col %d %q, want line %d col %d containing %q", pe.Line, pe.Column, pe.Msg, tc.line, tc.col, tc.msg)
			}
			if strings.Contains(pe.Msg, "pages/x.html") {
				t.Errorf("message repeats the file name: %q", pe.Msg)
			}
		})
	}
}

func TestExecuteBounded(t *testing.T) {
	tmpl, err := Parse("x", "<p>{{.Message}}</p>")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Execute(tmpl, &buf, &Data{Message: strings.Repeat("<", MaxOutput/4)}); err == nil || buf.Len() > MaxOutput {
		t.Errorf("Execute = %v with %d bytes, want an error within %d", err, buf.Len(), MaxOutput)
	}
}

// FuzzCheck: no template source makes the check panic, and every refusal is an *Error with a
// line that exists in the source.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"<p>{{.Message}}</p>", "{{if .X}}", "\n\n{{.Nope}}", `<a href="{{.Route}}`, "{{range 10}}{{.RequestID}}{{end}}", "{{define \"x\"}}{{end}}{{template \"x\"}}"} {
		f.Add(s, 404)
	}
	f.Fuzz(func(t *testing.T, src string, status int) {
		err := Check("page.html", src, status)
		if err == nil {
			return
		}
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("Check(%q) = %T %v, want *Error", src, err, err)
		}
		if pe.Line < 0 || pe.Line > strings.Count(src, "\n")+1 {
			t.Fatalf("Check(%q): line %d outside the source", src, pe.Line)
		}
	})
}
