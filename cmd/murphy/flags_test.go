package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// pflag takes a backquoted word in a flag's usage for the name of its value and removes
// the quotes ("until `murphy resume`" printed as "--all murphy resume"), so no flag's help
// may hold one.
func TestFlagUsageHasNoBackquotes(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		check := func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				t.Errorf("%s --%s: usage holds a backquote, which pflag eats: %q", c.CommandPath(), f.Name, f.Usage)
			}
		}
		c.LocalFlags().VisitAll(check)
		c.PersistentFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
}

// The client flags are on the commands that talk to a cluster, and only there: the
// coordinator's and the worker's --help list what applies to them.
func TestClientFlagsOnlyOnClientCommands(t *testing.T) {
	root := newRootCmd()
	for _, c := range root.Commands() {
		has := c.PersistentFlags().Lookup("addr") != nil || c.InheritedFlags().Lookup("addr") != nil
		if has != clientCommands[c.Name()] {
			t.Errorf("murphy %s: client flags present %v, want %v", c.Name(), has, clientCommands[c.Name()])
		}
	}
	show, _, err := root.Find([]string{"schedules", "show"})
	if err != nil || show.InheritedFlags().Lookup("addr") == nil {
		t.Errorf("murphy schedules show lacks --addr (%v)", err)
	}
}
