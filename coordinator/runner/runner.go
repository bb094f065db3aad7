// Package runner drives runs through their phases on the leader: it forms groups, starts
// probes, injects and reverts steps at their deadlines, delivers halts until every worker
// has acknowledged, declares silent workers lost, and computes verdicts. It acts only
// through two channels: commands proposed to Raft (decisions) and messages queued to
// workers through the fleet (actions). Everything it knows beyond the FSM is soft and is
// rebuilt when a new leader starts a fresh Runner.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/promsrc"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// ApplyFunc proposes a command to the replicated log and waits for it to be applied,
// returning the FSM's rejection if any. It stamps nothing: the runner sets At.
type ApplyFunc func(ctx context.Context, cmd *murphyv1.Command) error

// Config wires a Runner. Zero durations take the defaults in parentheses.
type Config struct {
	NodeID string
	FSM    *fsm.FSM
	Fleet  *fleet.Fleet
	Apply  ApplyFunc
	Now    func() time.Time
	Logger *slog.Logger
	// Tick is the loop's period when nothing wakes it (100ms).
	Tick time.Duration
	// WaitForWorkers is how long a pending run waits for enough workers before failing
	// (30s); a new leader needs a moment for workers to reconnect.
	WaitForWorkers time.Duration
	// LostAfter is the silence after which a worker is declared lost (10s).
	LostAfter time.Duration
	// Grace is added to a step's end for the worker's own hard deadline, so the leader's
	// revert normally comes first and the worker's timer is the backstop (2s).
	Grace time.Duration
	// Settle is how long analysis waits after the last fault window for samples in
	// flight (1s).
	Settle time.Duration
	// Resend is how often an unanswered assign, halt or revert is sent again (1s).
	Resend time.Duration
	// Seed returns the seed for a group split; crypto/rand when nil.
	Seed func() uint64
	// Metrics may be nil (tests).
	Metrics *Metrics
	// Prometheus answers metrics with a Prometheus source; nil when none is configured.
	Prometheus *promsrc.Client
	// ScheduleLimits bound continuous chaos across schedules (limits.go).
	ScheduleLimits Limits
	// NodesDeliverHalts says every node of the cluster sends committed halts to the
	// workers whose streams it holds, as it applies them, and again on each new stream:
	// the runner then only files the acknowledgements. Without it (a fleet driven by the
	// runner alone) the runner sends the halts itself.
	NodesDeliverHalts bool
}

func (c *Config) defaults() {
	if c.Tick == 0 {
		c.Tick = 100 * time.Millisecond
	}
	if c.WaitForWorkers == 0 {
		c.WaitForWorkers = 30 * time.Second
	}
	if c.LostAfter == 0 {
		c.LostAfter = 10 * time.Second
	}
	if c.Grace == 0 {
		c.Grace = 2 * time.Second
	}
	if c.Settle == 0 {
		c.Settle = time.Second
	}
	if c.Resend == 0 {
		c.Resend = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Seed == nil {
		c.Seed = func() uint64 {
			var b [8]byte
			_, _ = rand.Read(b[:])
			return binary.LittleEndian.Uint64(b[:])
		}
	}
}

// Runner is one leadership term's run driver. Create one per term; it is not reusable.
type Runner struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	// Leader-local bookkeeping, touched only by the loop goroutine.
	// leading is when this runner began to lead: a schedule slot before it passed while no
	// leader could act, and is skipped rather than fired late.
	leading time.Time
	// runs holds each run from its adoption until its end-of-run work is done (state.go).
	runs   map[string]*runState
	sent   map[msgKey]time.Time // last send, for messages re-sent until answered (due)
	sentOn map[msgKey]uint64    // stream a message was queued on (sendOnce)
	// The held runs' guardrails, copied out for Watch streams on other goroutines.
	status guardStatus
	// Compiled schedules, by ID, while the schedule exists or a run of it is active.
	schedules map[string]compiled
	// The cluster's halt being delivered; nil while the cluster is not halted.
	haltAll *haltAllState

	lastSweep     time.Time
	lastSummaries time.Time
	// targets holds workers' reported targets until the next commit (targets.go).
	targets map[string][]*murphyv1.Target
}

// haltAllState is who acknowledged the cluster's halt committed at at.
type haltAllState struct {
	at    time.Time
	acked map[string]bool
	want  int
}

// New returns a runner; call Run to start it.
func New(cfg Config) *Runner {
	cfg.defaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{
		cfg:       cfg,
		log:       log.With("component", "runner"),
		wake:      make(chan struct{}, 1),
		runs:      map[string]*runState{},
		sent:      map[msgKey]time.Time{},
		sentOn:    map[msgKey]uint64{},
		status:    guardStatus{by: map[string][]*murphyv1.GuardrailStatus{}},
		schedules: map[string]compiled{},
		// A runner is made when its node has won an election and passed the barrier.
		leading: cfg.Now(),
	}
	r.rebuild()
	return r
}

// Poke asks the loop to look again now (a run was submitted or halted).
func (r *Runner) Poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run drives runs until ctx is cancelled (leadership lost).
func (r *Runner) Run(ctx context.Context) {
	ids := make([]string, 0)
	for _, w := range r.cfg.FSM.Workers() {
		ids = append(ids, w.Id)
	}
	r.cfg.Fleet.Reset(ids)
	t := time.NewTicker(r.cfg.Tick)
	defer t.Stop()
	// Only the leader counts unconfirmed faults; a former leader must not keep alerting.
	defer func() {
		if r.cfg.Metrics != nil && r.cfg.Metrics.FaultsUnconfirmed != nil {
			r.cfg.Metrics.FaultsUnconfirmed.Set(0)
		}
	}()
	// A tick walks every active run and connected worker, so it must not run once per
	// worker message: with thousands of workers acknowledging a halt that would be
	// quadratic. Events are only filed; ticks come from the ticker and from wakes, and
	// wakes closer than minWakeGap to the last tick are folded into the next one (a quiet
	// leader still reacts to a halt at once).
	var last time.Time
	pending := false
	var gap <-chan time.Time
	tick := func() {
		r.drainEvents()
		r.tick(ctx)
		last, pending, gap = time.Now(), false, nil
	}
	tick()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tick()
		case <-r.wake:
			pending = true
		case <-r.cfg.Fleet.Wake():
			pending = true
		case ev := <-r.cfg.Fleet.Events():
			r.handle(ev)
			r.drainEvents()
		case <-gap:
			tick()
		}
		if pending && gap == nil {
			if wait := minWakeGap - time.Since(last); wait > 0 {
				gap = time.After(wait)
			} else {
				tick()
			}
		}
	}
}

// minWakeGap bounds how often wakes can trigger a tick.
const minWakeGap = 5 * time.Millisecond

func (r *Runner) drainEvents() {
	for {
		select {
		case ev := <-r.cfg.Fleet.Events():
			r.handle(ev)
		default:
			return
		}
	}
}

// handle files a worker's report for the next commit.
func (r *Runner) handle(ev fleet.Event) {
	now := r.cfg.Now()
	switch m := ev.Msg.Msg.(type) {
	case *murphyv1.ConnectRequest_Targets:
		r.fileTargets(ev.WorkerID, m.Targets.GetTargets())
	case *murphyv1.ConnectRequest_StepStatus:
		st := m.StepStatus
		if r.rollbackStatus(ev.WorkerID, st) {
			return
		}
		run, ok := r.cfg.FSM.Head(st.RunId)
		if !ok {
			return
		}
		// The report is of the unit the assignment names: the worker, or one of its pods
		// (the fleet admitted it only as such).
		unit, ok := r.cfg.FSM.Unit(st.RunId, ev.WorkerID, "", st.AssignmentId)
		if !ok {
			return
		}
		r.fileWindow(run, unit, st, now)
		switch st.State {
		case murphyv1.FaultState_FAULT_STATE_INJECTED, murphyv1.FaultState_FAULT_STATE_FAILED:
			rs := r.headState(run)
			if rs.acks == nil {
				rs.acks = map[int32]*stepAcks{}
			}
			a := rs.acks[st.Step]
			if a == nil {
				a = &stepAcks{step: st.Step}
				rs.acks[st.Step] = a
			}
			if st.State == murphyv1.FaultState_FAULT_STATE_INJECTED {
				a.injected = append(a.injected, unit)
			} else {
				a.failed = append(a.failed, unit)
				a.errors = append(a.errors, fmt.Sprintf("%s: %s", unit, st.Error))
				r.log.Warn("fault injection failed", "run", st.RunId, "unit", unit, "error", st.Error)
			}
		case murphyv1.FaultState_FAULT_STATE_REVERTED:
			if run.Phase == murphyv1.RunPhase_RUN_PHASE_HALTED {
				at := st.At
				if at == nil {
					at = timestamppb.New(now)
				}
				rs := r.headState(run)
				rs.reverts = append(rs.reverts, &murphyv1.WorkerRevert{WorkerId: ev.WorkerID, At: at, Cause: st.Cause})
			}
		}
	case *murphyv1.ConnectRequest_HaltAck:
		ack := m.HaltAck
		at := ack.At
		if at == nil {
			at = timestamppb.New(now)
		}
		var runs []*murphyv1.Run
		if ack.RunId != "" {
			if run := r.cfg.FSM.Run(ack.RunId); run != nil {
				runs = append(runs, run)
			}
		} else {
			runs = r.haltedRunsOf(ev.WorkerID)
			if h := r.haltAll; h != nil {
				h.acked[ev.WorkerID] = true
				if len(h.acked) == h.want && r.cfg.Metrics != nil {
					r.cfg.Metrics.HaltFanout.Observe(now.Sub(h.at).Seconds())
				}
			}
		}
		for _, run := range runs {
			rs := r.stateOf(run)
			rs.reverts = append(rs.reverts, &murphyv1.WorkerRevert{WorkerId: ev.WorkerID, At: at, Cause: murphyv1.RevertCause_REVERT_CAUSE_HALT})
		}
	}
}

func (r *Runner) haltedRunsOf(worker string) []*murphyv1.Run {
	var out []*murphyv1.Run
	for _, run := range r.cfg.FSM.EndedSince(r.cfg.Now().Add(-HaltWindow)) {
		if run.Phase == murphyv1.RunPhase_RUN_PHASE_HALTED && member(run, worker) {
			out = append(out, run)
		}
	}
	return out
}

// apply stamps and proposes a command.
func (r *Runner) apply(ctx context.Context, cmd *murphyv1.Command) error {
	cmd.At = timestamppb.New(r.cfg.Now())
	if cmd.By == "" {
		cmd.By = "leader:" + r.cfg.NodeID
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return r.cfg.Apply(ctx, cmd)
}

// sendOnce queues msg for worker unless it was already queued on the worker's current
// stream. A stream delivers in order or breaks, and a worker whose stream broke
// reconnects with a new one, so this resends exactly when needed: never into a stream
// that already carries the message, always after a reconnect. It reports whether it sent.
func (r *Runner) sendOnce(key msgKey, worker string, msg fleet.Outbound) bool {
	id := r.cfg.Fleet.ConnID(worker)
	if id == 0 || r.sentOn[key] == id {
		return false
	}
	if r.cfg.Fleet.Queue(worker, msg) {
		r.sentOn[key] = id
		return true
	}
	return false
}

// due reports whether the message identified by key may be (re)sent now, and records it.
func (r *Runner) due(key msgKey) bool {
	now := r.cfg.Now()
	if last, ok := r.sent[key]; ok && now.Sub(last) < r.cfg.Resend {
		return false
	}
	r.sent[key] = now
	return true
}

func (r *Runner) tick(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	// Windows first: an injection is recorded with its window before anything acts on
	// the acknowledgement, and a revert before the halt it answers; a leader that dies in
	// between leaves nothing the next one cannot learn again.
	r.commitWindows(ctx)
	r.commitTargets(ctx)
	active := r.cfg.FSM.ActiveRuns()
	for _, run := range active {
		r.stateOf(run)
		if err := r.advance(ctx, run); err != nil && ctx.Err() == nil {
			r.log.Error("advance run", "run", run.Id, "error", err)
		}
	}
	r.finishHalts(ctx)
	r.summarize(ctx)
	r.deliverHaltAll()
	r.fireSchedules(ctx)
	// Sweeps over every worker are not on the halt path; once a second keeps them cheap
	// with tens of thousands of workers.
	if now := r.cfg.Now(); now.Sub(r.lastSweep) >= sweepEvery {
		r.lastSweep = now
		r.checkLost(ctx)
		r.countUnconfirmed(now)
		r.reconcile()
		r.dropOldSamples(now)
		r.pruneSent(now)
		r.dropFinished(active, now)
	}
}

const sweepEvery = time.Second

// deliverHaltAll tells every connected worker to revert everything while the cluster is
// halted, until each acknowledges; a worker that connects later is told too.
func (r *Runner) deliverHaltAll() {
	h := r.cfg.FSM.ClusterHalt()
	if h == nil {
		r.setHaltAll(nil)
		return
	}
	if at := h.At.AsTime(); r.haltAll == nil || !at.Equal(r.haltAll.at) {
		r.setHaltAll(&haltAllState{at: at, acked: map[string]bool{}, want: len(r.cfg.Fleet.ConnectedIDs())})
	}
	if r.cfg.NodesDeliverHalts {
		return
	}
	// One message for every worker, marshalled once: it is never modified after this.
	msg := fleet.NewShared(&murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Halt{Halt: &murphyv1.HaltOrder{Reason: h.Reason}}}).Outbound()
	for _, w := range r.cfg.Fleet.ConnectedIDs() {
		if r.haltAll.acked[w] {
			continue
		}
		r.sendOnce(msgKey{kind: msgHaltAll, worker: w}, w, msg)
	}
}

// setHaltAll starts delivering another cluster halt, or (nil) stops: a halt committed
// later, after a resume, is news to every worker, whatever stream it was on.
func (r *Runner) setHaltAll(h *haltAllState) {
	if r.haltAll == nil && h == nil {
		return
	}
	r.haltAll = h
	for k := range r.sentOn {
		if k.kind == msgHaltAll {
			delete(r.sentOn, k)
		}
	}
}

// checkLost commits a lost decision for registered workers silent for LostAfter.
func (r *Runner) checkLost(ctx context.Context) {
	now := r.cfg.Now()
	for _, id := range r.cfg.FSM.LiveWorkerIDs() {
		// Judge by silence, not by the stream: a connection cut without a FIN still
		// looks attached until keepalive notices. A live worker heartbeats every
		// half second, so its last contact is never old.
		last := r.cfg.Fleet.LastContact(id)
		if last.IsZero() || now.Sub(last) < r.cfg.LostAfter {
			continue
		}
		r.cfg.Fleet.Drop(id)
		r.log.Warn("worker lost", "worker", id, "silent_for", now.Sub(last).Round(time.Millisecond))
		if err := r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_MarkWorkerLost{MarkWorkerLost: &murphyv1.MarkWorkerLost{WorkerId: id}}}); err != nil {
			r.log.Error("mark worker lost", "worker", id, "error", err)
		}
	}
}

// member reports whether worker acts on a unit of run.
func member(run *murphyv1.Run, worker string) bool { return fsm.ActsIn(run.GetGroups(), worker) }

func members(run *murphyv1.Run) []string {
	return append(append([]string(nil), run.GetGroups().GetExperiment()...), run.GetGroups().GetControl()...)
}

func (r *Runner) specOf(run *murphyv1.Run) (*spec.Experiment, error) {
	rs := r.stateOf(run)
	if rs.spec != nil {
		return rs.spec, nil
	}
	sp, err := spec.Of(run)
	if err != nil {
		return nil, err
	}
	rs.spec = sp
	return sp, nil
}

func isTerminal(p murphyv1.RunPhase) bool { return fsm.Terminal(p) }

// dropOldSamples forgets the samples of runs that ended longer than the halt window ago:
// their verdicts and summaries are committed, and the store must not grow forever.
func (r *Runner) dropOldSamples(now time.Time) {
	samples := r.cfg.Fleet.Samples()
	for _, id := range samples.Runs() {
		run := r.cfg.FSM.Run(id)
		if run == nil || (fsm.Terminal(run.Phase) && now.Sub(run.GetEndedAt().AsTime()) > HaltWindow) {
			samples.Drop(id)
		}
	}
}

// pruneSent forgets send records that can no longer matter, so a long leadership term does
// not grow them without bound: resend timers older than the resend interval, and "queued
// on this stream" marks for streams the worker no longer has.
func (r *Runner) pruneSent(now time.Time) {
	for k, at := range r.sent {
		if now.Sub(at) >= r.cfg.Resend {
			delete(r.sent, k)
		}
	}
	for k, id := range r.sentOn {
		if r.cfg.Fleet.ConnID(k.worker) != id {
			delete(r.sentOn, k)
		}
	}
}
