// Package textdiff writes the unified diff of two texts, line by line, for the audit trail: an
// admin reads what changed in a configuration file without comparing two copies by eye.
package textdiff

import (
	"fmt"
	"strings"
)

// context is the number of unchanged lines shown around each change, as diff -u does.
const context = 3

// maxCells bounds the comparison table (old lines × new lines); larger pairs of texts are shown
// as entirely replaced, which is still correct, to keep time and memory small.
const maxCells = 4 << 20

type op struct {
	kind byte // ' ', '-' or '+'
	line string
}

// Unified returns the unified diff from a to b with the file names in its header, or "" when the
// texts are equal. A text that does not end with a newline is marked the way diff marks it.
func Unified(nameA, nameB, a, b string) string {
	if a == b {
		return ""
	}
	ops := diff(splitLines(a), splitLines(b))
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", nameA, nameB)
	for start := 0; start < len(ops); {
		// Find the next change, then extend the hunk while changes are within 2*context lines.
		first := start
		for first < len(ops) && ops[first].kind == ' ' {
			first++
		}
		if first == len(ops) {
			break
		}
		lo := max(first-context, start)
		hi, same := first, 0
		for i := first; i < len(ops) && same <= 2*context; i++ {
			if ops[i].kind == ' ' {
				same++
				continue
			}
			same, hi = 0, i
		}
		end := min(hi+1+context, len(ops))
		writeHunk(&sb, ops, lo, end)
		start = end
	}
	return sb.String()
}

// writeHunk writes ops[lo:end] with its @@ header; line numbers count the ops before lo.
func writeHunk(sb *strings.Builder, ops []op, lo, end int) {
	aStart, bStart := 1, 1
	for _, o := range ops[:lo] {
		if o.kind != '+' {
			aStart++
		}
		if o.kind != '-' {
			bStart++
		}
	}
	var aLen, bLen int
	for _, o := range ops[lo:end] {
		if o.kind != '+' {
			aLen++
		}
		if o.kind != '-' {
			bLen++
		}
	}
	fmt.Fprintf(sb, "@@ -%s +%s @@\n", span(aStart, aLen), span(bStart, bLen))
	for _, o := range ops[lo:end] {
		sb.WriteByte(o.kind)
		if line, ok := strings.CutSuffix(o.line, "\n"); ok {
			sb.WriteString(line)
			sb.WriteByte('\n')
		} else {
			sb.WriteString(line)
			sb.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// span formats a hunk range as diff does: "start,len", "start" for one line, "start-1,0" for none.
func span(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start-1)
	case 1:
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

// splitLines splits s after each newline; the last line may lack one.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// diff returns the edit script from a to b: the common prefix and suffix as they are, the middle
// by longest common subsequence.
func diff(a, b []string) []op {
	var pre, suf int
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ops := make([]op, 0, len(a)+len(b))
	for _, l := range a[:pre] {
		ops = append(ops, op{' ', l})
	}
	ops = append(ops, lcs(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	for _, l := range a[len(a)-suf:] {
		ops = append(ops, op{' ', l})
	}
	return ops
}

// lcs diffs a and b through the table of longest common subsequences of their suffixes.
func lcs(a, b []string) []op {
	var ops []op
	if len(a)*len(b) > maxCells {
		for _, l := range a {
			ops = append(ops, op{'-', l})
		}
		for _, l := range b {
			ops = append(ops, op{'+', l})
		}
		return ops
	}
	w := len(b) + 1
	t := make([]int32, (len(a)+1)*w) // t[i*w+j]: LCS length of a[i:] and b[j:]
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				t[i*w+j] = t[(i+1)*w+j+1] + 1
			} else {
				t[i*w+j] = max(t[(i+1)*w+j], t[i*w+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			ops = append(ops, op{' ', a[i]})
			i, j = i+1, j+1
		case t[(i+1)*w+j] >= t[i*w+j+1]:
			ops = append(ops, op{'-', a[i]})
			i++
		default:
			ops = append(ops, op{'+', b[j]})
			j++
		}
	}
	for ; i < len(a); i++ {
		ops = append(ops, op{'-', a[i]})
	}
	for ; j < len(b); j++ {
		ops = append(ops, op{'+', b[j]})
	}
	return ops
}
