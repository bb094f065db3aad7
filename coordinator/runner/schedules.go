package runner

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/schedule"
	"github.com/murphy-chaos/murphy/coordinator/selector"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// lateLimit is how late a slot may be decided and still fire. A slot older than this when
// the leader reaches it was missed (no leader could act, or schedules were paused); it is
// recorded as skipped rather than fired late or dropped silently.
const lateLimit = 30 * time.Second

type compiled struct {
	plan *schedule.Plan
	spec *spec.Experiment
}

// fireSchedules decides every slot that has come: fire (create the run) or skip (with the
// reason). Each decision is one committed command, refused by the FSM if the slot was
// already decided, so a leader that took over mid-decision cannot fire twice.
func (r *Runner) fireSchedules(ctx context.Context) {
	if r.cfg.FSM.ClusterHalt() != nil {
		return
	}
	schedules, paused := r.cfg.FSM.Schedules()
	if paused {
		return
	}
	now := r.cfg.Now()
	for _, s := range schedules {
		if s.NextAt == nil || now.Before(s.NextAt.AsTime()) {
			continue
		}
		c, err := r.compiledSchedule(s)
		if err != nil {
			r.log.Error("schedule cannot be planned", "schedule", s.Id, "error", err)
			continue
		}
		slot := s.NextAt.AsTime()
		next := c.plan.Next(slot, drawUnit())
		fired := int(s.FiredOnDay)
		if s.FiredDay != c.plan.Day(slot) {
			fired = 0
		}
		reason := ""
		if late := now.Sub(slot); late > lateLimit {
			reason = fmt.Sprintf("missed by %s: no leader could act, or schedules were paused", late.Round(time.Second))
			// Resume from now rather than replaying every slot that passed.
			next = c.plan.Next(now, drawUnit())
		} else if ok, why := c.plan.Allowed(slot, fired); !ok {
			reason = why
		}
		if reason != "" {
			r.log.Info("schedule slot skipped", "schedule", s.Id, "slot", slot, "reason", reason)
			if err := r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_SkipSchedule{SkipSchedule: &murphyv1.SkipSchedule{
				ScheduleId: s.Id, Slot: s.NextAt, Reason: reason, NextAt: timestamppb.New(next),
			}}}); err != nil {
				r.log.Error("record skipped slot", "schedule", s.Id, "error", err)
			}
			continue
		}
		js, err := RunSpec(c.spec)
		if err != nil {
			r.log.Error("schedule run spec", "schedule", s.Id, "error", err)
			continue
		}
		var b [3]byte
		_, _ = crand.Read(b[:])
		runID := c.spec.Name + "-" + hex.EncodeToString(b[:])
		r.log.Info("schedule fired", "schedule", s.Id, "slot", slot, "run", runID)
		if err := r.apply(ctx, &murphyv1.Command{By: "schedule:" + s.Id, Cmd: &murphyv1.Command_FireSchedule{FireSchedule: &murphyv1.FireSchedule{
			ScheduleId: s.Id, Slot: s.NextAt, RunId: runID, SpecJson: string(js), Day: c.plan.Day(slot), NextAt: timestamppb.New(next),
		}}}); err != nil {
			r.log.Error("fire schedule", "schedule", s.Id, "error", err)
		}
	}
}

func (r *Runner) compiledSchedule(s *murphyv1.Schedule) (compiled, error) {
	if c, ok := r.schedules[s.Id]; ok {
		return c, nil
	}
	sp, err := spec.Parse([]byte(s.SpecJson), s.Id+".json", spec.Options{})
	if err != nil {
		return compiled{}, err
	}
	if sp.Schedule == nil {
		return compiled{}, fmt.Errorf("schedule %s: its spec has no schedule", s.Id)
	}
	plan, err := schedule.Compile(sp.Schedule)
	if err != nil {
		return compiled{}, err
	}
	c := compiled{plan: plan, spec: sp}
	r.schedules[s.Id] = c
	return c, nil
}

// RunSpec is the spec a scheduled firing runs: the schedule's experiment without the
// schedule, restricted to opted-in workers unless the schedule says otherwise.
func RunSpec(sp *spec.Experiment) ([]byte, error) {
	run := *sp
	run.Schedule = nil
	if sp.Schedule != nil && sp.Schedule.OptedIn() {
		t := run.Targets
		if t.Match != "" {
			sel, err := selector.Parse(t.Match)
			if err != nil {
				return nil, err
			}
			t.Match = sel.And(selector.FromMap(map[string]string{spec.OptInLabel: "enabled"})).String()
		} else {
			m := maps.Clone(t.Selector)
			if m == nil {
				m = map[string]string{}
			}
			m[spec.OptInLabel] = "enabled"
			t.Selector = m
		}
		run.Targets = t
	}
	return run.Canonical()
}

// drawUnit is a uniform draw in (0,1] for the random mode. It is the leader's decision,
// committed as the next slot, so no other node ever draws.
func drawUnit() float64 { return 1 - rand.Float64() }
