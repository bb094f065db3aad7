package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/httpfault"
	"github.com/murphy-chaos/murphy/worker/journal"
	"github.com/murphy-chaos/murphy/worker/probe"
)

const (
	// opTimeout bounds one executor call.
	opTimeout = 10 * time.Second
	// revertRetry is how soon a failed revert is tried again.
	revertRetry = time.Second
	// finishedMemory is how many finished assignments are remembered, so a resent
	// Assign of a reverted fault is answered instead of injected again.
	finishedMemory = 4096
	// outboxLimit bounds messages queued while disconnected.
	outboxLimit = 10000
)

// Agent is a Murphy worker: it applies the coordinator's faults, guarantees their revert
// and runs steady-state probes.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	journal *journal.Journal
	proxies []*httpfault.Proxy
	reg     *fault.Registry
	caps    []string

	started   atomic.Bool
	closeOnce sync.Once

	// faultMu serialises inject and revert, which may take an fsync; the lighter state
	// below has its own lock so heartbeats never wait for a disk.
	faultMu  sync.Mutex
	faults   map[string]*activeFault
	finished map[string]*murphyv1.StepStatus
	order    []string // finished ids, oldest first
	nActive  atomic.Int32

	mu          sync.Mutex
	outbox      []*murphyv1.ConnectRequest
	runs        map[string]*probeRun
	lease       time.Duration
	hbInterval  time.Duration
	lastContact time.Time
	notify      chan struct{}
}

type activeFault struct {
	af    *murphyv1.ActiveFault
	f     fault.Fault
	exec  fault.Executor
	timer *time.Timer
}

type probeRun struct {
	set     *probe.Set // nil once stopped
	buf     *probe.Buffer
	until   *time.Timer
	expired bool // dropped once everything has been sent
}

// New checks cfg, opens the journal and the proxies' listeners. Call Run, or Close if Run
// is never called.
func New(cfg Config) (*Agent, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	cfg.defaults()
	a := &Agent{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "worker", "worker_id", cfg.ID),
		faults:     map[string]*activeFault{},
		finished:   map[string]*murphyv1.StepStatus{},
		runs:       map[string]*probeRun{},
		lease:      cfg.Lease,
		hbInterval: cfg.HeartbeatInterval,
		notify:     make(chan struct{}, 1),
	}
	j, err := journal.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a.journal = j
	for _, pc := range cfg.Proxies {
		p, err := httpfault.Listen(httpfault.Config{Listen: pc.Listen, Upstream: pc.Upstream, Logger: a.log})
		if err != nil {
			a.Close()
			return nil, err
		}
		a.proxies = append(a.proxies, p)
	}
	var execs []fault.Executor
	for _, b := range executorBuilders {
		more, err := b.build(a)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("%s faults: %w", b.family, err)
		}
		execs = append(execs, more...)
	}
	if a.reg, err = fault.NewRegistry(execs...); err != nil {
		a.Close()
		return nil, err
	}
	for _, k := range a.reg.Kinds() {
		if cfg.Policy.Allows(k) != nil {
			continue
		}
		// An executor may name the mechanism it uses on this host ("network.delay" plus
		// "network.delay:nfqueue"), or "" when the host cannot carry the kind out: it is
		// then kept only to refuse assignments with its reason, and not advertised.
		e, _ := a.reg.Get(k)
		if m, ok := e.(interface{ Mechanism() string }); ok {
			if m.Mechanism() == "" {
				continue
			}
			a.caps = append(a.caps, k, k+":"+m.Mechanism())
			continue
		}
		a.caps = append(a.caps, k)
	}
	if a.m, err = newMetrics(cfg.Registerer, a.proxies); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// ProxyAddrs returns the proxies' listen addresses with their real ports.
func (a *Agent) ProxyAddrs() []string {
	out := make([]string, len(a.proxies))
	for i, p := range a.proxies {
		out[i] = p.Addr()
	}
	return out
}

// Capabilities returns the fault kinds this worker offers and its policy allows.
func (a *Agent) Capabilities() []string { return slices.Clone(a.caps) }

// Close releases what New opened. Run calls it on return; calling it again is harmless.
func (a *Agent) Close() error {
	var err error
	a.closeOnce.Do(func() {
		for _, p := range a.proxies {
			p.Close()
		}
		if a.journal != nil {
			err = a.journal.Close()
		}
	})
	return err
}

// Run reverts what the journal holds, then serves the coordinator until ctx ends. On
// return every fault is reverted, every probe stopped, the proxies and the journal closed.
func (a *Agent) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return errors.New("worker: Run called twice")
	}
	var wg sync.WaitGroup
	for _, p := range a.proxies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Serve(); err != nil {
				a.log.Error("proxy stopped", "proxy", p.Addr(), "err", err)
			}
		}()
	}

	a.recover()
	a.touch()

	wctx, stopWatch := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.watchdog(wctx)
	}()

	a.connectLoop(ctx)

	stopWatch()
	a.shutdown()
	err := a.Close() // stops the proxies, so their Serve returns
	wg.Wait()
	return err
}

// recover reverts every fault a previous process left in the journal. A fault the worker
// can no longer revert (its kind has no executor now) stays in the journal and is logged:
// forgetting it would be worse.
func (a *Agent) recover() {
	left, err := a.journal.List()
	if err != nil {
		a.log.Error("read journal", "err", err)
	}
	for _, af := range left {
		f := toFault(af)
		exec, ok := a.reg.Get(f.Kind)
		if !ok {
			a.log.Error("journal holds a fault this worker cannot revert", "assignment_id", f.AssignmentID, "kind", f.Kind)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := exec.Revert(ctx, f)
		cancel()
		if err != nil {
			a.log.Error("revert leftover fault", "assignment_id", f.AssignmentID, "err", err)
			continue
		}
		if err := a.journal.Delete(f.AssignmentID); err != nil {
			a.log.Error("forget leftover fault", "assignment_id", f.AssignmentID, "err", err)
		}
		cause := murphyv1.RevertCause_REVERT_CAUSE_STARTUP
		a.m.reverts.WithLabelValues(causeLabel(cause)).Inc()
		a.log.Warn("reverted fault left by a previous run of this worker", "assignment_id", f.AssignmentID, "run_id", f.RunID, "kind", f.Kind)
		st := a.status(af.AssignmentId, af.RunId, af.Step, murphyv1.FaultState_FAULT_STATE_REVERTED, cause, "")
		a.faultMu.Lock()
		a.remember(st)
		a.faultMu.Unlock()
		a.enqueue(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_StepStatus{StepStatus: st}})
	}
}

func toFault(af *murphyv1.ActiveFault) fault.Fault {
	return fault.Fault{
		AssignmentID: af.GetAssignmentId(),
		RunID:        af.GetRunId(),
		Step:         af.GetStep(),
		Kind:         af.GetFault().GetKind(),
		Params:       af.GetFault().GetParams(),
		Deadline:     af.GetDeadline().AsTime(),
	}
}

func (a *Agent) status(id, run string, step int32, state murphyv1.FaultState, cause murphyv1.RevertCause, errText string) *murphyv1.StepStatus {
	return &murphyv1.StepStatus{AssignmentId: id, RunId: run, Step: step, State: state, Cause: cause, Error: errText, At: timestamppb.Now()}
}

// remember keeps the final status of an assignment; faultMu held.
func (a *Agent) remember(st *murphyv1.StepStatus) {
	if _, ok := a.finished[st.AssignmentId]; !ok {
		a.order = append(a.order, st.AssignmentId)
	}
	a.finished[st.AssignmentId] = st
	if len(a.order) > finishedMemory {
		delete(a.finished, a.order[0])
		a.order = a.order[1:]
	}
}

// assign applies an Assign and returns the status to send.
func (a *Agent) assign(as *murphyv1.Assign) *murphyv1.StepStatus {
	a.faultMu.Lock()
	defer a.faultMu.Unlock()
	id := as.GetAssignmentId()
	fail := func(format string, args ...any) *murphyv1.StepStatus {
		err := fmt.Sprintf(format, args...)
		a.m.assignments.WithLabelValues("failed").Inc()
		a.log.Warn("assignment failed", "assignment_id", id, "run_id", as.GetRunId(), "err", err)
		st := a.status(id, as.GetRunId(), as.GetStep(), murphyv1.FaultState_FAULT_STATE_FAILED, 0, err)
		if id != "" {
			a.remember(st)
		}
		return st
	}
	if id == "" {
		return fail("assignment has no id")
	}
	if af, ok := a.faults[id]; ok { // resent, e.g. by a new leader
		return a.status(id, af.af.RunId, af.af.Step, murphyv1.FaultState_FAULT_STATE_INJECTED, 0, "")
	}
	if st, ok := a.finished[id]; ok {
		return st // never inject an assignment twice, whatever the coordinator believes
	}
	spec := as.GetFault()
	kind := spec.GetKind()
	if err := a.cfg.Policy.Allows(kind); err != nil {
		return fail("%v", err)
	}
	exec, ok := a.reg.Get(kind)
	if !ok {
		if err := fault.Validate(kind, spec.GetParams()); err != nil {
			return fail("%v", err)
		}
		return fail("fault kind %q is not available on this worker (it offers: %v)", kind, a.caps)
	}
	if err := exec.Validate(spec.GetParams()); err != nil {
		return fail("%v", err)
	}
	now := time.Now()
	var deadline time.Time
	switch {
	case as.GetDeadline() != nil:
		deadline = as.GetDeadline().AsTime()
	case spec.GetDuration().AsDuration() > 0:
		deadline = now.Add(spec.GetDuration().AsDuration())
	case fault.IsInstant(kind):
		// It acts once at inject; its journal entry and no-op revert go a second later,
		// well after the INJECTED status, so the coordinator sees the usual order.
		deadline = now.Add(time.Second)
	default:
		return fail("assignment has neither a deadline nor a duration; every fault must end")
	}
	deadline = a.cfg.Policy.Deadline(now, deadline)
	if !deadline.After(now) {
		return fail("deadline %s already passed", deadline.Format(time.RFC3339Nano))
	}
	af := &murphyv1.ActiveFault{
		AssignmentId: id, RunId: as.GetRunId(), Step: as.GetStep(), Fault: spec,
		InjectedAt: timestamppb.New(now), Deadline: timestamppb.New(deadline),
	}
	if err := a.journal.Put(af); err != nil {
		return fail("%v", err)
	}
	f := toFault(af)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := exec.Inject(ctx, f); err != nil {
		// Inject promises to leave nothing behind; revert anyway, then forget the intent.
		if rerr := exec.Revert(ctx, f); rerr != nil {
			a.log.Error("revert after failed inject", "assignment_id", id, "err", rerr)
			return fail("inject: %v (revert also failed: %v; kept in the journal)", err, rerr)
		}
		if derr := a.journal.Delete(id); derr != nil {
			a.log.Error("forget failed inject", "assignment_id", id, "err", derr)
		}
		return fail("inject: %v", err)
	}
	act := &activeFault{af: af, f: f, exec: exec}
	act.timer = time.AfterFunc(time.Until(deadline), func() {
		a.revertAndReport(id, murphyv1.RevertCause_REVERT_CAUSE_DEADLINE)
	})
	a.faults[id] = act
	a.nActive.Add(1)
	a.m.activeFaults.Inc()
	a.m.assignments.WithLabelValues("injected").Inc()
	a.log.Info("fault injected", "assignment_id", id, "run_id", af.RunId, "step", af.Step,
		"fault", exec.Describe(spec.GetParams()), "deadline", deadline)
	return a.status(id, af.RunId, af.Step, murphyv1.FaultState_FAULT_STATE_INJECTED, 0, "")
}

// revertLocked reverts one active fault; faultMu held. A failed revert keeps the fault
// active and in the journal, and is retried.
func (a *Agent) revertLocked(id string, cause murphyv1.RevertCause) *murphyv1.StepStatus {
	act, ok := a.faults[id]
	if !ok {
		return nil
	}
	act.timer.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	err := act.exec.Revert(ctx, act.f)
	cancel()
	if err != nil {
		a.log.Error("revert failed; retrying", "assignment_id", id, "cause", causeLabel(cause), "err", err)
		act.timer = time.AfterFunc(revertRetry, func() { a.revertAndReport(id, cause) })
		return a.status(id, act.af.RunId, act.af.Step, murphyv1.FaultState_FAULT_STATE_FAILED, cause, "revert: "+err.Error())
	}
	if err := a.journal.Delete(id); err != nil {
		// The fault is gone; a stale entry only costs a no-op revert at the next start.
		a.log.Error("forget reverted fault", "assignment_id", id, "err", err)
	}
	delete(a.faults, id)
	a.nActive.Add(-1)
	a.m.activeFaults.Dec()
	a.m.reverts.WithLabelValues(causeLabel(cause)).Inc()
	a.log.Info("fault reverted", "assignment_id", id, "run_id", act.af.RunId, "cause", causeLabel(cause))
	st := a.status(id, act.af.RunId, act.af.Step, murphyv1.FaultState_FAULT_STATE_REVERTED, cause, "")
	a.remember(st)
	return st
}

func (a *Agent) revertAndReport(id string, cause murphyv1.RevertCause) {
	a.faultMu.Lock()
	st := a.revertLocked(id, cause)
	a.faultMu.Unlock()
	if st != nil {
		a.enqueue(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_StepStatus{StepStatus: st}})
	}
}

// revertMatching reverts every active fault of run ("" for every run) and returns the
// statuses, ordered by assignment id.
func (a *Agent) revertMatching(run string, cause murphyv1.RevertCause) []*murphyv1.StepStatus {
	a.faultMu.Lock()
	defer a.faultMu.Unlock()
	ids := make([]string, 0, len(a.faults))
	for id, act := range a.faults {
		if run == "" || act.af.RunId == run {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var out []*murphyv1.StepStatus
	for _, id := range ids {
		if st := a.revertLocked(id, cause); st != nil {
			out = append(out, st)
		}
	}
	return out
}

// revert handles a Revert: the listed assignments, or every fault of the run. An
// assignment that is not active is acknowledged as reverted, so the coordinator's view
// converges whatever it missed.
func (a *Agent) revert(r *murphyv1.Revert) []*murphyv1.StepStatus {
	cause := r.GetCause()
	if len(r.GetAssignmentIds()) == 0 {
		return a.revertMatching(r.GetRunId(), cause)
	}
	a.faultMu.Lock()
	defer a.faultMu.Unlock()
	var out []*murphyv1.StepStatus
	for _, id := range r.GetAssignmentIds() {
		if st := a.revertLocked(id, cause); st != nil {
			out = append(out, st)
		} else if st, ok := a.finished[id]; ok && st.State == murphyv1.FaultState_FAULT_STATE_REVERTED {
			out = append(out, st)
		} else {
			out = append(out, a.status(id, r.GetRunId(), 0, murphyv1.FaultState_FAULT_STATE_REVERTED, cause, ""))
		}
	}
	return out
}

// halt reverts every fault of the run (every run if empty), stops its probes and returns
// a REVERTED status per fault and the ack. The buffered samples stay until StopProbes so
// the coordinator still gets them.
func (a *Agent) halt(h *murphyv1.HaltOrder) ([]*murphyv1.StepStatus, *murphyv1.HaltAck) {
	sts := a.revertMatching(h.GetRunId(), murphyv1.RevertCause_REVERT_CAUSE_HALT)
	ack := &murphyv1.HaltAck{RunId: h.GetRunId(), At: timestamppb.Now()}
	for _, st := range sts {
		if st.State == murphyv1.FaultState_FAULT_STATE_REVERTED {
			ack.Reverted = append(ack.Reverted, st.AssignmentId)
		}
	}
	a.mu.Lock()
	var stop []*probe.Set
	for id, r := range a.runs {
		if (h.GetRunId() == "" || id == h.GetRunId()) && r.set != nil {
			stop = append(stop, r.set)
			r.set = nil
		}
	}
	a.mu.Unlock()
	for _, s := range stop {
		s.Stop()
	}
	a.log.Warn("halted", "run_id", h.GetRunId(), "reason", h.GetReason(), "reverted", len(ack.Reverted))
	return sts, ack
}

// startProbes is idempotent per run: a repeat only moves the run's end.
func (a *Agent) startProbes(sp *murphyv1.StartProbes) error {
	run := sp.GetRunId()
	if run == "" {
		return errors.New("start probes: empty run id")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.runs[run]
	if !ok {
		proxy := ""
		if len(a.proxies) > 0 {
			proxy = a.proxies[0].Addr()
		}
		buf := probe.NewBuffer(run, probe.DefaultLimit)
		// Command probes run programs: they need the same local consent as the exec fault.
		opts := probe.Options{Proxy: proxy, AllowCommands: a.cfg.Policy.Allows("exec") == nil}
		set, err := probe.Start(sp.GetProbes(), opts, func(metric string, s *murphyv1.Sample) {
			a.m.samples.Inc()
			if !buf.Add(metric, s) {
				a.m.dropped.Inc()
			}
		})
		if err != nil {
			return fmt.Errorf("start probes of run %s: %w", run, err)
		}
		r = &probeRun{set: set, buf: buf}
		a.runs[run] = r
		a.log.Info("probes started", "run_id", run, "probes", len(sp.GetProbes()))
	}
	if u := sp.GetUntil(); u != nil {
		if r.until != nil {
			r.until.Stop()
		}
		r.expired = false
		r.until = time.AfterFunc(time.Until(u.AsTime()), func() { a.expireRun(run) })
	}
	return nil
}

// expireRun stops a run's probes on its own when StopProbes never came; the buffer goes
// once everything in it has been sent.
func (a *Agent) expireRun(run string) {
	a.mu.Lock()
	r, ok := a.runs[run]
	var set *probe.Set
	if ok {
		set, r.set, r.expired = r.set, nil, true
	}
	a.mu.Unlock()
	if set != nil {
		set.Stop()
	}
	a.log.Info("probes expired", "run_id", run)
}

func (a *Agent) stopProbes(run string) {
	a.mu.Lock()
	r, ok := a.runs[run]
	delete(a.runs, run)
	a.mu.Unlock()
	if !ok {
		return
	}
	if r.until != nil {
		r.until.Stop()
	}
	if r.set != nil {
		r.set.Stop()
	}
	a.log.Info("probes stopped", "run_id", run)
}

// watchdog is the dead-man's switch: silence from the coordinator for longer than the
// lease reverts every fault. It runs whether or not a stream is up.
func (a *Agent) watchdog(ctx context.Context) {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if a.nActive.Load() == 0 {
			continue
		}
		a.mu.Lock()
		silent, lease := time.Since(a.lastContact), a.lease
		a.mu.Unlock()
		if silent <= lease {
			continue
		}
		sts := a.revertMatching("", murphyv1.RevertCause_REVERT_CAUSE_DEADMAN)
		a.log.Error("dead-man's switch: no word from the coordinator for longer than the lease; reverted every fault",
			"silent", silent.Round(time.Millisecond), "lease", lease, "reverted", len(sts))
		for _, st := range sts {
			a.enqueue(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_StepStatus{StepStatus: st}})
		}
	}
}

// shutdown reverts every fault and stops every probe as Run returns. The statuses are not
// sent: the stream is gone, and the next Hello, without these faults, tells the leader.
func (a *Agent) shutdown() {
	sts := a.revertMatching("", murphyv1.RevertCause_REVERT_CAUSE_UNSPECIFIED)
	a.faultMu.Lock()
	left := len(a.faults)
	for _, act := range a.faults {
		act.timer.Stop()
	}
	a.faultMu.Unlock()
	if left > 0 {
		a.log.Error("faults could not be reverted at shutdown; the journal keeps them for the next start", "count", left)
	}
	a.mu.Lock()
	runs := a.runs
	a.runs = map[string]*probeRun{}
	a.mu.Unlock()
	for _, r := range runs {
		if r.until != nil {
			r.until.Stop()
		}
		if r.set != nil {
			r.set.Stop()
		}
	}
	a.log.Info("worker stopped", "reverted", len(sts))
}

func (a *Agent) touch() {
	a.mu.Lock()
	a.lastContact = time.Now()
	a.mu.Unlock()
}

func (a *Agent) enqueue(m *murphyv1.ConnectRequest) {
	a.mu.Lock()
	a.outbox = append(a.outbox, m)
	if len(a.outbox) > outboxLimit {
		a.log.Error("outbox full while disconnected; dropping the oldest message")
		a.outbox = a.outbox[1:]
	}
	a.mu.Unlock()
	select {
	case a.notify <- struct{}{}:
	default:
	}
}
