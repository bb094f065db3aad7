package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/murphy-chaos/murphy/coordinator/schedule"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func newSchedulesCmd(cf *clientFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "List continuous-chaos schedules: next slot, last run, firings today",
		Long: `Schedules lists the schedules created by submitting a spec with a schedule section. Every
slot is decided once and recorded: fired (with its run) or skipped (with the reason:
outside the windows, a blackout date, the daily cap, the previous run still active, paused,
or missed while no leader could act). Times are in each schedule's time zone.

Submitting a spec whose schedule name exists updates that schedule in place; ` + "`murphy run --new`" + `
adds another.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", outputJSON); err != nil {
				return err
			}
			return call(cmd, cf, func(ctx context.Context, c *client) error {
				resp, err := c.exp.ListSchedules(ctx, &murphyv1.ListSchedulesRequest{})
				if err != nil {
					return c.explain(err)
				}
				if output == outputJSON {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				if resp.Paused {
					fmt.Fprintln(cmd.OutOrStdout(), "ALL SCHEDULES PAUSED (`murphy schedules resume` lets them fire again)")
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SCHEDULE\tNEXT SLOT\tLAST RUN\tFIRED (TODAY)\tSKIPPED\tLAST SKIP")
				for _, s := range resp.Schedules {
					loc := scheduleZone(s)
					next := zoned(s.NextAt, loc)
					if s.Paused || resp.Paused {
						next = "paused"
					}
					last := "-"
					if s.LastRunId != "" {
						last = s.LastRunId + " (" + zoned(s.LastRunSlot, loc) + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d (%d)\t%d\t%s\n", s.Id, next, last, s.FiredTotal, firedToday(s, loc, time.Now()), s.SkippedTotal, orDash(s.LastSkipReason))
				}
				return tw.Flush()
			})
		},
	}
	outputFlag(cmd, &output, "text", outputJSON)
	cmd.AddCommand(newScheduleShowCmd(cf), newSchedulePlanCmd(cf),
		newScheduleWriteCmd(cf, "pause", "Pause one schedule, or every schedule: the slots that pass are skipped and recorded, and runs it fired that have not started are cancelled"),
		newScheduleWriteCmd(cf, "resume", "Resume one schedule, or every schedule: it fires again from its next slot; slots that passed stay skipped"),
		newScheduleWriteCmd(cf, "delete", "Delete a schedule: runs it fired that have not started are cancelled; the others stay"))
	return cmd
}

// newPauseSchedulesCmd is the older spelling of `murphy schedules pause`.
func newPauseSchedulesCmd(cf *clientFlags) *cobra.Command {
	c := newScheduleWriteCmd(cf, "pause", "Stop every schedule from firing until `murphy schedules resume`")
	c.Use, c.Args, c.Hidden = "pause-schedules", cobra.NoArgs, true
	return c
}

// scheduleZone is the schedule's time zone, read from its spec; the local zone if that
// fails (the spec was accepted, so it should not).
func scheduleZone(s *murphyv1.Schedule) *time.Location {
	if sp, err := spec.Of(s); err == nil {
		if tz := sp.GetSchedule().GetTimezone(); tz != "" {
			if loc, err := time.LoadLocation(tz); err == nil {
				return loc
			}
		}
	}
	return time.Local
}

func zoned(t interface{ AsTime() time.Time }, loc *time.Location) string {
	if t == nil || t.AsTime().IsZero() || t.AsTime().Unix() == 0 {
		return "-"
	}
	return t.AsTime().In(loc).Format("2006-01-02 15:04:05 MST")
}

// firedToday counts the firings on the schedule's calendar day of now, in its own zone.
func firedToday(s *murphyv1.Schedule, loc *time.Location, now time.Time) int32 {
	if s.FiredDay != now.In(loc).Format(time.DateOnly) {
		return 0
	}
	return s.FiredOnDay
}

// findSchedule returns the schedule with this ID or unique ID prefix.
func findSchedule(resp *murphyv1.ListSchedulesResponse, id string) (*murphyv1.Schedule, error) {
	var found []*murphyv1.Schedule
	for _, s := range resp.Schedules {
		if s.Id == id {
			return s, nil
		}
		if strings.HasPrefix(s.Id, id) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("no schedule %q (`murphy schedules` lists them)", id)
	default:
		return nil, fmt.Errorf("%q matches %d schedules; give more of the ID", id, len(found))
	}
}

func newScheduleShowCmd(cf *clientFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show SCHEDULE",
		Short: "Show a schedule and its recent decisions, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", outputJSON); err != nil {
				return err
			}
			return call(cmd, cf, func(ctx context.Context, c *client) error {
				resp, err := c.exp.ListSchedules(ctx, &murphyv1.ListSchedulesRequest{})
				if err != nil {
					return c.explain(err)
				}
				s, err := findSchedule(resp, args[0])
				if err != nil {
					return err
				}
				if output == outputJSON {
					return printJSON(cmd.OutOrStdout(), s)
				}
				printSchedule(cmd.OutOrStdout(), s, resp.Paused)
				return nil
			})
		},
	}
	outputFlag(cmd, &output, "text", outputJSON)
	return cmd
}

func printSchedule(w io.Writer, s *murphyv1.Schedule, allPaused bool) {
	loc := scheduleZone(s)
	fmt.Fprintf(w, "Schedule    %s (%s, spec digest %s)\n", s.Id, s.Name, short(s.SpecDigest))
	fmt.Fprintf(w, "Created     %s by %s\n", zoned(s.CreatedAt, loc), s.CreatedBy)
	if s.UpdatedAt != nil {
		fmt.Fprintf(w, "Updated     %s by %s\n", zoned(s.UpdatedAt, loc), s.UpdatedBy)
	}
	switch {
	case allPaused:
		fmt.Fprintf(w, "Next slot   paused with every schedule (due %s)\n", zoned(s.NextAt, loc))
	case s.Paused:
		fmt.Fprintf(w, "Next slot   paused (due %s)\n", zoned(s.NextAt, loc))
	default:
		fmt.Fprintf(w, "Next slot   %s\n", zoned(s.NextAt, loc))
	}
	fmt.Fprintf(w, "Decided     %d fired (%d today), %d skipped\n", s.FiredTotal, firedToday(s, loc, time.Now()), s.SkippedTotal)
	if len(s.Recent) == 0 {
		return
	}
	fmt.Fprintf(w, "\nRecent decisions (%d kept):\n", len(s.Recent))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tDECISION")
	for i := len(s.Recent) - 1; i >= 0; i-- {
		d := s.Recent[i]
		what := "fired " + d.RunId
		if d.RunId == "" {
			what = "skipped: " + d.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\n", zoned(d.Slot, loc), what)
	}
	tw.Flush()
}

// planSlot is one line of `schedules plan -o json`.
type planSlot struct {
	Slot  time.Time  `json:"slot"`
	Until *time.Time `json:"until,omitempty"`
	Skip  string     `json:"skip,omitempty"`
}

func newSchedulePlanCmd(cf *clientFlags) *cobra.Command {
	var output string
	var next int
	cmd := &cobra.Command{
		Use:   "plan SCHEDULE|FILE",
		Short: "Dry run: the next slots of a schedule or a spec file, with windows, blackout dates and the daily cap applied",
		Long: `Plan lists the next slots and what would be decided for each: fire (with the time by which
its faults must be reverted, the end of its window) or skip (with the reason). It assumes
every slot that may fire does: the overlap policy, pauses and the fleet are not applied.
In the random mode (mtbf) the gaps shown are the median draw. A FILE is planned from now
and needs no cluster.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", outputJSON); err != nil {
				return err
			}
			if next < 1 {
				return fmt.Errorf("--next must be at least 1")
			}
			if _, err := os.Stat(args[0]); err == nil || args[0] == "-" {
				data, err := readSpec(args[0])
				if err != nil {
					return err
				}
				sp, err := spec.Parse(data, args[0], spec.Options{})
				if err != nil {
					return err
				}
				if sp.Schedule == nil {
					return fmt.Errorf("%s has no schedule section", args[0])
				}
				return printPlan(cmd.OutOrStdout(), sp.Schedule, time.Now(), next, "", 0, output)
			}
			return call(cmd, cf, func(ctx context.Context, c *client) error {
				resp, err := c.exp.ListSchedules(ctx, &murphyv1.ListSchedulesRequest{})
				if err != nil {
					return c.explain(err)
				}
				s, err := findSchedule(resp, args[0])
				if err != nil {
					return err
				}
				sp, err := spec.Of(s)
				if err != nil {
					return err
				}
				if (s.Paused || resp.Paused) && output != outputJSON {
					fmt.Fprintln(cmd.OutOrStdout(), "(paused: these slots are skipped until the schedule is resumed)")
				}
				// From just before the slot the schedule waits for, so it is listed.
				from := s.NextAt.AsTime().Add(-time.Nanosecond)
				return printPlan(cmd.OutOrStdout(), sp.Schedule, from, next, s.FiredDay, int(s.FiredOnDay), output)
			})
		},
	}
	cmd.Flags().IntVar(&next, "next", 20, "how many slots")
	outputFlag(cmd, &output, "text", outputJSON)
	return cmd
}

func printPlan(w io.Writer, sc *spec.Schedule, from time.Time, n int, firedDay string, firedOnDay int, output string) error {
	p, err := schedule.Compile(sc)
	if err != nil {
		return err
	}
	slots := p.Preview(from, n, firedDay, firedOnDay)
	if output == outputJSON {
		out := make([]planSlot, 0, len(slots))
		for _, s := range slots {
			ps := planSlot{Slot: s.At, Skip: s.Skip}
			if !s.Until.IsZero() {
				u := s.Until
				ps.Until = &u
			}
			out = append(out, ps)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(slots) == 0 {
		fmt.Fprintln(w, "no slot: its windows and blackout dates leave no time")
		return nil
	}
	loc := p.Location()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tDECISION")
	for _, s := range slots {
		what := "fire"
		switch {
		case s.Skip != "":
			what = "skip: " + s.Skip
		case !s.Until.IsZero():
			what = "fire, faults reverted by " + s.Until.In(loc).Format("15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\n", s.At.In(loc).Format("Mon 2006-01-02 15:04:05 MST"), what)
	}
	return tw.Flush()
}

// newScheduleWriteCmd is pause, resume or delete, of one schedule or (pause and resume
// with no argument) every schedule.
func newScheduleWriteCmd(cf *clientFlags, verb, short string) *cobra.Command {
	var output string
	args := cobra.RangeArgs(0, 1)
	use := verb + " [SCHEDULE]"
	if verb == "delete" {
		args, use = cobra.ExactArgs(1), verb+" SCHEDULE"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, argv []string) error {
			if err := checkOutput(output, "text", outputJSON); err != nil {
				return err
			}
			return call(cmd, cf, func(ctx context.Context, c *client) error {
				id := ""
				if len(argv) == 1 {
					list, err := c.exp.ListSchedules(ctx, &murphyv1.ListSchedulesRequest{})
					if err != nil {
						return c.explain(err)
					}
					s, err := findSchedule(list, argv[0])
					if err != nil {
						return err
					}
					id = s.Id
				}
				var err error
				switch verb {
				case "pause":
					_, err = c.exp.PauseSchedules(ctx, &murphyv1.PauseSchedulesRequest{ScheduleId: id})
				case "resume":
					_, err = c.exp.ResumeSchedules(ctx, &murphyv1.ResumeSchedulesRequest{ScheduleId: id})
				case "delete":
					_, err = c.exp.DeleteSchedule(ctx, &murphyv1.DeleteScheduleRequest{ScheduleId: id})
				}
				if err != nil {
					return c.explain(err)
				}
				list, err := c.exp.ListSchedules(ctx, &murphyv1.ListSchedulesRequest{})
				if err != nil {
					return c.explain(err)
				}
				if output == outputJSON {
					if id == "" || verb == "delete" {
						return printJSON(cmd.OutOrStdout(), list)
					}
					s, err := findSchedule(list, id)
					if err != nil {
						return err
					}
					return printJSON(cmd.OutOrStdout(), s)
				}
				what := "every schedule"
				if id != "" {
					what = "schedule " + id
				}
				switch verb {
				case "pause":
					fmt.Fprintf(cmd.OutOrStdout(), "%s paused; its slots are skipped and recorded until `murphy schedules resume%s`\n", what, strings.TrimSuffix(" "+id, " "))
				case "resume":
					fmt.Fprintf(cmd.OutOrStdout(), "%s resumed: it fires from its next slot\n", what)
					if list.Paused && id != "" {
						fmt.Fprintln(cmd.OutOrStdout(), "every schedule is still paused as a whole: `murphy schedules resume` lifts that")
					}
				case "delete":
					fmt.Fprintf(cmd.OutOrStdout(), "%s deleted; the runs it fired stay (`murphy ls --schedule %s`)\n", what, id)
				}
				return nil
			})
		},
	}
	outputFlag(cmd, &output, "text", outputJSON)
	return cmd
}
