package fsm

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// MaxScheduleDecisions bounds the decisions a schedule keeps one by one. A 10-second cron
// paused over a weekend passes some 17,000 slots; each is decided and counted, but only
// the latest are kept as records, so the state and its snapshots stay small.
const MaxScheduleDecisions = 64

func (f *FSM) applyCreateSchedule(cmd *murphyv1.Command, c *murphyv1.CreateSchedule) (Change, error) {
	if c.ScheduleId == "" || c.Spec == nil && c.SpecJson == "" || c.NextAt == nil {
		return Change{}, fmt.Errorf("%w: a schedule needs an id, a spec and a first slot", ErrInvalid)
	}
	if c.Update {
		s, ok := f.schedules[c.ScheduleId]
		if !ok {
			return Change{}, fmt.Errorf("%w: schedule %q", ErrNotFound, c.ScheduleId)
		}
		// The chain of slots goes on from where it is: an update never reopens a slot
		// already decided.
		if s.LastSlot != nil && !c.NextAt.AsTime().After(s.LastSlot.AsTime()) {
			return Change{}, fmt.Errorf("%w: the updated schedule's next slot is not after its last decided one", ErrInvalid)
		}
		s.Name, s.Spec, s.SpecJson, s.SpecDigest, s.NextAt = c.Name, c.Spec, c.SpecJson, c.SpecDigest, c.NextAt
		s.UpdatedAt, s.UpdatedBy = cmd.At, cmd.By
		return Change{Cluster: true}, nil
	}
	if _, ok := f.schedules[c.ScheduleId]; ok {
		return Change{}, fmt.Errorf("%w: schedule %q", ErrExists, c.ScheduleId)
	}
	f.schedules[c.ScheduleId] = &murphyv1.Schedule{
		Id: c.ScheduleId, Name: c.Name, Spec: c.Spec, SpecJson: c.SpecJson, SpecDigest: c.SpecDigest,
		CreatedBy: cmd.By, CreatedAt: cmd.At, NextAt: c.NextAt,
	}
	return Change{Cluster: true}, nil
}

// decidable returns the schedule if slot is the one it is waiting for. Each decision
// names the next slot, so the committed slots form one chain: a slot cannot be decided
// twice, and none can be left out.
func (f *FSM) decidable(id string, slot *timestamppb.Timestamp) (*murphyv1.Schedule, error) {
	s, ok := f.schedules[id]
	if !ok {
		return nil, fmt.Errorf("%w: schedule %q", ErrNotFound, id)
	}
	if s.LastSlot != nil && !slot.AsTime().After(s.LastSlot.AsTime()) {
		return nil, fmt.Errorf("%w: schedule %q already decided the slot %s", ErrExists, id, stamp(slot))
	}
	if s.NextAt != nil && !slot.AsTime().Equal(s.NextAt.AsTime()) {
		return nil, fmt.Errorf("%w: schedule %q waits for the slot %s, not %s", ErrInvalid, id, stamp(s.NextAt), stamp(slot))
	}
	return s, nil
}

func stamp(t *timestamppb.Timestamp) string {
	return t.AsTime().UTC().Format("2006-01-02T15:04:05.000Z")
}

// remember appends a decision, keeping the newest MaxScheduleDecisions.
func remember(s *murphyv1.Schedule, d *murphyv1.ScheduleDecision) {
	s.Recent = append(s.Recent, d)
	if over := len(s.Recent) - MaxScheduleDecisions; over > 0 {
		s.Recent = slices.Delete(s.Recent, 0, over)
	}
}

// applyFireSchedule creates the run and records the decision in one entry, so a firing
// either happened completely or not at all.
func (f *FSM) applyFireSchedule(cmd *murphyv1.Command, c *murphyv1.FireSchedule) (Change, error) {
	if c.Slot == nil || c.RunId == "" || c.Spec == nil && c.SpecJson == "" {
		return Change{}, fmt.Errorf("%w: a firing needs a slot, a run id and a spec", ErrInvalid)
	}
	s, err := f.decidable(c.ScheduleId, c.Slot)
	if err != nil {
		return Change{}, err
	}
	if f.schedulesPaused || s.Paused {
		return Change{}, fmt.Errorf("%w: schedules are paused", ErrHalted)
	}
	ch, err := f.applyCreateRun(cmd, &murphyv1.CreateRun{RunId: c.RunId, Experiment: s.Name, Spec: c.Spec, SpecJson: c.SpecJson, SpecDigest: s.SpecDigest})
	if err != nil {
		return ch, err
	}
	run := f.runs[c.RunId]
	run.ScheduleId, run.ScheduleSlot, run.ScheduleUntil = s.Id, c.Slot, c.Until
	run.SubmittedBy = "schedule:" + s.Id
	s.LastSlot, s.NextAt, s.LastRunId, s.LastRunSlot = c.Slot, c.NextAt, c.RunId, c.Slot
	if s.FiredDay != c.Day {
		s.FiredDay, s.FiredOnDay = c.Day, 0
	}
	s.FiredOnDay++
	s.FiredTotal++
	remember(s, &murphyv1.ScheduleDecision{Slot: c.Slot, RunId: c.RunId, DecidedAt: cmd.At})
	return Change{RunID: c.RunId, Cluster: true}, nil
}

// applySkipSchedule records one or more consecutive slots not fired, each as its own
// decision.
func (f *FSM) applySkipSchedule(cmd *murphyv1.Command, c *murphyv1.SkipSchedule) (Change, error) {
	if c.Slot == nil {
		return Change{}, fmt.Errorf("%w: a skip needs a slot", ErrInvalid)
	}
	s, err := f.decidable(c.ScheduleId, c.Slot)
	if err != nil {
		return Change{}, err
	}
	slots := append([]*timestamppb.Timestamp{c.Slot}, c.MoreSlots...)
	for i := 1; i < len(slots); i++ {
		if !slots[i].AsTime().After(slots[i-1].AsTime()) {
			return Change{}, fmt.Errorf("%w: skipped slots out of order at %s", ErrInvalid, stamp(slots[i]))
		}
	}
	last := slots[len(slots)-1]
	if c.NextAt != nil && !c.NextAt.AsTime().After(last.AsTime()) {
		return Change{}, fmt.Errorf("%w: the next slot %s is not after the skipped ones", ErrInvalid, stamp(c.NextAt))
	}
	// Only the newest slots can survive the bound; recording the rest would be undone at
	// once.
	for _, sl := range slots[max(0, len(slots)-MaxScheduleDecisions):] {
		remember(s, &murphyv1.ScheduleDecision{Slot: sl, Reason: c.Reason, DecidedAt: cmd.At})
	}
	s.LastSlot, s.NextAt = last, c.NextAt
	s.LastSkip, s.LastSkipReason = cmd.At, c.Reason
	s.SkippedTotal += int64(len(slots))
	return Change{Cluster: true}, nil
}

func (f *FSM) applyDeleteSchedule(cmd *murphyv1.Command, c *murphyv1.DeleteSchedule) (Change, error) {
	if _, ok := f.schedules[c.ScheduleId]; !ok {
		return Change{}, fmt.Errorf("%w: schedule %q", ErrNotFound, c.ScheduleId)
	}
	delete(f.schedules, c.ScheduleId)
	f.cancelQueued(cmd, c.ScheduleId, "its schedule was deleted before it could start")
	return Change{Cluster: true}, nil
}

// applyPauseSchedules pauses (or resumes) every schedule, or one. Pausing cancels the runs
// the paused schedules fired that have not started: a pause means no new chaos.
func (f *FSM) applyPauseSchedules(cmd *murphyv1.Command, c *murphyv1.PauseSchedules) (Change, error) {
	if c.ScheduleId == "" {
		f.schedulesPaused = c.Paused
	} else {
		s, ok := f.schedules[c.ScheduleId]
		if !ok {
			return Change{}, fmt.Errorf("%w: schedule %q", ErrNotFound, c.ScheduleId)
		}
		s.Paused = c.Paused
	}
	if c.Paused {
		f.cancelQueued(cmd, c.ScheduleId, "its schedule was paused before it could start")
	}
	return Change{Cluster: true}, nil
}

// cancelQueued fails the pending runs fired by schedule id (by any schedule when id is
// empty), in run ID order so every node changes the same runs the same way.
func (f *FSM) cancelQueued(cmd *murphyv1.Command, id, reason string) {
	var ids []string
	for rid, r := range f.runs {
		if r.ScheduleId != "" && (id == "" || r.ScheduleId == id) && r.Phase == murphyv1.RunPhase_RUN_PHASE_PENDING {
			ids = append(ids, rid)
		}
	}
	slices.Sort(ids)
	for _, rid := range ids {
		_, _ = f.applyFailRun(cmd, &murphyv1.FailRun{RunId: rid, Error: reason})
	}
}

// Schedules returns copies of every schedule sorted by ID, and whether they are paused.
func (f *FSM) Schedules() ([]*murphyv1.Schedule, bool) {
	f.mu.RLock()
	out := make([]*murphyv1.Schedule, 0, len(f.schedules))
	for _, s := range f.schedules {
		out = append(out, proto.CloneOf(s))
	}
	paused := f.schedulesPaused
	f.mu.RUnlock()
	slices.SortFunc(out, func(a, b *murphyv1.Schedule) int { return strings.Compare(a.Id, b.Id) })
	return out, paused
}
