package web

import (
	"fmt"
	"io"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// WindowRow is one worker's fault of one step as the worker reported it: when it was
// injected, when and why it was reverted, or that its revert was never confirmed.
type WindowRow struct {
	Worker   string
	Step     int32 // from 1
	Kind     string
	Injected string
	Reverted string
	Lasted   string
	Cause    string
	// Unconfirmed: the step is over, or the worker lost, and no revert was reported.
	Unconfirmed bool
	Note        string
}

// FaultWindows lists every fault window of run, step by step; unconfirmed says how many
// faults a lost or silent worker may still hold.
func FaultWindows(run *murphyv1.Run, workers map[string]*murphyv1.Worker) (rows []WindowRow, unconfirmed int) {
	for _, st := range run.GetSteps() {
		for _, w := range st.Windows {
			r := WindowRow{Worker: w.WorkerId, Step: st.Index + 1, Kind: st.GetFault().GetKind(), Injected: "not reported"}
			if w.InjectedAt != nil {
				r.Injected = w.InjectedAt.AsTime().UTC().Format("15:04:05.000Z")
			}
			lost := workers[fsm.WorkerOf(run.GetGroups(), w.WorkerId)].GetState() == murphyv1.WorkerState_WORKER_STATE_LOST
			switch {
			case w.RevertedAt != nil:
				r.Reverted = w.RevertedAt.AsTime().UTC().Format("15:04:05.000Z")
				r.Cause = causeName(w.Cause)
				if w.InjectedAt != nil {
					r.Lasted = since(w.InjectedAt.AsTime(), w.RevertedAt.AsTime())
				}
			case lost:
				r.Unconfirmed, r.Note = true, "worker lost with the fault active; its revert is not confirmed"
			case st.EndedAt != nil:
				r.Unconfirmed, r.Note = true, "step over; the worker has not confirmed the revert"
			default:
				r.Reverted, r.Note = "active", "in force"
			}
			if r.Unconfirmed {
				unconfirmed++
				r.Reverted = "not confirmed"
			}
			rows = append(rows, r)
		}
	}
	return rows, unconfirmed
}

// FaultWindowsText writes the fault windows for the CLI.
func FaultWindowsText(w io.Writer, rows []WindowRow, unconfirmed int, indent string) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "%sfaults on each host:\n", indent)
	for _, r := range rows {
		line := fmt.Sprintf("%s  step %d %s on %s: injected %s, reverted %s", indent, r.Step, r.Kind, r.Worker, r.Injected, r.Reverted)
		if r.Cause != "" {
			line += fmt.Sprintf(" (%s, after %s)", r.Cause, r.Lasted)
		}
		if r.Note != "" && r.Cause == "" {
			line += " — " + r.Note
		}
		fmt.Fprintln(w, line)
	}
	if unconfirmed > 0 {
		fmt.Fprintf(w, "%sWARNING: %d fault(s) not confirmed reverted; check those hosts\n", indent, unconfirmed)
	}
}

// FaultWindowsMarkdown writes the fault windows as a Markdown table.
func FaultWindowsMarkdown(w io.Writer, rows []WindowRow, unconfirmed int) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## Faults on each host\n\n")
	if unconfirmed > 0 {
		fmt.Fprintf(w, "**%d fault(s) not confirmed reverted: check those hosts.**\n\n", unconfirmed)
	}
	fmt.Fprintln(w, "| step | fault | worker | injected | reverted | lasted | cause |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		cause := r.Cause
		if cause == "" {
			cause = r.Note
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s |\n", r.Step, r.Kind, r.Worker, r.Injected, r.Reverted, r.Lasted, cause)
	}
}
