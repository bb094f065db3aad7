package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

func newFaultsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "faults [KIND...]",
		Short: "List the fault kinds a step may name, or describe some of them",
		Long: `Faults lists every fault kind this binary knows, from the same catalogue the
coordinator validates specs with and the workers decode assignments with. Name kinds to
see their parameters (type, default, help), what a worker needs to offer them, and what
reverts them.

A worker offers a kind only where its host has what the kind needs and its policy
allows it: murphy workers shows what each one offers.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if len(args) == 0 {
				return listFaults(w)
			}
			for i, name := range args {
				k, ok := catalogue.Lookup(name)
				if !ok {
					return fmt.Errorf("unknown fault kind %q (known: %s)", name, strings.Join(catalogue.Kinds(), ", "))
				}
				if i > 0 {
					fmt.Fprintln(w)
				}
				if err := describeFault(w, k); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func listFaults(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, name := range catalogue.Kinds() {
		k, _ := catalogue.Lookup(name)
		fmt.Fprintf(tw, "%s\t%s\n", k.Name, k.Summary)
	}
	return tw.Flush()
}

func describeFault(w io.Writer, k catalogue.Kind) error {
	fmt.Fprintf(w, "%s: %s\n", k.Name, k.Summary)
	if k.Instant {
		fmt.Fprintln(w, "  instant: acts once; a step needs no duration")
	}
	if k.Consent {
		fmt.Fprintln(w, "  consent: a worker runs it only where its policy lists it under allow")
	}
	fmt.Fprintf(w, "  needs:   %s\n  reverts: %s\n  params:\n", k.Needs, k.Reverts)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range k.Params {
		def := "default " + p.Default
		switch {
		case p.Required:
			def = "required"
		case p.Default == "":
			def = "optional"
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", p.Name, p.Type, def, p.Help)
	}
	return tw.Flush()
}
