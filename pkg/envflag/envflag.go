// Package envflag defines command-line flags whose defaults come from environment variables, so
// both binaries can be configured the Docker way (environment) and the shell way (flags) alike.
// A flag given on the command line wins over the environment, which wins over the default.
package envflag

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// Set wraps a FlagSet and remembers environment values that did not parse.
type Set struct {
	*flag.FlagSet
	errs []error
}

// New returns a Set for the named command.
func New(name string) *Set {
	return &Set{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
}

// lookup returns the first set variable among env and its aliases.
func lookup(env string, aliases []string) (name, value string, ok bool) {
	for _, k := range append([]string{env}, aliases...) {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			return k, v, true
		}
	}
	return "", "", false
}

// StringVar defines a string flag with its default from env (or one of aliases, older names).
func (s *Set) StringVar(p *string, name, env, def, usage string, aliases ...string) {
	if _, v, ok := lookup(env, aliases); ok {
		def = v
	}
	s.FlagSet.StringVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}

// DurationVar defines a duration flag with its default from env.
func (s *Set) DurationVar(p *time.Duration, name, env string, def time.Duration, usage string) {
	if k, v, ok := lookup(env, nil); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: want a duration such as 30s", k, v))
		} else {
			def = d
		}
	}
	s.FlagSet.DurationVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}

// IntVar defines an int flag with its default from env.
func (s *Set) IntVar(p *int, name, env string, def int, usage string) {
	if k, v, ok := lookup(env, nil); ok {
		var n int
		if _, err := fmt.Sscan(v, &n); err != nil || n < 0 {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: want a non-negative whole number", k, v))
		} else {
			def = n
		}
	}
	s.FlagSet.IntVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}

// BoolVar defines a bool flag with its default from env (true/false, 1/0, yes/no).
func (s *Set) BoolVar(p *bool, name, env string, def bool, usage string) {
	if k, v, ok := lookup(env, nil); ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "1", "true", "yes", "on":
			def = true
		case "0", "false", "no", "off", "":
			def = false
		default:
			s.errs = append(s.errs, fmt.Errorf("%s=%q: want true or false", k, v))
		}
	}
	s.FlagSet.BoolVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}

// Parse parses args and reports the first bad environment value or flag.
func (s *Set) Parse(args []string) error {
	if len(s.errs) > 0 {
		return s.errs[0]
	}
	return s.FlagSet.Parse(args)
}
