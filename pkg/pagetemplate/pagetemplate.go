// Package pagetemplate defines the error page templates of the configuration (error_pages:):
// the data a template sees, how it is parsed and executed, and the check the control plane runs
// before a template travels in a snapshot. The control plane and the data plane both use it, so
// a template the control plane accepts is one the data plane can run.
package pagetemplate

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/http"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
)

// MaxSource is the largest template accepted, in bytes: a page is inline HTML and CSS, and
// every route carries its pages in each snapshot.
const MaxSource = 64 << 10

// MaxOutput bounds what one execution may write, so that a template looping over a large
// range cannot make an answer of any size.
const MaxOutput = 256 << 10

// Data is what a template sees: {{.StatusCode}}, {{.StatusText}}, ... Every field is set for
// every status; MaxSize and RetryAfter are empty when they do not apply.
type Data struct {
	StatusCode int    // 404
	StatusText string // "Not Found"
	Message    string // what happened, for a visitor; never internal details
	Route      string // the route's id ("example.org/"), empty when no route matched
	RequestID  string // the request id, also in the X-Request-ID header
	Timestamp  string // when the request arrived, RFC 3339 in UTC
	MaxSize    string // 413: the route's request body limit ("10 MiB"); empty otherwise
	RetryAfter string // seconds to wait, when the answer has a Retry-After header (429, 503)
}

// Parse parses src as an html/template named name (the file, for errors).
func Parse(name, src string) (*htmltemplate.Template, error) {
	if len(src) > MaxSource {
		return nil, fmt.Errorf("%d bytes; an error page may have at most %d", len(src), MaxSource)
	}
	t, err := htmltemplate.New(name).Parse(src)
	if err != nil {
		return nil, err
	}
	if err := restrict(t); err != nil {
		return nil, err
	}
	return t, nil
}

// errTooLarge is the error of an execution that wrote more than MaxOutput.
var errTooLarge = fmt.Errorf("the page is larger than %d bytes", MaxOutput)

// Execute renders t with d into buf (which it does not reset), at most MaxOutput bytes.
func Execute(t *htmltemplate.Template, buf *bytes.Buffer, d *Data) error {
	return t.Execute(&limitedWriter{buf: buf, left: MaxOutput}, d)
}

type limitedWriter struct {
	buf  *bytes.Buffer
	left int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		return 0, errTooLarge
	}
	w.left -= len(p)
	return w.buf.Write(p)
}

// Sample is the data Check executes a template with for status: every field set, as the
// data plane sets them.
func Sample(status int) *Data {
	d := &Data{
		StatusCode: status,
		StatusText: StatusText(status),
		Message:    "A sample message.",
		Route:      "example.org/",
		RequestID:  "0123456789abcdef0123456789abcdef",
		Timestamp:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Format(time.RFC3339),
	}
	if status == http.StatusRequestEntityTooLarge {
		d.MaxSize = "10 MiB"
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		d.RetryAfter = "30"
	}
	return d
}

// Check parses src and executes it with Sample(status), so that an unknown field
// ({{.Statuscode}}), a call of a function that does not exist or HTML that cannot be escaped is
// found before the template is shipped. The error, if any, is a *Error.
func Check(name, src string, status int) error {
	_, err := Compile(name, src, status)
	return err
}

// Compile is Check that keeps the template: parsed, and escaped by its first execution (which
// html/template does once, under a lock), ready for concurrent use. The error, if any, is a
// *Error.
func Compile(name, src string, status int) (*htmltemplate.Template, error) {
	t, err := Parse(name, src)
	if err == nil {
		var buf bytes.Buffer
		err = Execute(t, &buf, Sample(status))
	}
	if err != nil {
		return nil, newError(name, err)
	}
	return t, nil
}

// Error is a template problem with its place in the template file (Line 0: the whole file).
type Error struct {
	Line, Column int
	Msg          string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// newError finds the line (and column) in the errors of html/template and text/template, which
// write them after the template's name: "template: NAME:12:5: executing ...".
func newError(name string, err error) *Error {
	var own *Error
	if errors.As(err, &own) {
		return own
	}
	var he *htmltemplate.Error
	if errors.As(err, &he) && he.ErrorCode != htmltemplate.OK {
		// An escaping problem: the page's HTML leaves a value where it cannot be escaped.
		return &Error{Line: he.Line, Msg: he.Description}
	}
	msg := err.Error()
	var ee texttemplate.ExecError
	if errors.As(err, &ee) {
		msg = ee.Err.Error()
	}
	for _, prefix := range []string{"template: " + name + ":", "html/template:" + name + ":"} {
		rest, ok := strings.CutPrefix(msg, prefix)
		if !ok {
			continue
		}
		line, rest, _ := strings.Cut(rest, ":")
		l, err := strconv.Atoi(line)
		if err != nil {
			break
		}
		e := &Error{Line: l, Msg: strings.TrimSpace(rest)}
		if col, after, ok := strings.Cut(rest, ":"); ok {
			if c, err := strconv.Atoi(col); err == nil {
				e.Column, e.Msg = c+1, strings.TrimSpace(after) // text/template counts from 0
			}
		}
		e.Msg = strings.TrimPrefix(e.Msg, fmt.Sprintf("executing %q at ", name))
		return e
	}
	return &Error{Msg: msg}
}

// StatusText is http.StatusText with a name for nginx's 499 and a fallback for unknown codes.
func StatusText(status int) string {
	if status == 499 {
		return "Client Closed Request"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}
