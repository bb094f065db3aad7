package fsm

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func (f *FSM) applyCreateSchedule(cmd *murphyv1.Command, c *murphyv1.CreateSchedule) (Change, error) {
	if c.ScheduleId == "" || c.SpecJson == "" || c.NextAt == nil {
		return Change{}, fmt.Errorf("%w: a schedule needs an id, a spec and a first slot", ErrInvalid)
	}
	if _, ok := f.schedules[c.ScheduleId]; ok {
		return Change{}, fmt.Errorf("%w: schedule %q", ErrExists, c.ScheduleId)
	}
	f.schedules[c.ScheduleId] = &murphyv1.Schedule{
		Id: c.ScheduleId, Name: c.Name, SpecJson: c.SpecJson, SpecDigest: c.SpecDigest,
		CreatedBy: cmd.By, CreatedAt: cmd.At, NextAt: c.NextAt,
	}
	return Change{Cluster: true}, nil
}

// decidable returns the schedule if slot is after every slot already decided for it.
func (f *FSM) decidable(id string, slot *timestamppb.Timestamp) (*murphyv1.Schedule, error) {
	s, ok := f.schedules[id]
	if !ok {
		return nil, fmt.Errorf("%w: schedule %q", ErrNotFound, id)
	}
	if s.LastSlot != nil && !slot.AsTime().After(s.LastSlot.AsTime()) {
		return nil, fmt.Errorf("%w: schedule %q already decided the slot %s", ErrExists, id, slot.AsTime().UTC().Format("2006-01-02T15:04:05Z"))
	}
	return s, nil
}

// applyFireSchedule creates the run and records the decision in one entry, so a firing
// either happened completely or not at all.
func (f *FSM) applyFireSchedule(cmd *murphyv1.Command, c *murphyv1.FireSchedule) (Change, error) {
	if c.Slot == nil || c.RunId == "" || c.SpecJson == "" {
		return Change{}, fmt.Errorf("%w: a firing needs a slot, a run id and a spec", ErrInvalid)
	}
	s, err := f.decidable(c.ScheduleId, c.Slot)
	if err != nil {
		return Change{}, err
	}
	if f.schedulesPaused {
		return Change{}, fmt.Errorf("%w: schedules are paused", ErrHalted)
	}
	ch, err := f.applyCreateRun(cmd, &murphyv1.CreateRun{RunId: c.RunId, Experiment: s.Name, SpecJson: c.SpecJson, SpecDigest: s.SpecDigest})
	if err != nil {
		return ch, err
	}
	f.runs[c.RunId].ScheduleId = s.Id
	f.runs[c.RunId].ScheduleSlot = c.Slot
	f.runs[c.RunId].SubmittedBy = "schedule:" + s.Id
	s.LastSlot, s.NextAt, s.LastRunId = c.Slot, c.NextAt, c.RunId
	if s.FiredDay != c.Day {
		s.FiredDay, s.FiredOnDay = c.Day, 0
	}
	s.FiredOnDay++
	s.FiredTotal++
	return Change{RunID: c.RunId, Cluster: true}, nil
}

func (f *FSM) applySkipSchedule(cmd *murphyv1.Command, c *murphyv1.SkipSchedule) (Change, error) {
	if c.Slot == nil {
		return Change{}, fmt.Errorf("%w: a skip needs a slot", ErrInvalid)
	}
	s, err := f.decidable(c.ScheduleId, c.Slot)
	if err != nil {
		return Change{}, err
	}
	s.LastSlot, s.NextAt = c.Slot, c.NextAt
	s.LastSkip, s.LastSkipReason = cmd.At, c.Reason
	s.SkippedTotal++
	return Change{Cluster: true}, nil
}

func (f *FSM) applyDeleteSchedule(c *murphyv1.DeleteSchedule) (Change, error) {
	if _, ok := f.schedules[c.ScheduleId]; !ok {
		return Change{}, fmt.Errorf("%w: schedule %q", ErrNotFound, c.ScheduleId)
	}
	delete(f.schedules, c.ScheduleId)
	return Change{Cluster: true}, nil
}

func (f *FSM) applyPauseSchedules(c *murphyv1.PauseSchedules) (Change, error) {
	f.schedulesPaused = c.Paused
	return Change{Cluster: true}, nil
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
