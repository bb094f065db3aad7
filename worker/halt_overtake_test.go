package worker

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// Issue 14, defect 5: the worker must never make a halt, a revert, a deadline or its
// heartbeats wait for an inject. These tests run the agent with a scripted executor.

// testFamilies holds the executors of agents started by startWithExec, by data dir, so
// the "test" family adds them to that agent only.
var testFamilies sync.Map

func init() {
	registerFamily("test", func(a *Agent) ([]fault.Executor, error) {
		if v, ok := testFamilies.Load(a.cfg.DataDir); ok {
			return v.([]fault.Executor), nil
		}
		return nil, nil
	})
}

// slowKind is a catalogue kind no other family offers in these tests (they name a Docker
// engine and a CRI runtime that do not exist).
const slowKind = "container.pause"

// scriptExec injects and reverts nothing real; params script it:
//
//	block: Inject takes this long (a container stop, an exec)
//	ctx: "honour" makes a blocked Inject return early, leaving nothing, when its context ends
//	validate: Validate takes this long
//
// Every call is timed.
type scriptExec struct {
	revertDelay time.Duration

	mu          sync.Mutex
	started     map[string]chan struct{} // closed when Inject begins
	injectedAt  map[string]time.Time     // Inject returned nil
	cancelled   map[string]bool          // Inject returned early on its context
	revertStart map[string]time.Time     // first Revert call
	active      map[string]bool
}

func newScriptExec() *scriptExec {
	return &scriptExec{started: map[string]chan struct{}{}, injectedAt: map[string]time.Time{},
		cancelled: map[string]bool{}, revertStart: map[string]time.Time{}, active: map[string]bool{}}
}

func (x *scriptExec) Kind() string { return slowKind }

// script reads the params a test gave scripted() back from the decoded fault.
func script(p catalogue.Params) map[string]string {
	out := map[string]string{}
	c, _ := p.(catalogue.Container)
	for kv := range strings.SplitSeq(strings.TrimPrefix(c.Name, "script:"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

func (x *scriptExec) Validate(cp catalogue.Params) error {
	p := script(cp)
	for _, k := range []string{"block", "validate"} {
		if p[k] != "" {
			if _, err := time.ParseDuration(p[k]); err != nil {
				return err
			}
		}
	}
	if p["validate"] != "" {
		d, _ := time.ParseDuration(p["validate"])
		time.Sleep(d)
	}
	return nil
}

func (x *scriptExec) startedCh(id string) chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	c, ok := x.started[id]
	if !ok {
		c = make(chan struct{})
		x.started[id] = c
	}
	return c
}

func (x *scriptExec) Inject(ctx context.Context, f fault.Fault) error {
	close(x.startedCh(f.AssignmentID))
	p := script(f.Params)
	if p["block"] != "" {
		d, _ := time.ParseDuration(p["block"])
		if p["ctx"] == "honour" {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				x.mu.Lock()
				x.cancelled[f.AssignmentID] = true
				x.mu.Unlock()
				return ctx.Err()
			}
		} else {
			time.Sleep(d)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.injectedAt[f.AssignmentID] = time.Now()
	x.active[f.AssignmentID] = true
	return nil
}

func (x *scriptExec) Revert(ctx context.Context, f fault.Fault) error {
	x.mu.Lock()
	if _, ok := x.revertStart[f.AssignmentID]; !ok {
		x.revertStart[f.AssignmentID] = time.Now()
	}
	x.mu.Unlock()
	time.Sleep(x.revertDelay)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.active[f.AssignmentID] = false
	return nil
}

func (x *scriptExec) reverted(id string) (time.Time, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	at, ok := x.revertStart[id]
	return at, ok
}

func (x *scriptExec) state(id string) (injected time.Time, active, cancelled bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.injectedAt[id], x.active[id], x.cancelled[id]
}

func (x *scriptExec) anyActive() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for id, on := range x.active {
		if on {
			out = append(out, id)
		}
	}
	return out
}

// startWithExec starts an agent whose executors include x.
func startWithExec(t *testing.T, f *fakeCoord, x *scriptExec) *env {
	t.Helper()
	dir := t.TempDir()
	testFamilies.Store(dir, []fault.Executor{x})
	t.Cleanup(func() { testFamilies.Delete(dir) })
	return startAgent(t, []string{f.addr}, func(c *Config) { c.DataDir = dir })
}

// scripted assigns slowKind with a script for scriptExec. The agent decodes every
// assignment through the catalogue, so the script travels in a parameter slowKind has:
// the container name, as "script:block=8s,ctx=honour".
func scripted(id, run string, deadline time.Duration, params map[string]string) *murphyv1.ConnectResponse {
	terms := []string{}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		terms = append(terms, k+"="+params[k])
	}
	return assign(id, run, deadline, slowKind, map[string]string{"name": "script:" + strings.Join(terms, ",")})
}

func haltMsg(run string) *murphyv1.ConnectResponse {
	return &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Halt{Halt: &murphyv1.HaltOrder{RunId: run, Reason: "test"}}}
}

func isHaltAck(m *murphyv1.ConnectRequest) bool { return m.GetHaltAck() != nil }

// awaitJournalEmpty waits until the running agent's journal holds nothing.
func awaitJournalEmpty(t *testing.T, e *env) {
	t.Helper()
	eventually(t, "an empty journal", func() bool {
		left, err := e.agent.journal.List()
		return err == nil && len(left) == 0
	})
}

func indexOf(msgs []*murphyv1.ConnectRequest, pred func(*murphyv1.ConnectRequest) bool) int {
	return slices.IndexFunc(msgs, pred)
}

// Acceptance: a halt delivered while an 8 s inject is in progress on the same worker
// reverts that worker's other faults within 100 ms, and the slow inject itself is
// reverted once it completes, leaving nothing behind.
func TestHaltOvertakesSlowInject(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	x := newScriptExec()
	e := startWithExec(t, f, x)
	others := []string{"o1", "o2", "o3"}
	for _, id := range others {
		f.push <- scripted(id, "r1", time.Minute, nil)
		f.await(t, id+" injected", isStatus(id, murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	}
	f.push <- scripted("slow", "r1", time.Minute, map[string]string{"block": "8s"}) // ignores its context
	<-x.startedCh("slow")

	sent := time.Now()
	f.push <- haltMsg("r1")
	halt := murphyv1.RevertCause_REVERT_CAUSE_HALT
	var worst time.Duration
	for _, id := range others {
		eventually(t, id+" reverted", func() bool { _, ok := x.reverted(id); return ok })
		at, _ := x.reverted(id)
		worst = max(worst, at.Sub(sent))
	}
	t.Logf("halt overtook an 8 s inject: other faults reverted %v after the halt was sent", worst)
	if worst > 100*time.Millisecond {
		t.Fatalf("other faults reverted %v after the halt, want within 100ms", worst)
	}
	ack := f.await(t, "halt ack", isHaltAck).GetHaltAck()
	if !slices.Equal(ack.Reverted, others) {
		t.Fatalf("halt ack lists %v, want %v (the slow inject reports on its own)", ack.Reverted, others)
	}
	if d := ack.At.AsTime().Sub(sent); d > 100*time.Millisecond {
		t.Fatalf("halt acknowledged %v after it was sent", d)
	}
	for _, id := range others {
		f.await(t, id+" reported reverted by the halt", isStatus(id, murphyv1.FaultState_FAULT_STATE_REVERTED, halt))
	}

	// The slow inject completes ~8 s in and is reverted at once.
	f.await(t, "slow inject reverted after it returned", isStatus("slow", murphyv1.FaultState_FAULT_STATE_REVERTED, halt))
	injectedAt, active, _ := x.state("slow")
	revertedAt, ok := x.reverted("slow")
	if injectedAt.IsZero() || !ok || revertedAt.Before(injectedAt) || active {
		t.Fatalf("slow: injected %v, revert %v (called %v), still active %v", injectedAt, revertedAt, ok, active)
	}
	if d := revertedAt.Sub(injectedAt); d > 100*time.Millisecond {
		t.Fatalf("slow fault stayed %v after its inject returned", d)
	}
	msgs := f.received()
	if i, j := indexOf(msgs, isStatus("slow", murphyv1.FaultState_FAULT_STATE_INJECTED, 0)),
		indexOf(msgs, isStatus("slow", murphyv1.FaultState_FAULT_STATE_REVERTED, halt)); i < 0 || i > j {
		t.Fatalf("slow: INJECTED at %d, REVERTED at %d; want both, in that order", i, j)
	}
	if left := x.anyActive(); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
	awaitJournalEmpty(t, e)
	if n := e.agent.nActive.Load(); n != 0 {
		t.Fatalf("%d faults still counted active", n)
	}
}

// Acceptance: heartbeats keep flowing and the dead-man's switch does not trip while an
// inject takes longer than the lease.
func TestHeartbeatsFlowDuringSlowInject(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	f.lease = 300 * time.Millisecond
	x := newScriptExec()
	startWithExec(t, f, x)
	f.push <- scripted("o1", "r1", time.Minute, nil)
	f.await(t, "o1 injected", isStatus("o1", murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	hellos := f.count(isHello)

	f.push <- scripted("slow", "r1", time.Minute, map[string]string{"block": "1500ms"})
	<-x.startedCh("slow")
	start := time.Now()
	// Sample the heartbeat count while the inject runs: it must never stand still for a
	// lease (the coordinator would call the worker lost).
	last, lastAt, worstGap := f.count(isHeartbeat), start, time.Duration(0)
	for time.Since(start) < 1400*time.Millisecond {
		time.Sleep(10 * time.Millisecond)
		if n := f.count(isHeartbeat); n > last {
			last, lastAt = n, time.Now()
		}
		worstGap = max(worstGap, time.Since(lastAt))
	}
	t.Logf("longest heartbeat silence during a 1.5 s inject: %v (lease 300ms, heartbeat 50ms)", worstGap)
	if worstGap >= f.lease {
		t.Fatalf("no heartbeat for %v while an inject ran, lease %v", worstGap, f.lease)
	}
	f.await(t, "slow injected", isStatus("slow", murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	time.Sleep(2 * f.lease) // a late dead-man would show now
	for _, m := range f.received() {
		if st := m.GetStepStatus(); st != nil && st.State != murphyv1.FaultState_FAULT_STATE_INJECTED {
			t.Fatalf("unexpected status %v", st)
		}
	}
	if on := x.anyActive(); !slices.Equal(sortedStrings(on), []string{"o1", "slow"}) {
		t.Fatalf("active faults %v, want o1 and slow (the dead-man's switch must not trip)", on)
	}
	if n := f.count(isHello); n != hellos {
		t.Fatalf("the worker reconnected (%d hellos, was %d): its stream looked silent", n, hellos)
	}
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// A halt reverts a worker's faults in parallel: four reverts of 300 ms each take about
// 300 ms, not 1.2 s.
func TestHaltRevertsInParallel(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	x := newScriptExec()
	x.revertDelay = 300 * time.Millisecond
	e := startWithExec(t, f, x)
	ids := []string{"p1", "p2", "p3", "p4"}
	for _, id := range ids {
		f.push <- scripted(id, "r1", time.Minute, nil)
		f.await(t, id+" injected", isStatus(id, murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	}
	sent := time.Now()
	f.push <- haltMsg("")
	ack := f.await(t, "halt ack", isHaltAck).GetHaltAck()
	if !slices.Equal(ack.Reverted, ids) {
		t.Fatalf("halt ack %v", ack.Reverted)
	}
	took := ack.At.AsTime().Sub(sent)
	t.Logf("four 300 ms reverts done %v after the halt", took)
	if took > 700*time.Millisecond {
		t.Fatalf("halt took %v: reverts ran one after another", took)
	}
	awaitJournalEmpty(t, e)
}

// An Assign received before a halt but still being checked is never injected.
func TestHaltBeforeInjectStarts(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	x := newScriptExec()
	e := startWithExec(t, f, x)
	// The fake re-queues what is pushed before its Welcome, which would put the halt
	// first; this test is about their order.
	f.await(t, "a heartbeat", isHeartbeat)
	f.push <- scripted("late", "r1", time.Minute, map[string]string{"validate": "300ms"})
	f.push <- haltMsg("r1")
	halt := murphyv1.RevertCause_REVERT_CAUSE_HALT
	f.await(t, "late reported reverted", isStatus("late", murphyv1.FaultState_FAULT_STATE_REVERTED, halt))
	ack := f.await(t, "halt ack", isHaltAck).GetHaltAck()
	if len(ack.Reverted) != 0 {
		t.Fatalf("halt ack %v", ack.Reverted)
	}
	if injected, _, _ := x.state("late"); !injected.IsZero() {
		t.Fatal("an assignment halted before its inject was injected anyway")
	}
	if n := f.count(isStatus("late", murphyv1.FaultState_FAULT_STATE_INJECTED, 0)); n != 0 {
		t.Fatal("reported injected")
	}
	f.push <- scripted("late", "r1", time.Minute, nil) // resent: answered, never injected
	eventually(t, "resent assign answered", func() bool {
		return f.count(isStatus("late", murphyv1.FaultState_FAULT_STATE_REVERTED, halt)) == 2
	})
	awaitJournalEmpty(t, e)
}

// A Revert cancels an inject in flight whose executor honours its context.
func TestRevertCancelsInject(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	x := newScriptExec()
	e := startWithExec(t, f, x)
	f.push <- scripted("c1", "r1", time.Minute, map[string]string{"block": "8s", "ctx": "honour"})
	<-x.startedCh("c1")
	f.push <- scripted("c1", "r1", time.Minute, nil) // resent while injecting: no second inject
	sent := time.Now()
	completed := murphyv1.RevertCause_REVERT_CAUSE_COMPLETED
	f.push <- &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Revert{Revert: &murphyv1.Revert{
		RunId: "r1", AssignmentIds: []string{"c1"}, Cause: completed}}}
	f.await(t, "c1 reverted", isStatus("c1", murphyv1.FaultState_FAULT_STATE_REVERTED, completed))
	took := time.Since(sent)
	if took > time.Second {
		t.Fatalf("revert of an inject in flight took %v", took)
	}
	if _, _, cancelled := x.state("c1"); !cancelled {
		t.Fatal("the inject was not cancelled")
	}
	if _, ok := x.reverted("c1"); !ok {
		t.Fatal("a cancelled inject must still be reverted (it may have done half its work)")
	}
	// The resent Assign waited for the first and got its final status.
	eventually(t, "resent assign answered", func() bool {
		return f.count(isStatus("c1", murphyv1.FaultState_FAULT_STATE_REVERTED, completed)) == 2
	})
	if n := f.count(isStatus("c1", murphyv1.FaultState_FAULT_STATE_INJECTED, 0)); n != 0 {
		t.Fatalf("%d INJECTED statuses for a cancelled inject", n)
	}
	awaitJournalEmpty(t, e)
}

// An inject still running at its deadline is cancelled: the deadline holds even then.
func TestDeadlineCancelsInject(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	x := newScriptExec()
	e := startWithExec(t, f, x)
	msg := scripted("d1", "r1", 0, map[string]string{"block": "8s", "ctx": "honour"})
	msg.GetAssign().Deadline = timestamppb.New(time.Now().Add(300 * time.Millisecond))
	f.push <- msg
	f.await(t, "d1 reverted at its deadline",
		isStatus("d1", murphyv1.FaultState_FAULT_STATE_REVERTED, murphyv1.RevertCause_REVERT_CAUSE_DEADLINE))
	if _, _, cancelled := x.state("d1"); !cancelled {
		t.Fatal("the inject was not cancelled at the deadline")
	}
	awaitJournalEmpty(t, e)
}

// The dead-man's switch reaches an inject in flight too.
func TestDeadmanCancelsInject(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	f.lease = 300 * time.Millisecond
	x := newScriptExec()
	e := startWithExec(t, f, x)
	f.push <- scripted("m1", "r1", time.Minute, map[string]string{"block": "8s", "ctx": "honour"})
	<-x.startedCh("m1")
	f.hung.Store(true)
	eventually(t, "dead-man's switch to cancel the inject", func() bool { _, _, c := x.state("m1"); return c })
	f.hung.Store(false)
	f.await(t, "dead-man revert reported",
		isStatus("m1", murphyv1.FaultState_FAULT_STATE_REVERTED, murphyv1.RevertCause_REVERT_CAUSE_DEADMAN))
	awaitJournalEmpty(t, e)
}

// Run returning while an inject is in flight cancels it and leaves nothing.
func TestShutdownDuringInject(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	x := newScriptExec()
	e := startWithExec(t, f, x)
	f.push <- scripted("s1", "r1", time.Minute, nil)
	f.await(t, "s1 injected", isStatus("s1", murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	f.push <- scripted("s2", "r1", time.Minute, map[string]string{"block": "8s", "ctx": "honour"})
	<-x.startedCh("s2")
	start := time.Now()
	e.stop(t)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Run took %v to return", d)
	}
	if left := x.anyActive(); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
	if _, ok := x.reverted("s2"); !ok {
		t.Fatal("the cancelled inject was not reverted")
	}
}

// A halt delivered again (a new leader re-sends what the old one never recorded) is
// acknowledged with the time the faults were first reverted, not the time of the repeat,
// so the halt record tells when the host was clean.
func TestRepeatedHaltAcksFirstRevertTime(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	x := newScriptExec()
	startWithExec(t, f, x)
	f.push <- scripted("h1", "r1", time.Minute, nil)
	f.await(t, "h1 injected", isStatus("h1", murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	f.push <- haltMsg("r1")
	first := f.await(t, "halt ack", isHaltAck).GetHaltAck()
	time.Sleep(300 * time.Millisecond)
	f.push <- haltMsg("r1")
	var second *murphyv1.HaltAck
	eventually(t, "second halt ack", func() bool {
		n := 0
		for _, m := range f.received() {
			if a := m.GetHaltAck(); a != nil {
				if n++; n == 2 {
					second = a
				}
			}
		}
		return second != nil
	})
	if d := second.At.AsTime().Sub(first.At.AsTime()); d > 50*time.Millisecond {
		t.Errorf("repeated halt acknowledged %v after the first: it must carry the first revert's time", d)
	}
	if !slices.Equal(second.Reverted, []string{"h1"}) {
		t.Errorf("repeated halt ack lists %v, want the fault the first one reverted", second.Reverted)
	}
	// The revert's status is said again (the leader that got it may have died before
	// recording it), with its original time and the time the fault was injected.
	var sts []*murphyv1.StepStatus
	for _, m := range f.received() {
		if st := m.GetStepStatus(); st != nil && st.AssignmentId == "h1" && st.State == murphyv1.FaultState_FAULT_STATE_REVERTED {
			sts = append(sts, st)
		}
	}
	var injected *murphyv1.StepStatus
	for _, m := range f.received() {
		if st := m.GetStepStatus(); st != nil && st.AssignmentId == "h1" && st.State == murphyv1.FaultState_FAULT_STATE_INJECTED {
			injected = st
		}
	}
	if len(sts) != 2 || !sts[1].At.AsTime().Equal(sts[0].At.AsTime()) || sts[1].InjectedAt == nil {
		t.Errorf("revert statuses after a repeated halt: %v; want the first one sent again, with its injection time", sts)
	} else if injected == nil || !sts[1].InjectedAt.AsTime().Equal(injected.At.AsTime()) {
		// The run record matches a re-sent revert to its window by these times.
		t.Errorf("revert names injection at %v, but the injection report said %v", sts[1].InjectedAt.AsTime(), injected.GetAt().AsTime())
	}
}
