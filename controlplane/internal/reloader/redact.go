package reloader

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The audit log keeps configuration files for as long as its retention, and it cannot be edited:
// secrets must never reach it. Three things in the configuration are secrets: the values of
// headers added to requests (headers.request.add: API keys and Authorization for a backend), the
// URLs of webhooks (a Discord or Slack webhook URL is its own credential) and a password in a
// URL. They are replaced by "redacted sha256:<first 8 bytes>", which still shows that they
// changed. Everything else, comments included, is kept as written.

// redactYAML returns the text of a configuration file with its secrets replaced. A file that does
// not parse cannot be searched for secrets: ok is false and the caller records a fingerprint.
func redactYAML(src []byte) (text string, ok bool) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return "", false
	}
	var secrets []*yaml.Node
	inFlow := false
	var walk func(n *yaml.Node, path []string, flow bool)
	walk = func(n *yaml.Node, path []string, flow bool) {
		flow = flow || n.Style&yaml.FlowStyle != 0
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, flow)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, append(slices.Clip(path), "[]"), flow)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], append(slices.Clip(path), n.Content[i].Value), flow)
			}
		case yaml.ScalarNode:
			if isSecret(path, n.Value) {
				secrets = append(secrets, n)
				inFlow = inFlow || flow
			}
		}
	}
	walk(&doc, nil, false)
	if len(secrets) == 0 {
		return string(src), true
	}
	if inFlow {
		// A secret inside {...} or [...] shares its line with other values: write the document
		// anew rather than cut the line.
		for _, n := range secrets {
			n.Value, n.Style = fingerprint(n.Value), yaml.DoubleQuotedStyle
		}
		out, err := yaml.Marshal(&doc)
		if err != nil {
			return "", false
		}
		return string(out), true
	}
	return cutSecrets(string(src), secrets), true
}

// isSecret reports whether the scalar at path (mapping keys, "[]" for sequence items) is a secret.
func isSecret(path []string, value string) bool {
	n := len(path)
	if n >= 4 && path[n-4] == "headers" && path[n-3] == "request" && path[n-2] == "add" {
		return true
	}
	if n >= 3 && path[n-3] == "webhooks" && path[n-2] == "[]" && path[n-1] == "url" {
		return true
	}
	if strings.Contains(value, "://") {
		if u, err := url.Parse(value); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				return true
			}
		}
	}
	return false
}

func fingerprint(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "redacted sha256:" + hex.EncodeToString(sum[:8])
}

// cutSecrets replaces each secret, from where it starts to the end of its line, and drops the
// lines after it that are indented deeper than the line it starts on: they can only be the rest
// of the same scalar (a block scalar, or a quoted one folded over several lines).
func cutSecrets(src string, secrets []*yaml.Node) string {
	lines := strings.SplitAfter(src, "\n")
	drop := make([]bool, len(lines))
	for _, n := range secrets {
		i := n.Line - 1
		if i < 0 || i >= len(lines) {
			continue
		}
		line := lines[i]
		nl := ""
		if strings.HasSuffix(line, "\n") {
			line, nl = strings.TrimSuffix(line, "\n"), "\n"
		}
		col := min(max(n.Column-1, 0), len(line))
		lines[i] = line[:col] + `"` + fingerprint(n.Value) + `"` + nl
		indent := len(line) - len(strings.TrimLeft(line, " "))
		for j := i + 1; j < len(lines); j++ {
			rest := strings.TrimRight(lines[j], "\r\n")
			if strings.TrimSpace(rest) != "" && len(rest)-len(strings.TrimLeft(rest, " ")) <= indent {
				break
			}
			drop[j] = strings.TrimSpace(rest) != "" || drop[j]
		}
	}
	var sb strings.Builder
	for i, l := range lines {
		if !drop[i] {
			sb.WriteString(l)
		}
	}
	return sb.String()
}
