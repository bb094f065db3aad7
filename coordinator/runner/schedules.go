package runner

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/schedule"
	"github.com/murphy-chaos/murphy/coordinator/selector"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// LateLimit is how late a leader may decide a slot that came while it led and still fire
// it: a stall of the leader's loop. A slot that came before this leader took over (during
// an election, a loss of quorum, a restart) was missed, however recent: it is recorded as
// skipped rather than fired late, so chaos never lands at a time nobody chose.
const LateLimit = 5 * time.Second

// maxSkipBatch bounds the slots one SkipSchedule carries, so an entry stays small however
// long the outage was; the next tick decides the next batch.
const maxSkipBatch = 1000

type compiled struct {
	plan *schedule.Plan
	spec *spec.Experiment
	// What it was compiled from: the committed spec, or a legacy schedule's JSON.
	committed *spec.Experiment
	json      string
}

// fireSchedules decides every slot that has come: fire (create the run) or skip (with the
// reason). Each decision is one committed command naming the slot the schedule waits for,
// so a leader that took over mid-decision cannot fire twice, and no slot passes without
// a decision: slots that pass while schedules are paused or the cluster is halted are
// skipped at their time, and slots that passed with no leader are skipped by the next
// one, each with its reason.
func (r *Runner) fireSchedules(ctx context.Context) {
	schedules, paused := r.cfg.FSM.Schedules()
	halted := r.cfg.FSM.ClusterHalt() != nil
	now := r.cfg.Now()
	defer r.forgetSchedules(schedules)
	for _, s := range schedules {
		if s.NextAt == nil || s.NextAt.AsTime().IsZero() || now.Before(s.NextAt.AsTime()) {
			continue
		}
		c, err := r.compiledSchedule(s)
		if err != nil {
			r.log.Error("schedule cannot be planned", "schedule", s.Id, "error", err)
			continue
		}
		slot := s.NextAt.AsTime()
		if r.missed(slot, now) {
			r.skipMissed(ctx, s, c, now)
			continue
		}
		next := c.plan.Next(slot, drawUnit())
		reason := ""
		switch {
		case halted:
			reason = "the cluster is halted (`murphy resume` lifts the halt; schedules stay paused until `murphy schedules resume`)"
		case paused:
			reason = "schedules are paused (`murphy schedules resume` lets them fire)"
		case s.Paused:
			reason = fmt.Sprintf("the schedule is paused (`murphy schedules resume %s` lets it fire)", s.Id)
		default:
			if ok, why := c.plan.Allowed(slot, r.capUsed(s, c, slot)); !ok {
				reason = why
			} else if why := r.overLimits(s, c); why != "" {
				reason = why
			} else {
				reason = r.overlap(ctx, s, c, slot)
			}
		}
		if reason != "" {
			r.skip(ctx, s, []time.Time{slot}, reason, next)
			continue
		}
		runSpec, err := RunSpec(c.spec)
		if err != nil {
			r.log.Error("schedule run spec", "schedule", s.Id, "error", err)
			continue
		}
		var b [3]byte
		_, _ = crand.Read(b[:])
		runID := c.spec.Name + "-" + hex.EncodeToString(b[:])
		fire := &murphyv1.FireSchedule{
			ScheduleId: s.Id, Slot: s.NextAt, RunId: runID, Spec: runSpec, Day: c.plan.Day(slot), NextAt: timestamppb.New(next),
		}
		if until := c.plan.Until(slot); !until.IsZero() {
			fire.Until = timestamppb.New(until)
		}
		r.log.Info("schedule fired", "schedule", s.Id, "slot", slot, "run", runID)
		if err := r.apply(ctx, &murphyv1.Command{By: "schedule:" + s.Id, Cmd: &murphyv1.Command_FireSchedule{FireSchedule: fire}}); err != nil {
			r.log.Error("fire schedule", "schedule", s.Id, "error", err)
		}
	}
}

// forgetSchedules drops the plans of deleted schedules once no run of theirs is active
// (a queued run still reads its schedule's maxWait).
func (r *Runner) forgetSchedules(schedules []*murphyv1.Schedule) {
	gone := map[string]bool{}
	for id := range r.schedules {
		gone[id] = true
	}
	for _, s := range schedules {
		delete(gone, s.Id)
	}
	if len(gone) == 0 {
		return
	}
	for _, run := range r.cfg.FSM.ActiveRuns() {
		delete(gone, run.ScheduleId)
	}
	for id := range gone {
		delete(r.schedules, id)
	}
}

// missed reports whether a slot passed without a leader able to fire it on time: before
// this runner led, or longer ago than LateLimit.
func (r *Runner) missed(slot, now time.Time) bool {
	return slot.Before(r.leading) || now.Sub(slot) > LateLimit
}

// skipMissed records the missed slots, oldest first, as skipped: nothing missed is fired
// late.
func (r *Runner) skipMissed(ctx context.Context, s *murphyv1.Schedule, c compiled, now time.Time) {
	slot := s.NextAt.AsTime()
	var slots []time.Time
	for !slot.IsZero() && r.missed(slot, now) && len(slots) < maxSkipBatch {
		slots = append(slots, slot)
		slot = c.plan.Next(slot, drawUnit())
	}
	reason := fmt.Sprintf("missed: no leader could decide it within %s (decided %s after the slot)", LateLimit, now.Sub(slots[0]).Round(time.Second))
	if slots[0].Before(r.leading) && now.Sub(slots[0]) <= LateLimit {
		reason = fmt.Sprintf("missed: it came while no leader could act (this leader took over %s after it)", r.leading.Sub(slots[0]).Round(time.Millisecond))
	}
	r.skip(ctx, s, slots, reason, slot)
}

func (r *Runner) skip(ctx context.Context, s *murphyv1.Schedule, slots []time.Time, reason string, next time.Time) {
	r.log.Info("schedule slot skipped", "schedule", s.Id, "slot", slots[0], "slots", len(slots), "reason", reason)
	sk := &murphyv1.SkipSchedule{ScheduleId: s.Id, Slot: s.NextAt, Reason: reason, NextAt: timestamppb.New(next)}
	for _, t := range slots[1:] {
		sk.MoreSlots = append(sk.MoreSlots, timestamppb.New(t))
	}
	if err := r.apply(ctx, &murphyv1.Command{By: "schedule:" + s.Id, Cmd: &murphyv1.Command_SkipSchedule{SkipSchedule: sk}}); err != nil {
		r.log.Error("record skipped slot", "schedule", s.Id, "error", err)
	}
}

// capUsed is how much of the daily cap the slot's day has used: the firings of that day,
// less the runs that never started because the fleet could not form their groups (or
// were cancelled before they started). A shortage of workers is not chaos that happened.
func (r *Runner) capUsed(s *murphyv1.Schedule, c compiled, slot time.Time) int {
	day := c.plan.Day(slot)
	if s.FiredDay != day {
		return 0
	}
	used := int(s.FiredOnDay)
	if c.spec.Schedule.MaxPerDay == 0 || used < int(c.spec.Schedule.MaxPerDay) {
		return used // the refund can only matter at the cap
	}
	for _, run := range r.cfg.FSM.Runs() {
		if run.ScheduleId == s.Id && run.Phase == murphyv1.RunPhase_RUN_PHASE_FAILED && run.Groups == nil &&
			run.ScheduleSlot != nil && c.plan.Day(run.ScheduleSlot.AsTime()) == day {
			used--
		}
	}
	return used
}

// overlap applies the schedule's overlap policy to a slot that may fire, returning why it
// is skipped (empty: fire). Replace halts the schedule's active runs first.
func (r *Runner) overlap(ctx context.Context, s *murphyv1.Schedule, c compiled, slot time.Time) string {
	var started, queued []*murphyv1.Run
	for _, run := range r.cfg.FSM.ActiveRuns() {
		if run.ScheduleId != s.Id {
			continue
		}
		if run.Phase == murphyv1.RunPhase_RUN_PHASE_PENDING {
			queued = append(queued, run)
		} else {
			started = append(started, run)
		}
	}
	if len(started)+len(queued) == 0 {
		return ""
	}
	sc := c.spec.Schedule
	switch sc.OverlapOrDefault() {
	case spec.OverlapQueue:
		if len(queued) >= sc.QueueLimit() {
			return fmt.Sprintf("%d runs already wait behind the active one (overlap: queue, maxQueued %d)", len(queued), sc.QueueLimit())
		}
		return ""
	case spec.OverlapReplace:
		why := "replaced by its schedule's slot " + slot.UTC().Format(time.RFC3339)
		for _, run := range queued {
			if err := r.fail(ctx, run, why); err != nil {
				return fmt.Sprintf("could not cancel the queued run %s: %v", run.Id, err)
			}
		}
		for _, run := range started {
			if err := r.apply(ctx, &murphyv1.Command{By: "schedule:" + s.Id, Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{RunId: run.Id, Reason: why}}}); err != nil {
				return fmt.Sprintf("could not halt the run %s it replaces: %v", run.Id, err)
			}
		}
		return ""
	default:
		prev := append(started, queued...)[0]
		return fmt.Sprintf("the previous run %s is still %s (overlap: skip)", prev.Id, phaseWord(prev.Phase))
	}
}

func phaseWord(p murphyv1.RunPhase) string {
	if p == murphyv1.RunPhase_RUN_PHASE_PENDING {
		return "waiting to start"
	}
	return "active"
}

// scheduledStart holds a scheduled run before it forms its groups: behind an earlier run
// of its schedule (overlap: queue), or ends it when its window has closed or it waited
// longer than maxWait. It reports whether start must not go on.
func (r *Runner) scheduledStart(ctx context.Context, run *murphyv1.Run, sp *spec.Experiment) (bool, error) {
	if run.ScheduleId == "" {
		return false, nil
	}
	now := r.cfg.Now()
	if u := run.GetScheduleUntil(); u != nil && !now.Before(u.AsTime()) {
		return true, r.fail(ctx, run, fmt.Sprintf("skipped: its schedule's window closed at %s before it could start", u.AsTime().UTC().Format(time.RFC3339)))
	}
	if s, err := r.scheduleSpec(run.ScheduleId); err == nil && s.MaxWait.AsDuration() > 0 {
		if waited := now.Sub(run.ScheduleSlot.AsTime()); waited > s.MaxWait.AsDuration() {
			return true, r.fail(ctx, run, fmt.Sprintf("skipped: it waited %s to start, longer than its schedule's maxWait %s", waited.Round(time.Second), s.MaxWait.AsDuration()))
		}
	}
	for _, other := range r.cfg.FSM.ActiveRuns() {
		if other.Id != run.Id && other.ScheduleId == run.ScheduleId && other.ScheduleSlot.AsTime().Before(run.ScheduleSlot.AsTime()) {
			why := "queued behind " + other.Id + " of the same schedule"
			if rs := r.stateOf(run); rs.waiting != why {
				rs.waiting = why
				r.log.Info("run waiting", "run", run.Id, "reason", why)
			}
			return true, nil
		}
	}
	return false, nil
}

// windowMargin is kept between a step's planned end and the window's end, for the
// revert to reach the workers before the window closes.
const windowMargin = time.Second

// stepOutsideWindow ends a scheduled run instead of starting step i when that step (with
// the parallel steps that start with it, and the cooldown) would not end windowMargin
// before the window that holds the run's slot closes. It reports whether the step must not start.
func (r *Runner) stepOutsideWindow(ctx context.Context, run *murphyv1.Run, sp *spec.Experiment, i int) (bool, error) {
	u := run.GetScheduleUntil()
	if u == nil {
		return false, nil
	}
	longest := sp.Steps[i].Fault.GetDuration().AsDuration()
	for j := i + 1; j < len(sp.Steps) && sp.Steps[j].Parallel; j++ {
		longest = max(longest, sp.Steps[j].Fault.GetDuration().AsDuration())
	}
	end := r.cfg.Now().Add(longest + sp.Cooldown.AsDuration())
	if !end.Add(windowMargin).After(u.AsTime()) {
		return false, nil
	}
	return true, r.fail(ctx, run, fmt.Sprintf("step %d not started: with its cooldown it would end at %s, less than %s before its schedule's window closes at %s",
		i+1, end.UTC().Format(time.RFC3339), windowMargin, u.AsTime().UTC().Format(time.RFC3339)))
}

// windowClosed reverts every fault of a scheduled run whose window has closed and ends
// it. Steps are planned to end inside the window, so this is the backstop for what ran
// late (a failover, a slow acknowledgement). It reports whether the run ended.
func (r *Runner) windowClosed(ctx context.Context, run *murphyv1.Run) (bool, error) {
	u := run.GetScheduleUntil()
	if u == nil || r.cfg.Now().Before(u.AsTime()) {
		return false, nil
	}
	return true, r.fail(ctx, run, "its schedule's window closed at "+u.AsTime().UTC().Format(time.RFC3339)+": every fault reverted")
}

// assignDeadline is a worker's own deadline for a step: the step's end plus grace, but
// never after a scheduled run's window closes, so the window holds even when no leader
// is there to revert.
func assignDeadline(run *murphyv1.Run, stepEnd time.Time) time.Time {
	if u := run.GetScheduleUntil(); u != nil && u.AsTime().Before(stepEnd) {
		return u.AsTime()
	}
	return stepEnd
}

func (r *Runner) scheduleSpec(id string) (*spec.Schedule, error) {
	if c, ok := r.schedules[id]; ok {
		return c.spec.Schedule, nil
	}
	ss, _ := r.cfg.FSM.Schedules()
	for _, s := range ss {
		if s.Id == id {
			c, err := r.compiledSchedule(s)
			if err != nil {
				return nil, err
			}
			return c.spec.Schedule, nil
		}
	}
	return nil, fmt.Errorf("schedule %s not found", id)
}

// compiledSchedule caches a schedule's plan by ID and spec digest: an update in place
// replaces the spec under the same ID.
func (r *Runner) compiledSchedule(s *murphyv1.Schedule) (compiled, error) {
	if c, ok := r.schedules[s.Id]; ok && c.json == s.SpecJson && proto.Equal(c.committed, s.GetSpec()) {
		return c, nil
	}
	sp, err := spec.Of(s)
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
	c := compiled{plan: plan, spec: sp, committed: s.GetSpec(), json: s.SpecJson}
	r.schedules[s.Id] = c
	return c, nil
}

// RunSpec is the spec a scheduled firing runs: the schedule's experiment without the
// schedule, restricted to opted-in workers unless the schedule says otherwise.
func RunSpec(sp *spec.Experiment) (*spec.Experiment, error) {
	t, err := RunTargets(sp)
	if err != nil {
		return nil, err
	}
	run := proto.Clone(sp).(*spec.Experiment)
	run.Schedule = nil
	run.Targets = t
	return run, nil
}

// RunTargets are the targets of a scheduled firing: the spec's, plus the opt-in label
// unless the schedule opts out.
func RunTargets(sp *spec.Experiment) (*spec.Targets, error) {
	t := proto.Clone(sp.Targets).(*spec.Targets)
	// Pods are offered only when they opted in themselves (worker/targets): the node's
	// worker need not carry the label too.
	if sp.Schedule == nil || !sp.Schedule.OptedIn() || t.Kubernetes != nil {
		return t, nil
	}
	if t.Match != "" {
		sel, err := selector.Parse(t.Match)
		if err != nil {
			return t, err
		}
		t.Match = sel.And(selector.FromMap(map[string]string{spec.OptInLabel: "enabled"})).String()
		return t, nil
	}
	m := maps.Clone(t.Selector)
	if m == nil {
		m = map[string]string{}
	}
	m[spec.OptInLabel] = "enabled"
	t.Selector = m
	return t, nil
}

// drawUnit is a uniform draw in (0,1] for the random mode. It is the leader's decision,
// committed as the next slot, so no other node ever draws.
func drawUnit() float64 { return 1 - rand.Float64() }
