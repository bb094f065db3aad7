package runner

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// A run's record must say what happened on every host, not what the leader asked for.
// Workers report each injection and each revert with its own time and cause; the leader
// files them here and commits them once per tick as RecordWindows, for running and ended
// runs alike (the last step's revert is confirmed after the run has moved on).

// fileWindow keeps a worker's injection or revert of a run's step for the next commit.
// A status that names another assignment than the step's current one (a late report of
// an earlier escalation wave, whose step numbers repeat) is not this step's.
func (r *Runner) fileWindow(run fsm.RunHead, worker string, st *murphyv1.StepStatus, now time.Time) {
	if st.AssignmentId != headAssignmentID(run, st.Step, worker) {
		return
	}
	at := st.At
	if at == nil {
		at = timestamppb.New(now)
	}
	w := &murphyv1.FaultWindow{WorkerId: worker, Step: st.Step}
	switch st.State {
	case murphyv1.FaultState_FAULT_STATE_INJECTED:
		w.InjectedAt = at
	case murphyv1.FaultState_FAULT_STATE_REVERTED:
		if st.Error != "" {
			return // the worker holds nothing under this ID but cannot say when it ended
		}
		w.RevertedAt, w.Cause, w.InjectedAt = at, st.Cause, st.InjectedAt
	default:
		return
	}
	rs := r.headState(run)
	rs.windows = append(rs.windows, w)
}

// commitWindows commits every filed window, one command per run.
func (r *Runner) commitWindows(ctx context.Context) {
	for _, id := range slices.Sorted(maps.Keys(r.runs)) {
		rs := r.runs[id]
		ws := rs.windows
		if len(ws) == 0 {
			continue
		}
		rs.windows = nil
		// Ignorable: a follower of an older version, which keeps no windows, skips it.
		if err := r.apply(ctx, &murphyv1.Command{Ignorable: true, Cmd: &murphyv1.Command_RecordWindows{RecordWindows: &murphyv1.RecordWindows{RunId: id, Windows: ws}}}); err != nil && ctx.Err() == nil {
			r.log.Error("record fault windows", "run", id, "error", err)
		}
	}
}

// unconfirmedFor is how long a step may be over before a fault whose revert was never
// confirmed counts as unconfirmed: the worker's own deadline (step end plus Grace) and a
// resend of the revert must both have had their chance.
func (r *Runner) unconfirmedFor() time.Duration { return r.cfg.Grace + 2*r.cfg.Resend }

// Unconfirmed lists the faults of run that a worker may still hold: windows with no
// confirmed revert whose worker is not connected, or whose step is over by more than
// slack. connected reports whether a worker's stream is attached now.
func Unconfirmed(run *murphyv1.Run, now time.Time, slack time.Duration, connected func(string) bool) []*murphyv1.FaultWindow {
	var out []*murphyv1.FaultWindow
	for _, st := range run.GetSteps() {
		over := st.EndedAt != nil && now.Sub(st.EndedAt.AsTime()) > slack
		for _, w := range st.Windows {
			if w.RevertedAt != nil {
				continue
			}
			if over || !connected(fsm.WorkerOf(run.GetGroups(), w.WorkerId)) {
				out = append(out, w)
			}
		}
	}
	return out
}

// unconfirmedHorizon bounds how far back the sweep looks for unconfirmed faults: a worker
// gone for good keeps its run's faults counted for a day, which is long enough for an
// alert to be seen and short enough that the sweep stays cheap.
const unconfirmedHorizon = 24 * time.Hour

// countUnconfirmed sets murphy_faults_unconfirmed from the active and recently ended
// runs.
func (r *Runner) countUnconfirmed(now time.Time) {
	if r.cfg.Metrics == nil || r.cfg.Metrics.FaultsUnconfirmed == nil {
		return
	}
	n := 0
	runs := append(r.cfg.FSM.ActiveRuns(), r.cfg.FSM.EndedSince(now.Add(-unconfirmedHorizon))...)
	for _, run := range runs {
		ws := Unconfirmed(run, now, r.unconfirmedFor(), r.cfg.Fleet.Connected)
		if len(ws) == 0 {
			continue
		}
		r.askForReverts(run, ws)
		rs := r.stateOf(run)
		if rs.warned == nil {
			rs.warned = map[unconfirmedKey]bool{}
		}
		for _, w := range ws {
			if !rs.warned[unconfirmedKey{w.WorkerId, w.Step}] {
				rs.warned[unconfirmedKey{w.WorkerId, w.Step}] = true
				r.log.Warn("fault not confirmed reverted", "run", run.Id, "worker", w.WorkerId, "step", w.Step+1,
					"connected", r.cfg.Fleet.Connected(fsm.WorkerOf(run.GetGroups(), w.WorkerId)))
			}
		}
		n += len(ws)
	}
	r.cfg.Metrics.FaultsUnconfirmed.Set(float64(n))
}

func newUnconfirmedGauge() prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "murphy_faults_unconfirmed",
		Help: "Faults that a lost or silent worker may still hold: injected, never confirmed reverted, and either the worker is disconnected or the step is over. Set by the leader; 0 elsewhere.",
	})
}

// workerWindows is each experimental worker's real fault time in [from, to): from its
// first injection to, when its faults ended before their time (dead-man's switch, its
// own deadline, a restart, the guardian, a reconcile), its last revert. ok is false when
// the run holds no windows at all (recorded before windows were kept): then every worker
// counts the whole range. A worker that acknowledged no injection has an empty range.
func workerWindows(run *murphyv1.Run, from, to time.Time) (out map[string][2]time.Time, early map[string]murphyv1.RevertCause, ok bool) {
	out, early = map[string][2]time.Time{}, map[string]murphyv1.RevertCause{}
	for _, st := range run.GetSteps() {
		if len(st.Windows) > 0 {
			ok = true
		}
	}
	if !ok {
		return nil, nil, false
	}
	for _, w := range run.GetGroups().GetExperiment() {
		var first, last time.Time
		faulted, cut := false, false
		var cause murphyv1.RevertCause
		for _, st := range run.Steps {
			timed := st.GetFault().GetDuration().AsDuration() > 0
			for _, win := range st.Windows {
				if win.WorkerId != w {
					continue
				}
				faulted = true
				if a := win.GetInjectedAt(); a != nil && (first.IsZero() || a.AsTime().Before(first)) {
					first = a.AsTime()
				}
				if !timed || win.RevertedAt == nil || !endedEarly(win.Cause) {
					continue
				}
				cut, cause = true, win.Cause
				if b := win.RevertedAt.AsTime(); b.After(last) {
					last = b
				}
			}
		}
		if !faulted {
			// Never acknowledged: if it failed every step it was never faulted; if it
			// holds no window because its step targeted other hosts (where), it keeps
			// the whole range as before.
			if failedAll(run, w) {
				out[w] = [2]time.Time{from, from}
			}
			continue
		}
		lo, hi := from, to
		if !first.IsZero() && first.After(lo) {
			lo = first
		}
		if cut && last.Before(hi) {
			hi = last
			early[w] = cause
		}
		if hi.Before(lo) {
			hi = lo
		}
		out[w] = [2]time.Time{lo, hi}
	}
	return out, early, true
}

// endedEarly tells the causes that end a fault before the leader asked: the analysis
// must not count a host as faulted after them.
func endedEarly(c murphyv1.RevertCause) bool {
	switch c {
	case murphyv1.RevertCause_REVERT_CAUSE_DEADMAN, murphyv1.RevertCause_REVERT_CAUSE_STARTUP,
		murphyv1.RevertCause_REVERT_CAUSE_GUARDIAN, murphyv1.RevertCause_REVERT_CAUSE_RECONCILE:
		return true
	}
	return false
}

func failedAll(run *murphyv1.Run, w string) bool {
	any := false
	for _, st := range run.Steps {
		if slices.Contains(st.Injected, w) {
			return false
		}
		if slices.Contains(st.Failed, w) {
			any = true
		}
	}
	return any
}

// acked reports whether worker's injection of run's step is filed for the next commit.
func (r *Runner) acked(run *murphyv1.Run, step int32, worker string) bool {
	a := r.stateOf(run).acks[step]
	return a != nil && slices.Contains(a.injected, worker)
}

// fileAck files an injection learnt from a worker's hello (its acknowledgement was lost
// with a leader), as the acknowledgement and the window's start.
func (r *Runner) fileAck(run *murphyv1.Run, step int32, worker string, at *timestamppb.Timestamp) {
	rs := r.stateOf(run)
	if rs.acks == nil {
		rs.acks = map[int32]*stepAcks{}
	}
	a := rs.acks[step]
	if a == nil {
		a = &stepAcks{step: step}
		rs.acks[step] = a
	}
	a.injected = append(a.injected, worker)
	if at != nil {
		rs.windows = append(rs.windows, &murphyv1.FaultWindow{WorkerId: worker, Step: step, InjectedAt: at})
	}
	r.log.Info("injection learnt from the worker's hello", "run", run.Id, "step", step+1, "worker", worker)
}

// askForReverts asks each connected worker holding an unconfirmed window of run about it:
// a worker that reverted the fault answers with the revert it remembers (time and cause),
// whose status may have died with a leader; one that still holds it reverts it, since its
// step is over. Escalation waves name their assignments by wave, which windows do not
// record; their windows wait for the workers' own reports.
func (r *Runner) askForReverts(run *murphyv1.Run, ws []*murphyv1.FaultWindow) {
	if run.WaveLevel != "" || len(run.Waves) > 0 {
		return
	}
	for _, w := range ws {
		worker := fsm.WorkerOf(run.GetGroups(), w.WorkerId)
		if !r.cfg.Fleet.Connected(worker) {
			continue
		}
		if !r.due(assignKey(msgConfirm, run, w.Step, w.WorkerId)) {
			continue
		}
		id := assignmentID(run, w.Step, w.WorkerId)
		r.cfg.Fleet.Send(worker, &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Revert{Revert: &murphyv1.Revert{
			RunId: run.Id, AssignmentIds: []string{id}, Cause: murphyv1.RevertCause_REVERT_CAUSE_RECONCILE}}})
	}
}
