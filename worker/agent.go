package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"

	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"github.com/murphy-chaos/murphy/worker/fault/httpfault"
	"github.com/murphy-chaos/murphy/worker/journal"
	"github.com/murphy-chaos/murphy/worker/probe"
	"github.com/murphy-chaos/murphy/worker/targets"
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
	http    *httpServer // nil without Config.HTTPAddr
	// kube is the Kubernetes API client of a worker started with --kubernetes or
	// --kubeconfig (nil otherwise), shared by its fault family and kubernetes probes.
	kube kubernetes.Interface
	// pods offers the node's pods as targets on a node's worker (Config.NodeName); nil
	// elsewhere.
	pods *targets.Pods
	// startTicks is this process's start time, written to the AliveFile so the
	// guardian cannot mistake a recycled PID for the worker.
	startTicks int64

	started   atomic.Bool
	closeOnce sync.Once

	// faultMu guards the fault maps and every activeFault's bookkeeping. It is never held
	// across an executor call or a journal write, so a halt, a heartbeat or a Hello never
	// waits for an inject; each assignment's own lock (activeFault.lock) orders its inject
	// and reverts instead.
	faultMu sync.Mutex
	// incoming holds Assigns received but not journaled yet. They are registered on the
	// session loop, in arrival order, so a halt or revert that arrives later finds them
	// even if their goroutine has not started.
	incoming map[string]*activeFault
	faults   map[string]*activeFault // journaled: being injected, or in force
	finished map[string]*murphyv1.StepStatus
	order    []string // finished ids, oldest first
	nActive  atomic.Int32
	// closed is set when shutdown begins: no fault work starts after it, so work.Wait
	// cannot race an Add.
	closed bool
	work   sync.WaitGroup // assignment, revert, halt and timer goroutines in flight

	mu          sync.Mutex
	outbox      []*murphyv1.ConnectRequest
	runs        map[string]*probeRun
	lease       time.Duration
	hbInterval  time.Duration
	lastContact time.Time
	notify      chan struct{}
}

// activeFault is one assignment from its Assign until it ends.
type activeFault struct {
	// lock is the per-assignment lock: the assignment's inject and its reverts run one at
	// a time, while every other assignment, halt and heartbeat goes on. The goroutine
	// that injects takes it on the session loop, before any later message is looked at.
	lock sync.Mutex

	// From the Assign; never change.
	id, run string

	// Guarded by Agent.faultMu.
	af        *murphyv1.ActiveFault // the journaled intent; nil while the Assign is checked
	f         fault.Fault
	exec      fault.Executor
	timer     *time.Timer        // the deadline, or the retry of a failed revert
	injecting bool               // in faults, but Inject has not returned yet
	cancel    context.CancelFunc // cancels the running Inject
	// stop is set when a revert, halt, deadline or the dead-man's switch reaches the
	// assignment before its inject returned: the injecting goroutine then reverts it
	// with cause as soon as Inject returns, and nobody waits for that.
	stop  bool
	cause murphyv1.RevertCause
	// inForce is when Inject returned: the start of the fault window every report of
	// this assignment carries, so a re-sent report matches the one the run recorded.
	inForce *timestamppb.Timestamp
}

type probeRun struct {
	probes []*murphyv1.Probe
	units  map[string]*unitProbes // by unit ID; "" when the worker itself is the unit
	until  *time.Timer
	// stopped: by a halt or at until; a StartProbes sent again does not restart them.
	stopped bool
	expired bool // dropped once everything has been sent
}

// unitProbes are a run's probes for one of its units, and the samples they took. A unit
// the run no longer names keeps its samples until StopProbes, as a stopped run does.
type unitProbes struct {
	unit *murphyv1.Target // nil for the worker itself
	set  *probe.Set       // nil once stopped
	buf  *probe.Buffer
}

// toStart returns, sorted, the units of want whose probes must start: new, stopped, or
// at another address than their probes use.
func (r *probeRun) toStart(want map[string]*murphyv1.Target) []string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if u := r.units[id]; u == nil || u.set == nil || u.unit.GetAddress() != want[id].GetAddress() {
			out = append(out, id)
		}
	}
	return out
}

// stopSets takes the running probe sets of r, to be stopped outside Agent.mu.
func (r *probeRun) stopSets() []*probe.Set {
	var out []*probe.Set
	for _, u := range r.units {
		if u.set != nil {
			out = append(out, u.set)
			u.set = nil
		}
	}
	return out
}

func stopAll(sets []*probe.Set) {
	for _, s := range sets {
		s.Stop()
	}
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
		incoming:   map[string]*activeFault{},
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
	a.startTicks = procStart(os.Getpid())
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
	// Bound before the metrics are registered, so a taken port leaves the caller's
	// registry as it was.
	if err := a.listenHTTP(); err != nil {
		a.Close()
		return nil, err
	}
	if a.m, err = newMetrics(cfg.Registerer, a); err != nil {
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
		a.closeHTTP()
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
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.serveHTTP() // until Close
	}()
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
	a.beat()

	wctx, stopWatch := context.WithCancel(ctx)
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		a.watchdog(wctx)
	}()

	if a.pods != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.reportTargets(wctx)
		}()
	}

	a.connectLoop(ctx)

	// The watchdog may be reverting; let it finish before shutdown closes the journal.
	stopWatch()
	<-watching
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
		exec, ok := a.reg.Get(af.GetFault().GetKind())
		if !ok {
			a.log.Error("journal holds a fault this worker cannot revert", "assignment_id", af.GetAssignmentId(), "kind", af.GetFault().GetKind())
			continue
		}
		f, err := toFault(af)
		if err != nil {
			// Only a catalogue that changed since the entry was written refuses it.
			a.log.Error("journal holds a fault this worker cannot decode, so cannot revert", "assignment_id", af.GetAssignmentId(), "err", err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err = exec.Revert(ctx, f)
		cancel()
		if err != nil {
			a.m.revertFailures.WithLabelValues(causeLabel(murphyv1.RevertCause_REVERT_CAUSE_STARTUP)).Inc()
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
		st.InjectedAt = af.InjectedAt
		a.faultMu.Lock()
		a.remember(st)
		a.faultMu.Unlock()
		a.enqueue(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_StepStatus{StepStatus: st}})
	}
	// Reverts the host's guardian made while no worker was here: report them, so the
	// run record says who reverted and when.
	done, err := a.journal.Reverted()
	if err != nil {
		a.log.Error("read reverts kept by the guardian", "err", err)
	}
	var ids []string
	for _, st := range done {
		a.log.Warn("the guardian reverted a fault while this worker was dead or frozen", "assignment_id", st.AssignmentId, "run_id", st.RunId, "at", st.At.AsTime())
		a.faultMu.Lock()
		a.remember(st)
		a.faultMu.Unlock()
		a.enqueue(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_StepStatus{StepStatus: st}})
		ids = append(ids, st.AssignmentId)
	}
	if len(ids) > 0 {
		if err := a.journal.ForgetReverted(ids...); err != nil {
			a.log.Error("forget reported reverts", "err", err)
		}
	}
}

// toFault decodes a journal entry for its executor: the journal keeps the parameters as
// the wire carried them, and this is where they enter the worker again.
func toFault(af *murphyv1.ActiveFault) (fault.Fault, error) {
	return fault.New(af.GetAssignmentId(), af.GetRunId(), af.GetStep(), af.GetFault().GetKind(),
		af.GetFault().GetParams(), af.GetDeadline().AsTime())
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

// enter counts one piece of fault work, unless shutdown has begun (shutdown then reverts
// whatever that work would have touched).
func (a *Agent) enter() bool {
	a.faultMu.Lock()
	defer a.faultMu.Unlock()
	if a.closed {
		return false
	}
	a.work.Add(1)
	return true
}

// entryLocked returns the assignment's entry, received or journaled; faultMu held.
func (a *Agent) entryLocked(id string) *activeFault {
	if act, ok := a.faults[id]; ok {
		return act
	}
	return a.incoming[id]
}

// receiveAssign runs on the session loop: it registers the Assign, in arrival order, and
// leaves the checks, the journal write and the inject to a goroutine of its own, so the
// loop never waits for an executor.
func (a *Agent) receiveAssign(as *murphyv1.Assign) {
	id := as.GetAssignmentId()
	a.faultMu.Lock()
	if a.closed {
		a.faultMu.Unlock()
		return
	}
	if id == "" {
		a.faultMu.Unlock()
		a.enqueue(stepStatus(a.failed(as, "assignment has no id")))
		return
	}
	if st, ok := a.finished[id]; ok {
		a.faultMu.Unlock()
		a.enqueue(stepStatus(st)) // never inject an assignment twice, whatever the coordinator believes
		return
	}
	if act := a.entryLocked(id); act != nil {
		// Resent, e.g. by a new leader, while injecting or in force: answer once this
		// assignment's inject has settled, without stacking a second one.
		a.work.Add(1)
		a.faultMu.Unlock()
		go func() {
			defer a.work.Done()
			act.lock.Lock()
			defer act.lock.Unlock()
			if st := a.settled(id); st != nil {
				a.enqueue(stepStatus(st))
			}
		}()
		return
	}
	act := &activeFault{id: id, run: as.GetRunId()}
	act.lock.Lock() // released by the goroutine below once the assignment settled
	a.incoming[id] = act
	a.work.Add(1)
	a.faultMu.Unlock()
	go func() {
		defer a.work.Done()
		defer act.lock.Unlock()
		// Queued before the lock goes, as every status of an assignment is: a revert
		// waiting for the lock must not report before this inject does.
		for _, st := range a.assign(act, as) {
			a.enqueue(stepStatus(st))
		}
	}()
}

// settled answers a resent Assign whose first copy has settled.
func (a *Agent) settled(id string) *murphyv1.StepStatus {
	a.faultMu.Lock()
	defer a.faultMu.Unlock()
	if act, ok := a.faults[id]; ok && !act.injecting {
		st := a.status(id, act.af.RunId, act.af.Step, murphyv1.FaultState_FAULT_STATE_INJECTED, 0, "")
		st.At = act.inForce
		return st
	}
	return a.finished[id]
}

// failed records that an Assign failed and returns its status.
func (a *Agent) failed(as *murphyv1.Assign, err string) *murphyv1.StepStatus {
	id := as.GetAssignmentId()
	a.m.assignments.WithLabelValues("failed").Inc()
	a.log.Warn("assignment failed", "assignment_id", id, "run_id", as.GetRunId(), "err", err)
	st := a.status(id, as.GetRunId(), as.GetStep(), murphyv1.FaultState_FAULT_STATE_FAILED, 0, err)
	if id != "" {
		a.faultMu.Lock()
		delete(a.incoming, id)
		a.remember(st)
		a.faultMu.Unlock()
	}
	return st
}

// assign applies an Assign registered by receiveAssign and returns the statuses to send;
// act.lock held. A revert, halt or deadline that overtakes it is honoured at every stage:
// before the journal write nothing is done, during the inject the inject is cancelled,
// and a fault whose inject returned after it is reverted at once.
func (a *Agent) assign(act *activeFault, as *murphyv1.Assign) []*murphyv1.StepStatus {
	id := act.id
	fail := func(format string, args ...any) []*murphyv1.StepStatus {
		return []*murphyv1.StepStatus{a.failed(as, fmt.Sprintf(format, args...))}
	}
	spec := as.GetFault()
	kind := spec.GetKind()
	if err := a.cfg.Policy.Allows(kind); err != nil {
		return fail("%v", err)
	}
	// The one decode of the assignment's parameters: the executor, the journal's
	// guardian and the logs all use what it returns.
	params, err := catalogue.Decode(kind, spec.GetParams())
	if err != nil {
		return fail("%v", err)
	}
	exec, ok := a.reg.Get(kind)
	if !ok {
		return fail("fault kind %q is not available on this worker (it offers: %v)", kind, a.caps)
	}
	if err := exec.Validate(params); err != nil {
		return fail("%v", err)
	}
	now := time.Now()
	var deadline time.Time
	switch {
	case as.GetDeadline() != nil:
		deadline = as.GetDeadline().AsTime()
	case spec.GetDuration().AsDuration() > 0:
		deadline = now.Add(spec.GetDuration().AsDuration())
	case catalogue.IsInstant(kind):
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
	f := fault.Fault{AssignmentID: id, RunID: af.RunId, Step: af.Step, Kind: kind, Params: params, Deadline: deadline}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()

	a.faultMu.Lock()
	delete(a.incoming, id)
	if act.stop {
		// Overtaken before anything was written or applied.
		st := a.status(id, af.RunId, af.Step, murphyv1.FaultState_FAULT_STATE_REVERTED, act.cause, "")
		a.remember(st)
		a.faultMu.Unlock()
		a.log.Info("assignment reverted before its inject", "assignment_id", id, "run_id", af.RunId, "cause", causeLabel(st.Cause))
		return []*murphyv1.StepStatus{st}
	}
	act.af, act.f, act.exec, act.injecting, act.cancel = af, f, exec, true, cancel
	a.faults[id] = act
	a.nActive.Add(1)
	// The deadline runs from now: an inject still running at the deadline is cancelled
	// and reverted when it returns.
	act.timer = time.AfterFunc(time.Until(deadline), func() { a.deadlineReached(act) })
	a.faultMu.Unlock()

	if err := a.journal.Put(af); err != nil {
		a.forget(act)
		return fail("%v", err)
	}
	// The guardian must know a fault is journalled before it is applied: a worker
	// frozen right after this line still gets its fault reverted.
	a.beat()
	a.faultMu.Lock()
	stop := act.stop
	a.faultMu.Unlock()
	var ierr error
	if stop {
		ierr = context.Canceled // overtaken while the intent was written: apply nothing
	} else {
		ierr = exec.Inject(ctx, f)
	}
	injected := a.status(id, af.RunId, af.Step, murphyv1.FaultState_FAULT_STATE_INJECTED, 0, "")
	a.faultMu.Lock()
	act.injecting, act.cancel, act.inForce = false, nil, injected.At
	stop, cause := act.stop, act.cause
	a.faultMu.Unlock()
	if ierr != nil {
		// Inject promises to leave nothing behind; revert anyway, then forget the intent.
		// The inject's context may be the one a halt cancelled: the revert gets its own.
		rctx, rcancel := context.WithTimeout(context.Background(), opTimeout)
		rerr := exec.Revert(rctx, f)
		rcancel()
		if rerr != nil {
			a.m.revertFailures.WithLabelValues("failed_inject").Inc()
			a.log.Error("revert after failed inject", "assignment_id", id, "err", rerr)
			a.forget(act)
			return fail("inject: %v (revert also failed: %v; kept in the journal)", ierr, rerr)
		}
		if derr := a.journal.Delete(id); derr != nil {
			a.log.Error("forget failed inject", "assignment_id", id, "err", derr)
		}
		a.forget(act)
		if stop {
			// What the revert, halt or deadline asked for holds: nothing is left.
			st := a.status(id, af.RunId, af.Step, murphyv1.FaultState_FAULT_STATE_REVERTED, cause, "")
			a.faultMu.Lock()
			a.remember(st)
			a.faultMu.Unlock()
			a.m.reverts.WithLabelValues(causeLabel(cause)).Inc()
			a.log.Info("inject overtaken and undone", "assignment_id", id, "run_id", af.RunId, "cause", causeLabel(cause), "inject_err", ierr)
			return []*murphyv1.StepStatus{st}
		}
		return fail("inject: %v", ierr)
	}
	a.m.activeFaults.Inc()
	a.m.assignments.WithLabelValues("injected").Inc()
	a.m.injects.WithLabelValues(kind).Inc()
	a.log.Info("fault injected", "assignment_id", id, "run_id", af.RunId, "step", af.Step,
		"fault", params.String(), "mechanism", mechanism(exec), "deadline", deadline)
	sts := []*murphyv1.StepStatus{injected}
	if stop {
		// The fault was in force from the end of Inject until now: report both, in order.
		if st := a.revertHeld(act, cause); st != nil {
			sts = append(sts, st)
		}
	}
	return sts
}

// forget drops a journaled assignment whose inject failed.
func (a *Agent) forget(act *activeFault) {
	a.faultMu.Lock()
	defer a.faultMu.Unlock()
	if a.faults[act.id] == act {
		delete(a.faults, act.id)
		a.nActive.Add(-1)
	}
	if act.timer != nil {
		act.timer.Stop()
	}
}

// claimLocked asks for act to be reverted with cause; faultMu held. It reports whether
// the fault is in force and the caller must revert it. An assignment still being checked
// or injected is not waited for: it is marked, its inject is cancelled (an executor that
// honours its context returns early), and its own goroutine reverts it when Inject
// returns. The first cause wins.
func (a *Agent) claimLocked(act *activeFault, cause murphyv1.RevertCause) bool {
	if act.af != nil && !act.injecting {
		return true
	}
	if !act.stop {
		act.stop, act.cause = true, cause
	}
	if act.cancel != nil {
		act.cancel()
	}
	return false
}

// claimMatchingLocked claims every assignment of run ("" for every run) and returns those
// in force, ordered by id, and how many in-flight injects it newly overtook; faultMu held.
func (a *Agent) claimMatchingLocked(run string, cause murphyv1.RevertCause) (active []*activeFault, overtaken int) {
	for _, m := range []map[string]*activeFault{a.incoming, a.faults} {
		for _, act := range m {
			if run != "" && act.run != run {
				continue
			}
			was := act.stop
			if a.claimLocked(act, cause) {
				active = append(active, act)
			} else if !was {
				overtaken++
			}
		}
	}
	slices.SortFunc(active, func(x, y *activeFault) int { return strings.Compare(x.id, y.id) })
	return active, overtaken
}

// revertHeld reverts one fault in force; act.lock held. It returns nil when the fault is
// no longer in force (another revert got there first). A failed revert keeps the fault
// active and in the journal, and is retried.
func (a *Agent) revertHeld(act *activeFault, cause murphyv1.RevertCause) *murphyv1.StepStatus {
	a.faultMu.Lock()
	if a.faults[act.id] != act || act.injecting {
		a.faultMu.Unlock()
		return nil
	}
	if act.timer != nil {
		act.timer.Stop()
	}
	a.faultMu.Unlock()
	id := act.id
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	err := act.exec.Revert(ctx, act.f)
	cancel()
	if err != nil {
		a.m.revertFailures.WithLabelValues(causeLabel(cause)).Inc()
		a.log.Error("revert failed; retrying", "assignment_id", id, "cause", causeLabel(cause), "err", err)
		a.faultMu.Lock()
		act.timer = time.AfterFunc(revertRetry, func() {
			if a.enter() {
				defer a.work.Done()
				a.revertReport(act, cause)
			}
		})
		a.faultMu.Unlock()
		return a.status(id, act.af.RunId, act.af.Step, murphyv1.FaultState_FAULT_STATE_FAILED, cause, "revert: "+err.Error())
	}
	if err := a.journal.Delete(id); err != nil {
		// The fault is gone; a stale entry only costs a no-op revert at the next start.
		a.log.Error("forget reverted fault", "assignment_id", id, "err", err)
	}
	st := a.status(id, act.af.RunId, act.af.Step, murphyv1.FaultState_FAULT_STATE_REVERTED, cause, "")
	st.InjectedAt = act.inForce
	a.faultMu.Lock()
	delete(a.faults, id)
	a.nActive.Add(-1)
	a.remember(st)
	a.faultMu.Unlock()
	a.m.activeFaults.Dec()
	a.m.reverts.WithLabelValues(causeLabel(cause)).Inc()
	a.log.Info("fault reverted", "assignment_id", id, "run_id", act.af.RunId, "cause", causeLabel(cause))
	return st
}

// revertReport reverts one fault and queues its status.
func (a *Agent) revertReport(act *activeFault, cause murphyv1.RevertCause) {
	act.lock.Lock()
	defer act.lock.Unlock()
	if st := a.revertHeld(act, cause); st != nil {
		a.enqueue(stepStatus(st))
	}
}

// deadlineReached is the hard local deadline of one assignment.
func (a *Agent) deadlineReached(act *activeFault) {
	if !a.enter() {
		return
	}
	defer a.work.Done()
	cause := murphyv1.RevertCause_REVERT_CAUSE_DEADLINE
	a.faultMu.Lock()
	inForce := a.faults[act.id] == act && a.claimLocked(act, cause)
	a.faultMu.Unlock()
	if inForce {
		a.revertReport(act, cause)
	}
}

// revertParallel reverts faults in force, each in its own goroutine so one slow revert
// delays no other, queues each status as it is known, and returns them in the order given.
func (a *Agent) revertParallel(acts []*activeFault, cause murphyv1.RevertCause) []*murphyv1.StepStatus {
	out := make([]*murphyv1.StepStatus, len(acts))
	var wg sync.WaitGroup
	for i, act := range acts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			act.lock.Lock()
			defer act.lock.Unlock()
			if out[i] = a.revertHeld(act, cause); out[i] != nil {
				a.enqueue(stepStatus(out[i]))
			}
		}()
	}
	wg.Wait()
	return slices.DeleteFunc(out, func(st *murphyv1.StepStatus) bool { return st == nil })
}

// revertMatching reverts every fault of run ("" for every run) in parallel, queues the
// statuses and returns them, ordered by assignment id, and how many in-flight injects it overtook
// (those report their own status when Inject returns).
func (a *Agent) revertMatching(run string, cause murphyv1.RevertCause) ([]*murphyv1.StepStatus, int) {
	a.faultMu.Lock()
	acts, overtaken := a.claimMatchingLocked(run, cause)
	a.faultMu.Unlock()
	return a.revertParallel(acts, cause), overtaken
}

// receiveRevert runs on the session loop: it claims the assignments of a Revert at once,
// so an Assign that came earlier is overtaken whatever its goroutine is doing, and
// reverts the ones in force in a goroutine. An assignment that is not active is
// acknowledged as reverted, so the coordinator's view converges whatever it missed.
func (a *Agent) receiveRevert(r *murphyv1.Revert) {
	cause := r.GetCause()
	a.faultMu.Lock()
	if a.closed {
		a.faultMu.Unlock()
		return
	}
	if len(r.GetAssignmentIds()) == 0 {
		acts, _ := a.claimMatchingLocked(r.GetRunId(), cause)
		a.work.Add(1)
		a.faultMu.Unlock()
		go func() {
			defer a.work.Done()
			a.revertParallel(acts, cause)
		}()
		return
	}
	// Each listed id is a fault to revert, a status known now, or neither (an inject in
	// flight reports for itself).
	var acts []*activeFault
	var known []*murphyv1.StepStatus
	for _, id := range r.GetAssignmentIds() {
		if act := a.entryLocked(id); act != nil {
			if a.claimLocked(act, cause) {
				acts = append(acts, act)
			}
		} else if st, ok := a.finished[id]; ok && st.State == murphyv1.FaultState_FAULT_STATE_REVERTED {
			known = append(known, st)
		} else {
			// Nothing held under this ID, and no memory of it: say so without claiming
			// a revert the record could take for this fault's end.
			known = append(known, a.status(id, r.GetRunId(), 0, murphyv1.FaultState_FAULT_STATE_REVERTED, cause, notKnown))
		}
	}
	a.work.Add(1)
	a.faultMu.Unlock()
	for _, st := range known {
		a.enqueue(stepStatus(st))
	}
	go func() {
		defer a.work.Done()
		a.revertParallel(acts, cause)
	}()
}

// receiveHalt runs on the session loop: it claims every fault of the run (every run when
// run_id is empty) at once, cancelling injects in flight, then reverts the faults in
// force in parallel, stops the run's probes and queues a REVERTED/HALT status per fault
// and the HaltAck listing them. An inject that was still running is not waited for: it
// is reverted, and reports REVERTED/HALT, as soon as its executor returns. The buffered
// samples stay until StopProbes so the coordinator still gets them.
func (a *Agent) receiveHalt(h *murphyv1.HaltOrder) {
	cause := murphyv1.RevertCause_REVERT_CAUSE_HALT
	a.faultMu.Lock()
	if a.closed {
		a.faultMu.Unlock()
		return
	}
	acts, overtaken := a.claimMatchingLocked(h.GetRunId(), cause)
	a.work.Add(1)
	a.faultMu.Unlock()
	go func() {
		defer a.work.Done()
		sts := a.revertParallel(acts, cause)
		ack := &murphyv1.HaltAck{RunId: h.GetRunId(), At: timestamppb.Now()}
		for _, st := range sts {
			if st.State == murphyv1.FaultState_FAULT_STATE_REVERTED {
				ack.Reverted = append(ack.Reverted, st.AssignmentId)
			}
		}
		if len(acts) == 0 && overtaken == 0 {
			// A halt delivered again (a new leader re-sends what the old one did not
			// record) finds nothing left: the faults went when the first one arrived, and
			// the record must say when that was, not when the repeat did.
			if at, sts := a.haltedEarlier(h.GetRunId()); at != nil {
				ack.At = at
				// Their statuses may have gone to a leader that died before recording
				// them: say again what was reverted, when, and since when it was in force.
				for _, st := range sts {
					ack.Reverted = append(ack.Reverted, st.AssignmentId)
					a.enqueue(stepStatus(st))
				}
			}
		}
		a.enqueue(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_HaltAck{HaltAck: ack}})
		a.log.Warn("halted", "run_id", h.GetRunId(), "reason", h.GetReason(), "reverted", len(ack.Reverted),
			"injects_overtaken", overtaken)
		a.stopRunProbes(h.GetRunId())
	}()
}

// notKnown is the error text of a REVERTED status for an assignment the worker holds
// nothing of and does not remember: the fault is not in force here, but when (or whether)
// it ended is not known.
const notKnown = "not known to this worker"

// haltedEarlier is when this worker's faults of run (of every run if empty) were
// reverted by an earlier halt, and their statuses; nil when none were.
func (a *Agent) haltedEarlier(run string) (*timestamppb.Timestamp, []*murphyv1.StepStatus) {
	a.faultMu.Lock()
	defer a.faultMu.Unlock()
	var at *timestamppb.Timestamp
	var ids []*murphyv1.StepStatus
	for _, id := range a.order {
		st := a.finished[id]
		if st == nil || st.State != murphyv1.FaultState_FAULT_STATE_REVERTED || st.Cause != murphyv1.RevertCause_REVERT_CAUSE_HALT {
			continue
		}
		if run != "" && st.RunId != run {
			continue
		}
		ids = append(ids, st)
		if at == nil || st.At.AsTime().After(at.AsTime()) {
			at = st.At
		}
	}
	return at, ids
}

// stopRunProbes stops the probes of run (every run if empty) and keeps their buffers.
func (a *Agent) stopRunProbes(run string) {
	a.mu.Lock()
	var stop []*probe.Set
	for id, r := range a.runs {
		if run == "" || id == run {
			stop = append(stop, r.stopSets()...)
			r.stopped = true
		}
	}
	a.mu.Unlock()
	stopAll(stop)
}

// startProbes starts a run's probes once per unit it names (once, for the worker itself,
// when it names none). It is idempotent per run: a repeat moves the run's end, and
// replaces the units: the probes of a unit it no longer names stop, those of a new unit
// start, and a unit whose address moved is probed at the new one, its samples numbered on.
func (a *Agent) startProbes(sp *murphyv1.StartProbes) error {
	run := sp.GetRunId()
	if run == "" {
		return errors.New("start probes: empty run id")
	}
	want := map[string]*murphyv1.Target{}
	for _, u := range sp.GetUnits() {
		if u.GetId() == "" {
			return fmt.Errorf("start probes of run %s: a unit with no id", run)
		}
		want[u.GetId()] = u
	}
	if len(want) == 0 {
		want[""] = nil
	}
	proxy := ""
	if len(a.proxies) > 0 {
		proxy = a.proxies[0].Addr()
	}
	// Command probes run programs: they need the same local consent as the exec fault.
	opts := probe.Options{Proxy: proxy, AllowCommands: a.cfg.Policy.Allows("exec") == nil, Kubernetes: a.kube}

	a.mu.Lock()
	r, known := a.runs[run]
	probes := sp.GetProbes()
	if known {
		probes = r.probes // what a repeat says about them was said the first time
	} else {
		r = &probeRun{probes: probes, units: map[string]*unitProbes{}}
	}
	var stop []*probe.Set
	var errs []error
	started := 0
	if !r.stopped { // else only until moves: a halt or the run's end stopped it for good
		toStart := r.toStart(want)
		// Checked for every unit before any starts, so probes that cannot run start
		// nowhere and leave the run as it was.
		for _, id := range toStart {
			o := opts
			o.Unit = want[id]
			if err := probe.Validate(probes, o); err != nil {
				a.mu.Unlock()
				return fmt.Errorf("start probes of run %s: %w", run, err)
			}
		}
		for id, u := range r.units {
			if _, ok := want[id]; !ok && u.set != nil {
				stop = append(stop, u.set)
				u.set = nil
			}
		}
		for _, id := range toStart {
			u := r.units[id]
			if u == nil {
				u = &unitProbes{buf: probe.NewUnitBuffer(run, id, probe.DefaultLimit)}
				r.units[id] = u
			}
			if u.set != nil {
				// Stopped here, not later: the new probes number on from its last sample.
				u.set.Stop()
				u.set = nil
			}
			u.unit = want[id]
			o := opts
			o.Unit = u.unit
			if err := a.startUnit(u, probes, o); err != nil {
				errs = append(errs, fmt.Errorf("unit %q: %w", id, err))
				continue
			}
			started++
		}
	}
	if !known {
		if started == 0 {
			a.mu.Unlock()
			return fmt.Errorf("start probes of run %s: %w", run, errors.Join(errs...))
		}
		a.runs[run] = r
	}
	if u := sp.GetUntil(); u != nil {
		if r.until != nil {
			r.until.Stop()
		}
		r.expired = false
		r.until = time.AfterFunc(time.Until(u.AsTime()), func() { a.expireRun(run) })
	}
	a.mu.Unlock()
	stopAll(stop)
	if started > 0 || len(stop) > 0 {
		a.log.Info("probes started", "run_id", run, "probes", len(probes), "units", len(sp.GetUnits()),
			"units_started", started, "units_stopped", len(stop))
	}
	if len(errs) > 0 {
		return fmt.Errorf("start probes of run %s: %w", run, errors.Join(errs...))
	}
	return nil
}

// startUnit starts probes for one unit into its buffer, numbering each metric's samples
// after the last the buffer holds (none, the first time).
func (a *Agent) startUnit(u *unitProbes, probes []*murphyv1.Probe, opts probe.Options) error {
	kinds := probeKinds(probes)
	base := u.buf.LastSeqs()
	buf := u.buf
	set, err := probe.Start(probes, opts, func(metric string, s *murphyv1.Sample) {
		s.Seq += base[metric]
		a.m.probeSample(kinds[metric], s)
		if !buf.Add(metric, s) {
			a.m.dropped.Inc()
		}
	})
	if err != nil {
		return err
	}
	u.set = set
	return nil
}

// expireRun stops a run's probes on its own when StopProbes never came; the buffer goes
// once everything in it has been sent.
func (a *Agent) expireRun(run string) {
	a.mu.Lock()
	r, ok := a.runs[run]
	var stop []*probe.Set
	if ok {
		stop = r.stopSets()
		r.stopped, r.expired = true, true
	}
	a.mu.Unlock()
	stopAll(stop)
	a.log.Info("probes expired", "run_id", run)
}

func (a *Agent) stopProbes(run string) {
	a.mu.Lock()
	r, ok := a.runs[run]
	delete(a.runs, run)
	var stop []*probe.Set
	if ok {
		stop = r.stopSets()
	}
	a.mu.Unlock()
	if !ok {
		return
	}
	if r.until != nil {
		r.until.Stop()
	}
	stopAll(stop)
	a.log.Info("probes stopped", "run_id", run)
}

// watchdog is the dead-man's switch: silence from the coordinator for longer than the
// lease reverts every fault. It runs whether or not a stream is up.
func (a *Agent) watchdog(ctx context.Context) {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	lastBeat := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(lastBeat) >= beatEvery {
			lastBeat = time.Now()
			a.beat()
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
		sts, overtaken := a.revertMatching("", murphyv1.RevertCause_REVERT_CAUSE_DEADMAN)
		if len(sts) == 0 && overtaken == 0 {
			continue // only injects it already overtook are left; they revert as they return
		}
		a.log.Error("dead-man's switch: no word from the coordinator for longer than the lease; reverted every fault",
			"silent", silent.Round(time.Millisecond), "lease", lease, "reverted", len(sts), "injects_overtaken", overtaken)
	}
}

// shutdown reverts every fault and stops every probe as Run returns. The statuses are not
// sent: the stream is gone, and the next Hello, without these faults, tells the leader.
func (a *Agent) shutdown() {
	cause := murphyv1.RevertCause_REVERT_CAUSE_UNSPECIFIED
	// Close the door first, cancelling injects in flight; then let every goroutine that
	// holds an assignment finish (an overtaken inject reverts itself as it returns) before
	// reverting what is still in force, so nothing is applied behind the last revert.
	a.faultMu.Lock()
	a.closed = true
	a.claimMatchingLocked("", cause)
	a.faultMu.Unlock()
	a.work.Wait()
	sts, _ := a.revertMatching("", cause)
	a.faultMu.Lock()
	left := len(a.faults)
	for _, act := range a.faults {
		if act.timer != nil {
			act.timer.Stop()
		}
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
		stopAll(r.stopSets())
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

// mechanism is how exec carries its kind out on this host ("nfqueue", "netem"), for the
// logs; "" when it does not say.
func mechanism(exec fault.Executor) string {
	if m, ok := exec.(interface{ Mechanism() string }); ok {
		return m.Mechanism()
	}
	return ""
}

// reportTargets watches the node's pods and tells the coordinator the whole list each
// time it changes; a hello carries the list as it is at each connection. A watch that
// cannot start is logged and retried: the host's own faults go on meanwhile.
func (a *Agent) reportTargets(ctx context.Context) {
	watched := make(chan struct{})
	defer func() { <-watched }()
	go func() {
		defer close(watched)
		for ctx.Err() == nil {
			if err := a.pods.Run(ctx); err != nil {
				a.log.Error("pods of this node not watched; retrying in 10s", "node", a.cfg.NodeName, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Second):
				}
			}
		}
	}()
	for {
		ts, changed := a.pods.Current()
		if ts != nil {
			a.enqueue(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Targets{Targets: &murphyv1.TargetList{Targets: ts}}})
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}
