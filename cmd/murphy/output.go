package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"
)

// A read command's -o flag. "json" prints the API call's response message as protojson,
// so the .proto files in proto/murphy/v1 document every field a program may read; field
// names are protojson's lowerCamelCase, enums their full names, 64-bit integers strings.
const outputJSON = "json"

// outputFlag registers -o on cmd with the formats it takes, text first.
func outputFlag(cmd *cobra.Command, output *string, formats ...string) {
	cmd.Flags().StringVarP(output, "output", "o", formats[0], orList(formats)+" (json: the API's response message as protojson)")
}

// checkOutput refuses a format the command does not take, naming those it does.
func checkOutput(output string, formats ...string) error {
	if slices.Contains(formats, output) {
		return nil
	}
	return fmt.Errorf("unknown output %q: use %s", output, orList(formats))
}
