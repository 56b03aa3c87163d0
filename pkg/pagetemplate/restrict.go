package pagetemplate

import (
	"fmt"
	htmltemplate "html/template"
	"sort"
	"strconv"
	"strings"
	"text/template/parse"
)

// allowedFuncs are the functions a page may call: comparisons, logic and escaping, whose cost
// is bounded by their arguments. printf is not among them (a width of %999999999d allocates
// that much before any output limit sees it), nor call (Data has no function to call).
var allowedFuncs = map[string]bool{
	"and": true, "or": true, "not": true, "len": true, "index": true, "slice": true,
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
	"html": true, "js": true, "urlquery": true, "print": true, "println": true,
}

// restrict refuses what would let a page run without bound: range (over an integer it loops
// as often as it is told, writing nothing the output limit would count), template and block
// (a template calling itself twice doubles with each level), and functions outside
// allowedFuncs. A page has nothing to iterate over nor to include, so nothing is lost.
func restrict(t *htmltemplate.Template) error {
	// The page itself first, then what it defines by name: the same error on every check.
	all := t.Templates()
	sort.Slice(all, func(i, j int) bool {
		if (all[i] == t) != (all[j] == t) {
			return all[i] == t
		}
		return all[i].Name() < all[j].Name()
	})
	for _, tmpl := range all {
		if tmpl.Tree == nil || tmpl.Tree.Root == nil {
			continue
		}
		if err := walk(tmpl.Tree, tmpl.Tree.Root); err != nil {
			return err
		}
	}
	return nil
}

func walk(tree *parse.Tree, n parse.Node) error {
	refuse := func(format string, args ...any) error {
		line, col := position(tree, n)
		return &Error{Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := walk(tree, c); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return walk(tree, n.Pipe)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := walk(tree, c); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if err := walk(tree, a); err != nil {
				return err
			}
		}
	case *parse.ChainNode:
		return walk(tree, n.Node)
	case *parse.IdentifierNode:
		if !allowedFuncs[n.Ident] {
			return refuse("function %q is not allowed in an error page", n.Ident)
		}
	case *parse.IfNode:
		return walkBranch(tree, &n.BranchNode)
	case *parse.WithNode:
		return walkBranch(tree, &n.BranchNode)
	case *parse.RangeNode:
		return refuse("range is not allowed in an error page (it has nothing to iterate over, and a range over a number could run without end)")
	case *parse.TemplateNode:
		return refuse("template and block are not allowed in an error page: write the page in one file")
	}
	return nil
}

func walkBranch(tree *parse.Tree, b *parse.BranchNode) error {
	for _, n := range []parse.Node{b.Pipe, b.List, b.ElseList} {
		if err := walk(tree, n); err != nil { // a missing else is a nil *ListNode: walk skips it
			return err
		}
	}
	return nil
}

// position is the line and column (1-based) of n in its template.
func position(tree *parse.Tree, n parse.Node) (line, col int) {
	loc, _ := tree.ErrorContext(n) // "name:line:col"
	parts := strings.Split(loc, ":")
	if len(parts) < 2 {
		return 0, 0
	}
	line, _ = strconv.Atoi(parts[len(parts)-2])
	col, _ = strconv.Atoi(parts[len(parts)-1])
	return line, col + 1 // ErrorContext counts columns from 0
}
