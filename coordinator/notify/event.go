package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Kind is what happened to a run.
type Kind string

// The event kinds, as the body's "type" and the X-Murphy-Event header give them.
const (
	Submitted Kind = "run.submitted"
	Halted    Kind = "run.halted"
	Verdict   Kind = "run.verdict"
	Failed    Kind = "run.failed"
)

// Event is one thing that happened to a run, as committed.
type Event struct {
	// ID is "<run id>/<kind without the run. prefix>", the same on every node and every
	// attempt: receivers deduplicate by it.
	ID   string
	Kind Kind
	// At is the leader-stamped time of the command that made the event.
	At  time.Time
	Run *murphyv1.Run
}

// Events returns the events a run's committed record holds, oldest first. It is pure: the
// same record gives the same events on every node.
func Events(r *murphyv1.Run) []Event {
	if r == nil || r.Id == "" {
		return nil
	}
	ev := func(k Kind, at time.Time) Event {
		return Event{ID: r.Id + "/" + strings.TrimPrefix(string(k), "run."), Kind: k, At: at, Run: r}
	}
	out := []Event{ev(Submitted, r.CreatedAt.AsTime())}
	switch {
	case r.Halt != nil:
		out = append(out, ev(Halted, r.Halt.At.AsTime()))
	case r.Verdict != nil:
		at := r.EndedAt
		if at == nil {
			at = r.Verdict.DecidedAt
		}
		out = append(out, ev(Verdict, at.AsTime()))
	case r.Phase == murphyv1.RunPhase_RUN_PHASE_FAILED:
		out = append(out, ev(Failed, r.EndedAt.AsTime()))
	}
	return out
}

// Format is the body's shape.
type Format string

const (
	// FormatJSON is Murphy's own body (see body).
	FormatJSON Format = "json"
	// FormatSlack is {"text": ...}, which Slack incoming webhooks (and Mattermost,
	// Rocket.Chat, Discord's /slack endpoint) accept.
	FormatSlack Format = "slack"
)

// ParseFormat accepts "json" (or empty) and "slack".
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", FormatJSON:
		return FormatJSON, nil
	case FormatSlack:
		return FormatSlack, nil
	}
	return "", fmt.Errorf("webhook format %q: use json or slack", s)
}

var pj = protojson.MarshalOptions{UseProtoNames: true}

// body is the JSON body: the event, the run without its spec and step bookkeeping, and the
// halt record (the evidence) or the verdict as the contract's messages (protojson with
// the .proto field names, documented in proto/murphy/v1/common.proto).
//
//	{"id": "<run>/halted", "type": "run.halted", "at": "2026-...Z",
//	 "run": {"id": ..., "experiment": ..., "phase": "RUN_PHASE_HALTED", "submitted_by": ...},
//	 "halt": {"reason": ..., "by": ..., "guardrail": ..., "metric": ..., "values": [...], ...}}
type body struct {
	ID      string          `json:"id"`
	Type    Kind            `json:"type"`
	At      string          `json:"at"`
	Run     json.RawMessage `json:"run"`
	Halt    json.RawMessage `json:"halt,omitempty"`
	Verdict json.RawMessage `json:"verdict,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// summary is the part of a run a notification carries: who, what, when, which hosts.
func summary(r *murphyv1.Run) *murphyv1.Run {
	return &murphyv1.Run{
		Id: r.Id, Experiment: r.Experiment, Phase: r.Phase, CreatedAt: r.CreatedAt, EndedAt: r.EndedAt,
		SpecDigest: r.SpecDigest, SubmittedBy: r.SubmittedBy, Groups: proto.CloneOf(r.Groups),
		ScheduleId: r.ScheduleId, ScheduleSlot: r.ScheduleSlot, Error: r.Error,
	}
}

// Encode renders ev in format f.
func Encode(ev Event, f Format) ([]byte, error) {
	if f == FormatSlack {
		return json.Marshal(map[string]string{"text": SlackText(ev)})
	}
	b := body{ID: ev.ID, Type: ev.Kind, At: ev.At.UTC().Format(time.RFC3339Nano)}
	var err error
	if b.Run, err = pj.Marshal(summary(ev.Run)); err != nil {
		return nil, fmt.Errorf("encode run: %w", err)
	}
	switch ev.Kind {
	case Halted:
		if b.Halt, err = pj.Marshal(ev.Run.Halt); err != nil {
			return nil, fmt.Errorf("encode halt: %w", err)
		}
	case Verdict:
		if b.Verdict, err = pj.Marshal(ev.Run.Verdict); err != nil {
			return nil, fmt.Errorf("encode verdict: %w", err)
		}
	case Failed:
		b.Error = ev.Run.Error
	}
	return json.Marshal(b)
}

// SlackText is the one-message summary of ev, in Slack's mrkdwn.
func SlackText(ev Event) string {
	r := ev.Run
	name := fmt.Sprintf("Murphy run `%s` (*%s*)", r.Id, r.Experiment)
	switch ev.Kind {
	case Submitted:
		return fmt.Sprintf(":test_tube: %s submitted by %s", name, r.SubmittedBy)
	case Halted:
		h := r.Halt
		var b strings.Builder
		fmt.Fprintf(&b, ":octagonal_sign: %s halted by %s: %s", name, h.By, h.Reason)
		if h.Guardrail != "" || h.Metric != "" {
			fmt.Fprintf(&b, "\nEvidence: guardrail `%s` on %s, threshold %g, observed %v", h.Guardrail, h.Metric, h.Threshold, h.Values)
			if h.FirstBreach != nil {
				fmt.Fprintf(&b, ", first breach %s", h.FirstBreach.AsTime().UTC().Format(time.RFC3339))
			}
		}
		if n := len(h.Reverts); n > 0 {
			fmt.Fprintf(&b, "\n%d worker(s) confirmed the revert so far", n)
		}
		return b.String()
	case Verdict:
		v := r.Verdict
		icon := map[murphyv1.VerdictOutcome]string{
			murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD:  ":white_check_mark:",
			murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED: ":x:",
		}[v.Outcome]
		if icon == "" {
			icon = ":grey_question:"
		}
		outcome := strings.ToLower(strings.TrimPrefix(v.Outcome.String(), "VERDICT_OUTCOME_"))
		return fmt.Sprintf("%s %s: hypothesis *%s*: %s", icon, name, outcome, v.Reason)
	case Failed:
		return fmt.Sprintf(":warning: %s failed: %s", name, r.Error)
	}
	return name + ": " + string(ev.Kind)
}
