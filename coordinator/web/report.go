package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
)

// ErrFormat names an unknown report format.
var ErrFormat = errors.New("unknown report format: use html, markdown or json")

// Report writes a run's self-contained report: html (inline CSS and SVG, no script, no
// external resource), markdown, or json (the run, its summaries and the verdict's
// sentences).
func (h *Handler) Report(w io.Writer, format string, v *RunView) error {
	switch format {
	case "", "html":
		return h.tpl.ExecuteTemplate(w, "report.html", struct {
			Page
			*RunView
		}{Page{Title: "Murphy report: " + v.Run.Id, CSS: h.css, Report: true}, v})
	case "markdown", "md":
		return Markdown(w, v)
	case "json":
		return JSON(w, v)
	}
	return fmt.Errorf("%w (not %q)", ErrFormat, format)
}

// JSON writes the report's data: the run and its summaries as protobuf JSON, and the
// verdict in words.
func JSON(w io.Writer, v *RunView) error {
	mo := protojson.MarshalOptions{UseProtoNames: true}
	run, err := mo.Marshal(v.Run)
	if err != nil {
		return err
	}
	sums := []byte("null")
	if v.Summaries != nil {
		if sums, err = mo.Marshal(v.Summaries); err != nil {
			return err
		}
	}
	var sentences []string
	for _, m := range v.Run.Verdict.GetMetrics() {
		sentences = append(sentences, MetricSentence(m, v.Run.Verdict.GetConfidence()))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Headline  string          `json:"headline"`
		Metrics   []string        `json:"metric_sentences"`
		Run       json.RawMessage `json:"run"`
		Summaries json.RawMessage `json:"summaries"`
	}{v.Headline, sentences, run, sums})
}

// Markdown writes the report for a review or postmortem document (no charts: Markdown
// cannot hold them portably; the HTML report has them).
func Markdown(w io.Writer, v *RunView) error {
	r := v.Run
	var b strings.Builder
	fmt.Fprintf(&b, "# Run `%s` (%s)\n\n", r.Id, r.Experiment)
	fmt.Fprintf(&b, "**%s**\n\n", v.Headline)
	fmt.Fprintf(&b, "- Verdict: **%s** (phase %s)\n- Submitted: %s by %s\n", RunBadge(r).Text, fsm.PhaseName(r.Phase), r.CreatedAt.AsTime().UTC().Format("2006-01-02 15:04:05Z"), r.SubmittedBy)
	if r.Groups != nil {
		fmt.Fprintf(&b, "- Groups: %d experiment, %d control (seed %d)\n", len(r.Groups.Experiment), len(r.Groups.Control), r.Groups.Seed)
	}
	if vd := r.Verdict; vd != nil {
		window := "Window"
		if vd.BeforeFault {
			window = "Baseline"
		}
		fmt.Fprintf(&b, "- %s: %s to %s, confidence %.0f%%\n", window, vd.WindowStart.AsTime().UTC().Format("15:04:05Z"), vd.WindowEnd.AsTime().UTC().Format("15:04:05Z"), 100*vd.Confidence)
		b.WriteString("\n## Verdict\n\n")
		if v.BeforeFault != "" {
			fmt.Fprintf(&b, "**%s**\n\n", v.BeforeFault)
		}
		VerdictTableMarkdown(&b, v.Rows)
		b.WriteString("\n")
		for _, m := range vd.Metrics {
			// The reason often is the sentence again: print it only when it adds something.
			line := MetricSentence(m, vd.Confidence)
			if reason := strings.TrimSuffix(strings.TrimSpace(m.Reason), "."); reason != "" && !strings.Contains(strings.ToLower(line), strings.ToLower(reason)) && !strings.Contains(strings.ToLower(reason), strings.ToLower(line)) {
				line += ". " + reason
			}
			fmt.Fprintf(&b, "- %s.\n", line)
		}
		for _, h := range v.Hosts {
			HostsMarkdown(&b, h, "###")
		}
	}
	if len(v.Groups) > 0 {
		b.WriteString("\n## Groups\n\n| region | data centre | control | experiment |\n|---|---|---|---|\n")
		for _, g := range v.Groups {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", g.Region, g.Datacenter, strings.Join(g.Control, ", "), strings.Join(g.Experiment, ", "))
		}
	}
	b.WriteString("\n## Timeline\n\n| at | what | detail |\n|---|---|---|\n")
	for _, e := range v.Timeline {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", e.At.UTC().Format("15:04:05.000Z"), e.What, strings.ReplaceAll(e.Detail, "|", "\\|"))
	}
	if hr := r.Halt; hr != nil {
		fmt.Fprintf(&b, "\n## Halt\n\nHalted at %s by %s: %s\n", hr.At.AsTime().UTC().Format("15:04:05.000Z"), HaltActor(hr), hr.Reason)
		if hr.Guardrail != "" {
			fmt.Fprintf(&b, "\nGuardrail `%s` on %s, threshold %s, first breach at %s (%s before the halt), values %s\n", hr.Guardrail, hr.Metric, v.HaltThreshold,
				hr.FirstBreach.AsTime().UTC().Format("15:04:05.000Z"), since(hr.FirstBreach.AsTime(), hr.At.AsTime()), strings.Join(v.HaltValues, ", "))
			for _, h := range v.HaltHeld {
				name := h.Worker
				if h.Host != "" {
					name = h.Host + " (" + h.Worker + ")"
				}
				fmt.Fprintf(&b, "- %s held the fault from %s to %s\n", name, h.Injected, h.Reverted)
			}
		}
		HaltHostsMarkdown(&b, v.HaltHosts)
		fmt.Fprintf(&b, "\n%s\n\n| worker | reverted after | cause |\n|---|---|---|\n", v.Reverts.Summary())
		for _, rv := range v.Reverts.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", rv.Worker, rv.After, rv.Cause)
		}
		for _, id := range v.Reverts.Pending {
			fmt.Fprintf(&b, "| %s | not confirmed | |\n", id)
		}
	}
	FaultWindowsMarkdown(&b, v.Windows, v.Unconfirmed)
	if r.Error != "" {
		fmt.Fprintf(&b, "\n## Error\n\n%s\n", r.Error)
	}
	fmt.Fprintf(&b, "\n## Spec\n\n```json\n%s\n```\n", v.Spec)
	_, err := io.WriteString(w, b.String())
	return err
}

// VerdictTableMarkdown writes the numbers behind a verdict as a Markdown table.
func VerdictTableMarkdown(w io.Writer, rows []VerdictRow) {
	fmt.Fprintln(w, "| metric | outcome | decided on | control (n) | experiment (n) | shift (CI) | relative (CI) | tolerance | p (test) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		name := r.Name
		if r.Critical {
			name += " (critical)"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, r.Outcome, r.Unit, r.Control, r.Experiment, r.Shift, r.Relative, r.Tolerance, r.P)
	}
}
