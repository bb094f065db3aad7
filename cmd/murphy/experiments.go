package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/murphy-chaos/murphy/coordinator"
	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/runner"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	"github.com/murphy-chaos/murphy/coordinator/web"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func readSpec(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(os.Stdin, spec.MaxSize+1))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	return data, nil
}

func newValidateCmd(cf *clientFlags) *cobra.Command {
	var remote bool
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check an experiment spec without running it",
		Long: `Validate parses an experiment spec (YAML or JSON, apiVersion murphy/v1) and reports
every problem with its file, line and field. By default it checks locally with this
binary's fault catalogue; --remote asks the cluster, which also checks what the
coordinators support. Exit status 0 means valid, 1 means problems were found.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readSpec(args[0])
			if err != nil {
				return err
			}
			if remote {
				c, err := dial(cf)
				if err != nil {
					return err
				}
				defer c.Close()
				ctx, cancel := c.ctx(cmd.Context())
				defer cancel()
				resp, err := c.exp.Validate(ctx, &murphyv1.ValidateRequest{Spec: data, Filename: args[0]})
				if err != nil {
					return c.explain(err)
				}
				if !resp.Valid {
					return problemsError(resp.Problems)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", args[0])
				printSpecWarnings(cmd.ErrOrStderr(), resp.Warnings)
				return nil
			}
			sp, err := spec.Parse(data, args[0], coordinator.CatalogueSpecOptions())
			if err != nil {
				var se *spec.Error
				if errors.As(err, &se) {
					return problemsError(se.Lines())
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (%s, %d metrics, %d steps, digest %s)\n", args[0], sp.Name, len(sp.Hypothesis.Metrics), len(sp.Steps), sp.Origin.Digest[:12])
			// Locally the fleet is unknown: the groups' sizes are known only when the spec
			// gives them as counts (--remote sizes them from the connected workers).
			if c, x := sp.Targets.GetControl().GetCount(), sp.Targets.GetExperiment().GetCount(); c > 0 && x > 0 {
				printSpecWarnings(cmd.ErrOrStderr(), runner.SpecWarnings(sp, int(c), int(x)))
			} else {
				printSpecWarnings(cmd.ErrOrStderr(), runner.QueryWarnings(sp))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&remote, "remote", false, "validate on the cluster instead of locally")
	return cmd
}

// printSpecWarnings prints what will work, but not as the spec may hope, one line each.
func printSpecWarnings(w io.Writer, warnings []string) {
	for _, warn := range warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// problemsError prints every problem but the first to stderr and returns the first, so
// the command's final line names it and the exit status is non-zero.
func problemsError(lines []string) error {
	for _, l := range lines[1:] {
		fmt.Fprintln(os.Stderr, l)
	}
	if len(lines) > 1 {
		return fmt.Errorf("%s (and %d more problems above)", lines[0], len(lines)-1)
	}
	return errors.New(lines[0])
}

func newRunCmd(cf *clientFlags) *cobra.Command {
	var watch, force, newSchedule bool
	imp := &importFlags{}
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Submit an experiment and start a run",
		Long: `Run submits an experiment spec to the cluster, which forms control and experimental
groups, observes a baseline, injects the steps into the experimental group only, and
judges the result. With --watch it follows the run live (phase, step, samples per group,
time left) and prints the verdict; the exit status is then 0 for upheld, 2 for refuted,
3 for inconclusive, halted or failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readSpec(args[0])
			if err != nil {
				return err
			}
			if data, err = imp.chaosToolkitSpec(data, args[0], cmd.ErrOrStderr()); err != nil {
				return err
			}
			c, err := dial(cf)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := c.ctx(cmd.Context())
			resp, err := c.exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: data, Filename: args[0], Force: force, NewSchedule: newSchedule})
			cancel()
			if err != nil {
				return c.explain(err)
			}
			printSpecWarnings(cmd.ErrOrStderr(), resp.Warnings)
			if sc := resp.Schedule; sc != nil {
				verb := "created"
				if resp.Updated {
					verb = "updated in place (its decisions and counts kept; --new adds a schedule instead)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "schedule %s %s; next slot %s (`murphy schedules plan %s` lists the next ones)\n", sc.Id, verb, ts(sc.NextAt), sc.Id)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "run %s submitted\n", resp.Run.Id)
			if !watch {
				fmt.Fprintf(cmd.OutOrStdout(), "follow it with: murphy status %s --watch\n", resp.Run.Id)
				return nil
			}
			run, err := watchRun(cmd.Context(), c, resp.Run.Id, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			return exitForRun(run)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "follow the run live and print its verdict")
	cmd.Flags().BoolVar(&force, "force", false, "create a schedule even when the workers it may target cannot form its groups now")
	cmd.Flags().BoolVar(&newSchedule, "new", false, "add a schedule beside an existing one of the same name instead of updating it")
	imp.register(cmd, true)
	return cmd
}

// exitCode carries a non-error exit status (a refuted hypothesis is not a failure of the
// command, but scripts need to tell it apart).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func exitForRun(run *murphyv1.Run) error {
	if run.Phase == murphyv1.RunPhase_RUN_PHASE_COMPLETED {
		switch run.Verdict.GetOutcome() {
		case murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD:
			return nil
		case murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED:
			return exitCode(2)
		}
	}
	return exitCode(3)
}

// watchRun follows a run until it ends, printing progress, then prints the verdict.
func watchRun(ctx context.Context, c *client, id string, w io.Writer) (*murphyv1.Run, error) {
	wctx := ctx
	if c.flags.stale {
		wctx, _ = c.ctx(ctx) // carries the stale flag; the deadline is irrelevant for one stream
	}
	var last *murphyv1.WatchResponse
	lastPhase := murphyv1.RunPhase_RUN_PHASE_UNSPECIFIED
	lastPrint := time.Time{}
	for attempt := 0; ; attempt++ {
		stream, err := c.exp.Watch(wctx, &murphyv1.WatchRequest{RunId: id})
		if err != nil {
			return nil, c.explain(err)
		}
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				if last == nil {
					return nil, fmt.Errorf("watch of %s ended without news", id)
				}
				fmt.Fprintln(w)
				printVerdict(w, last.Run)
				return last.Run, nil
			}
			if err != nil {
				// A failover interrupts the stream; the run goes on, so watch again.
				if attempt < 30 && ctx.Err() == nil {
					time.Sleep(500 * time.Millisecond)
					break
				}
				return nil, c.explain(err)
			}
			last = resp
			if resp.Run.Phase != lastPhase || time.Since(lastPrint) >= 2*time.Second {
				fmt.Fprintln(w, progressLine(resp))
				lastPhase, lastPrint = resp.Run.Phase, time.Now()
			}
		}
	}
}

func progressLine(resp *murphyv1.WatchResponse) string {
	run := resp.Run
	var b strings.Builder
	fmt.Fprintf(&b, "%-9s", fsm.PhaseName(run.Phase))
	if run.Phase == murphyv1.RunPhase_RUN_PHASE_INJECTING && int(run.StepIndex) < len(run.Steps) {
		st := run.Steps[run.StepIndex]
		fmt.Fprintf(&b, " step %d %s on %d/%d", run.StepIndex+1, st.Fault.GetKind(), len(st.Injected), len(run.Groups.GetExperiment()))
	}
	if !fsm.Terminal(run.Phase) {
		fmt.Fprintf(&b, " | phase %s left, run %s left", resp.PhaseLeft.AsDuration().Round(time.Second), resp.RunLeft.AsDuration().Round(time.Second))
	}
	for _, p := range resp.Progress {
		fmt.Fprintf(&b, " | %s: control %d (median %s), experiment %d (median %s)", p.Metric, p.Control, num(p.ControlMedian), p.Experiment, num(p.ExperimentMedian))
	}
	for _, g := range resp.Guardrails {
		fmt.Fprintf(&b, " | guard %s %s: %.0f%% of the way to a halt", g.Metric, g.Guardrail, 100*g.Closeness)
		if strings.HasPrefix(g.Guardrail, "deviation") && (g.Threshold != 0 || g.RelChange != 0) {
			fmt.Fprintf(&b, ", experiment %s vs control", pct(g.RelChange))
		}
		if g.Note != "" {
			fmt.Fprintf(&b, " (%s)", g.Note)
		}
	}
	return b.String()
}

func newLsCmd(cf *clientFlags) *cobra.Command {
	var limit int
	var output, scheduleID string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", outputJSON); err != nil {
				return err
			}
			return call(cmd, cf, func(ctx context.Context, c *client) error {
				resp, err := c.exp.ListRuns(ctx, &murphyv1.ListRunsRequest{Limit: int32(limit), ScheduleId: scheduleID})
				if err != nil {
					return c.explain(err)
				}
				if output == outputJSON {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "RUN\tPHASE\tVERDICT\tCREATED\tGROUPS")
				for _, r := range resp.Runs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d+%d\n", r.Id, fsm.PhaseName(r.Phase), web.Outcome(r.Verdict.GetOutcome()),
						r.CreatedAt.AsTime().Local().Format(time.DateTime), len(r.Groups.GetExperiment()), len(r.Groups.GetControl()))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 50, "show at most this many runs (0 for all)")
	cmd.Flags().StringVar(&scheduleID, "schedule", "", "only the runs this schedule fired")
	outputFlag(cmd, &output, "text", outputJSON)
	return cmd
}

func newStatusCmd(cf *clientFlags) *cobra.Command {
	var watch bool
	var output string
	cmd := &cobra.Command{
		Use:   "status RUN",
		Short: "Show a run: phase, groups, steps, halt and verdict",
		Long:  "Status shows one run. RUN may be a unique prefix of the run's ID. --watch follows it live until it ends.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", outputJSON); err != nil {
				return err
			}
			c, err := dial(cf)
			if err != nil {
				return err
			}
			defer c.Close()
			if watch {
				_, err := watchRun(cmd.Context(), c, args[0], cmd.OutOrStdout())
				return err
			}
			ctx, cancel := c.ctx(cmd.Context())
			defer cancel()
			resp, err := c.exp.GetRun(ctx, &murphyv1.GetRunRequest{RunId: args[0]})
			if err != nil {
				return c.explain(err)
			}
			if output == "json" {
				return printJSON(cmd.OutOrStdout(), resp.Run)
			}
			printRun(cmd.OutOrStdout(), resp.Run)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "follow the run live until it ends")
	outputFlag(cmd, &output, "text", outputJSON)
	return cmd
}

func newVerdictCmd(cf *clientFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "verdict RUN",
		Short: "Show a run's verdict with the numbers behind it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "chaostoolkit-journal" {
				return journalCmd(cmd, cf, args[0])
			}
			if output != "text" && output != "json" && output != "markdown" && output != "md" {
				return fmt.Errorf("unknown output %q: use text, json or markdown", output)
			}
			return call(cmd, cf, func(ctx context.Context, c *client) error {
				resp, err := c.exp.GetRun(ctx, &murphyv1.GetRunRequest{RunId: args[0]})
				if err != nil {
					return c.explain(err)
				}
				switch output {
				case "text":
					printVerdict(cmd.OutOrStdout(), resp.Run)
				case "json":
					return printJSON(cmd.OutOrStdout(), &murphyv1.GetVerdictResponse{RunId: resp.Run.Id, Phase: resp.Run.Phase, Verdict: resp.Run.Verdict})
				case "markdown", "md":
					printVerdictMarkdown(cmd.OutOrStdout(), resp.Run)
				default:
					return fmt.Errorf("unknown output %q: use text, json or markdown", output)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, json, markdown or chaostoolkit-journal")
	return cmd
}

func newHaltCmd(cf *clientFlags) *cobra.Command {
	var reason string
	var all bool
	cmd := &cobra.Command{
		Use:   "halt RUN | --all --reason TEXT",
		Short: "Halt a run, or every run (--all): every fault is reverted on every worker",
		Long: `Halt stops a run at once. The halt is committed to the cluster first, so it survives a
leader failover; then every worker of the run reverts its faults and acknowledges.
Workers that cannot be reached revert on their own when their lease runs out.

--all is the big red button: every active run is halted, every connected worker reverts
every fault it holds, and no run starts until ` + "`murphy resume`" + `. It needs --reason.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all && len(args) > 0 {
				return fmt.Errorf("give either a run or --all, not both")
			}
			if !all && len(args) != 1 {
				return fmt.Errorf("which run? give its ID (murphy ls lists them), or --all to halt everything")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if all && strings.TrimSpace(reason) == "" {
				return fmt.Errorf("--all needs --reason: it is recorded on every run it halts")
			}
			return call(cmd, cf, func(ctx context.Context, c *client) error {
				if all {
					resp, err := c.exp.HaltAll(ctx, &murphyv1.HaltAllRequest{Reason: reason})
					if err != nil {
						return c.explain(err)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "cluster halted (%s): %d runs halted, every worker told to revert everything; `murphy resume` allows runs again, `murphy schedules resume` schedules\n", reason, len(resp.RunIds))
					for _, id := range resp.RunIds {
						fmt.Fprintf(cmd.OutOrStdout(), "  halted %s\n", id)
					}
					return nil
				}
				resp, err := c.exp.Halt(ctx, &murphyv1.HaltRequest{RunId: args[0], Reason: reason})
				if err != nil {
					return c.explain(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "run %s halted: %s\n", resp.Run.Id, resp.Run.Halt.GetReason())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	cmd.Flags().BoolVar(&all, "all", false, "halt every run and keep the cluster halted until murphy resume")
	return cmd
}

func newResumeCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "resume",
		Short: "Lift a cluster-wide halt so runs may start again (schedules stay paused)",
		Long: `Resume lifts the halt of ` + "`murphy halt --all`" + `. The halt paused every schedule too, and
they stay paused: resume them on purpose with ` + "`murphy schedules resume`" + ` once chaos is
welcome again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, cf, func(ctx context.Context, c *client) error {
				if _, err := c.exp.Resume(ctx, &murphyv1.ResumeRequest{}); err != nil {
					return c.explain(err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "cluster halt lifted: runs may start; schedules stay paused until `murphy schedules resume`")
				return nil
			})
		},
	}
}

func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
