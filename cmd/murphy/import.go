package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/murphy-chaos/murphy/coordinator"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	"github.com/murphy-chaos/murphy/coordinator/spec/chaostoolkit"
)

// importFlags are the conversion options shared by murphy import and murphy run.
type importFlags struct {
	format          string // run only: auto, murphy or chaostoolkit
	skipUnsupported bool
	selector        []string
}

// register adds the flags; withFormat adds --format (murphy run).
func (f *importFlags) register(cmd *cobra.Command, withFormat bool) {
	if withFormat {
		cmd.Flags().StringVar(&f.format, "format", "auto", "auto (detect), murphy or chaostoolkit")
	}
	cmd.Flags().BoolVar(&f.skipUnsupported, "skip-unsupported", false, "Chaos Toolkit files: drop activities Murphy cannot run (python providers) instead of failing")
	cmd.Flags().StringSliceVar(&f.selector, "selector", nil, "Chaos Toolkit files: the workers to run on, as label=value pairs (default service=<name>)")
}

func (f *importFlags) options() (chaostoolkit.Options, error) {
	opts := chaostoolkit.Options{
		SkipUnsupported: f.skipUnsupported,
		LookupEnv:       os.LookupEnv,
		Spec:            coordinator.CatalogueSpecOptions(),
	}
	for _, kv := range f.selector {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return opts, fmt.Errorf("--selector %q: want label=value", kv)
		}
		if opts.Selector == nil {
			opts.Selector = map[string]string{}
		}
		opts.Selector[k] = v
	}
	return opts, nil
}

// convert converts a Chaos Toolkit file, printing its notes to notes.
func (f *importFlags) convert(data []byte, file string, notes io.Writer) (*chaostoolkit.Result, error) {
	opts, err := f.options()
	if err != nil {
		return nil, err
	}
	res, err := chaostoolkit.Convert(data, file, opts)
	if err != nil {
		var se *spec.Error
		if errors.As(err, &se) {
			return nil, problemsError(se.Lines())
		}
		return nil, err
	}
	for _, n := range res.Notes {
		fmt.Fprintf(notes, "%s: %s\n", file, n)
	}
	return res, nil
}

// chaosToolkitSpec returns data unchanged for a murphy/v1 spec, and the converted spec
// (JSON) for a Chaos Toolkit experiment, detected or forced with --format.
func (f *importFlags) chaosToolkitSpec(data []byte, file string, notes io.Writer) ([]byte, error) {
	switch f.format {
	case "murphy":
		return data, nil
	case "auto":
		if !chaostoolkit.Detect(data) {
			return data, nil
		}
		fmt.Fprintf(notes, "%s: a Chaos Toolkit experiment; converting it (murphy import chaostoolkit shows the result)\n", file)
	case "chaostoolkit":
	default:
		return nil, fmt.Errorf("unknown --format %q: use auto, murphy or chaostoolkit", f.format)
	}
	res, err := f.convert(data, file, notes)
	if err != nil {
		return nil, err
	}
	return res.Render("json")
}

func newImportCmd() *cobra.Command {
	var flags importFlags
	var output string
	cmd := &cobra.Command{
		Use:   "import chaostoolkit FILE",
		Short: "Convert a Chaos Toolkit experiment into a Murphy spec",
		Long: `Import converts a Chaos Toolkit experiment (JSON or YAML) into a murphy/v1 spec and
writes it to standard output. Every element mapped approximately, ignored or dropped is
listed on standard error (and, in YAML, as a comment at the top of the spec).

The steady-state probes become metrics measured on every worker of both groups, each
with its Chaos Toolkit tolerance (judged on every sample) next to a statistical one;
the method becomes steps on the experimental group (process: exec, http: http.call);
pauses become time; rollbacks become rollback steps, run after Murphy's own reverts,
also for failed and halted runs. Configuration and secrets (inline or type env) are
substituted for ${name}; a ${name} that is a whole value keeps its declared type.
chaosprometheus query and query_interval probes become Prometheus metrics (the
coordinators' --prometheus-url is queried). chaosk8s's pod termination, Deployment
scaling and restart, node cordon and drain become pod.delete, workload.*, node.* steps,
and its Deployment probes kubernetes probe metrics, on the worker labelled
role=kubernetes. An experiment without a steady-state hypothesis runs its method and
rollbacks and its verdict judges nothing. Other Python activities cannot run on
Murphy's workers: they fail the import, naming the activity, module and function,
unless --skip-unsupported drops them.

An extension named murphy in the file sets what Chaos Toolkit has no word for:
  "extensions": [{"name": "murphy", "selector": {"service": "checkout"},
                  "experiment": {"count": 4}, "baseline": "30s", "hold": "1m"}]

murphy run accepts Chaos Toolkit files directly, with the same flags.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 || args[0] != "chaostoolkit" {
				return fmt.Errorf("usage: murphy import chaostoolkit FILE (Chaos Toolkit is the only format Murphy imports)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "yaml" && output != "json" {
				return fmt.Errorf("unknown output %q: use yaml or json", output)
			}
			data, err := readSpec(args[1])
			if err != nil {
				return err
			}
			res, err := flags.convert(data, args[1], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out, err := res.Render(output)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	flags.register(cmd, false)
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "yaml or json")
	return cmd
}
