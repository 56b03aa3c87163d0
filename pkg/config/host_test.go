package config

import (
	"strings"
	"testing"
)

// A backend URL's password never reaches an error message (they go to the log and the audit
// trail), also when the URL does not parse.
func TestBackendErrorsHideCredentials(t *testing.T) {
	for _, in := range []string{
		"http://admin:s3cretPW@app:8080/",
		"http://admin:s3cretPW@app:99999/",
		"http://admin:s3cretPW@app:8080/%zz",
		"ftp://admin:s3cretPW@app/",
		"admin:s3cretPW@app",
	} {
		_, err := normalizeBackend(in)
		if err == nil {
			t.Fatalf("%q accepted", in)
		}
		if strings.Contains(err.Error(), "s3cretPW") {
			t.Errorf("%q: the error shows the password: %v", in, err)
		}
	}
	if got := redactUserinfo("https://u:p@host:1/p@x?q=a@b"); got != "https://xxxxx@host:1/p@x?q=a@b" {
		t.Errorf("redactUserinfo = %q", got)
	}
}
