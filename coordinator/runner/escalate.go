package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// judgeWave decides what an escalating run does after a wave's verdict: widen to the next
// level if the wave held, or end the run with the ladder's verdict (the widest blast
// radius that held, and why it went no further).
func (r *Runner) judgeWave(ctx context.Context, run *murphyv1.Run, sp *spec.Experiment, v *murphyv1.Verdict) error {
	idx := len(run.Waves)
	stopped := ""
	if v.Outcome == murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD && idx+1 < len(sp.Escalate) {
		next := sp.Escalate[idx+1]
		anchor := run.Groups.Experiment[0]
		if len(run.Waves) > 0 {
			anchor = run.Waves[0].Groups.Experiment[0]
		}
		plan, err := planGroups(sp, Candidates(r.cfg.FSM, r.cfg.Fleet, sp, busyOf(r.cfg.FSM, run.Id)), next, anchor, r.cfg.Seed())
		if err == nil {
			r.log.Info("wave held; escalating", "run", run.Id, "from", run.WaveLevel, "to", next, "experiment", len(plan.Experiment))
			leaving := slices.DeleteFunc(members(run), func(w string) bool {
				return slices.Contains(plan.Experiment, w) || slices.Contains(plan.Control, w)
			})
			if err := r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_NextWave{NextWave: &murphyv1.NextWave{
				RunId: run.Id, Verdict: v, Level: next,
				Groups:        &murphyv1.Groups{Control: plan.Control, Experiment: plan.Experiment, Seed: plan.Seed},
				PhaseDeadline: timestamppb.New(r.cfg.Now().Add(sp.Baseline.AsDuration())),
			}}}); err != nil {
				return err
			}
			for _, w := range leaving {
				r.cfg.Fleet.Send(w, &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_StopProbes{StopProbes: &murphyv1.StopProbes{RunId: run.Id}}})
				r.cfg.Fleet.SetProbing(w, run.Id, false)
			}
			// The next wave has other members: its monitor and acknowledgements start anew.
			rs := r.stateOf(run)
			rs.guard, rs.acks = nil, nil
			return nil
		}
		stopped = fmt.Sprintf("escalation to %s stopped: %v", next, err)
	}
	overall := ladder(run, v, stopped)
	r.log.Info("verdict", "run", run.Id, "outcome", overall.Outcome, "reason", overall.Reason)
	if err := r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_RecordVerdict{RecordVerdict: &murphyv1.RecordVerdict{RunId: run.Id, Verdict: overall, LastWave: v}}}); err != nil {
		return err
	}
	r.stopProbes(run)
	return nil
}

// ladder is an escalating run's overall verdict: refuted or inconclusive as its last wave
// was, upheld when every wave it ran held; the reason names the widest level that held.
func ladder(run *murphyv1.Run, last *murphyv1.Verdict, stopped string) *murphyv1.Verdict {
	v := proto.CloneOf(last)
	var held []string
	for _, w := range run.Waves {
		held = append(held, w.Level)
	}
	lastOK := last.Outcome == murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD
	if lastOK {
		held = append(held, run.WaveLevel)
	}
	var b strings.Builder
	switch {
	case len(held) == 0:
		b.WriteString("held at no level")
	default:
		fmt.Fprintf(&b, "widest blast radius that held: %s (held at %s)", held[len(held)-1], strings.Join(held, ", "))
	}
	if !lastOK {
		fmt.Fprintf(&b, "; %s at %s: %s", strings.ToLower(strings.TrimPrefix(last.Outcome.String(), "VERDICT_OUTCOME_")), run.WaveLevel, last.Reason)
	}
	if stopped != "" {
		b.WriteString("; " + stopped)
	}
	v.Reason = b.String()
	return v
}
