package fsm

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Rejections returned by Apply. Wrapped with the offending ID; test with errors.Is.
var (
	ErrNotFound    = errors.New("fsm: not found")
	ErrExists      = errors.New("fsm: already exists")
	ErrRunFinished = errors.New("fsm: run already finished")
	ErrBadPhase    = errors.New("fsm: not allowed in this phase")
	ErrInvalid     = errors.New("fsm: invalid command")
	ErrHalted      = errors.New("fsm: cluster halted")
)

// Change tells observers what an applied command touched. It is delivered synchronously
// from Apply, so observers must not block.
type Change struct {
	Index    uint64
	RunID    string
	WorkerID string
	NodeID   string
	// Cluster is set for cluster-wide changes (halt all, resume): every run may have
	// changed.
	Cluster bool
}

// FSM is the replicated state machine. Reads return clones, so callers may keep them.
type FSM struct {
	mu      sync.RWMutex
	nodes   map[string]*murphyv1.Node
	workers map[string]*murphyv1.Worker
	runs    map[string]*murphyv1.Run
	halt    *murphyv1.ClusterHalt // set between HaltAll and Resume

	schedules       map[string]*murphyv1.Schedule
	schedulesPaused bool
	applied         uint64
	skipped         uint64                 // ignorable commands of kinds this build does not know
	sums            summaryState           // per-interval summaries of runs (apply_summary.go)
	audit           []*murphyv1.AuditEntry // append-only, in index order (apply_audit.go)

	obsMu     sync.Mutex
	observers []func(Change)
}

var _ raft.FSM = (*FSM)(nil)

// New returns an empty FSM.
func New() *FSM {
	return &FSM{
		nodes:   map[string]*murphyv1.Node{},
		workers: map[string]*murphyv1.Worker{},
		runs:    map[string]*murphyv1.Run{},

		schedules: map[string]*murphyv1.Schedule{},
	}
}

// Observe registers fn to be called after every applied command, including rejected ones
// (Change then names what the command addressed).
func (f *FSM) Observe(fn func(Change)) {
	f.obsMu.Lock()
	defer f.obsMu.Unlock()
	f.observers = append(f.observers, fn)
}

// Encode marshals a command for raft.Apply.
func Encode(cmd *murphyv1.Command) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(cmd)
}

// Apply implements raft.FSM. It returns nil or an error value describing a rejection.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	var cmd murphyv1.Command
	if err := proto.Unmarshal(l.Data, &cmd); err != nil {
		panic(fmt.Sprintf("fsm: undecodable log entry %d: %v", l.Index, err))
	}
	f.mu.Lock()
	ch, err := f.applyAudited(l.Index, &cmd)
	f.applied = l.Index
	f.mu.Unlock()
	ch.Index = l.Index
	f.obsMu.Lock()
	obs := slices.Clone(f.observers)
	f.obsMu.Unlock()
	for _, fn := range obs {
		fn(ch)
	}
	return err
}

// SkippedUnknown counts the ignorable commands this node skipped because it does not know
// their kind: a sign that a newer version leads the cluster.
func (f *FSM) SkippedUnknown() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.skipped
}

// ApplyCommand applies cmd outside raft; tests and benchmarks use it.
func (f *FSM) ApplyCommand(index uint64, cmd *murphyv1.Command) error {
	data, err := Encode(cmd)
	if err != nil {
		return err
	}
	res := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
	if res == nil {
		return nil
	}
	return res.(error)
}

func (f *FSM) apply(cmd *murphyv1.Command) (Change, error) {
	if cmd.GetAt() == nil {
		return Change{}, fmt.Errorf("%w: command without a timestamp", ErrInvalid)
	}
	switch c := cmd.Cmd.(type) {
	case *murphyv1.Command_RegisterNode:
		return f.applyRegisterNode(c.RegisterNode)
	case *murphyv1.Command_RemoveNode:
		return f.applyRemoveNode(c.RemoveNode)
	case *murphyv1.Command_HaltAll:
		return f.applyHaltAll(cmd, c.HaltAll)
	case *murphyv1.Command_Resume:
		return f.applyResume(c.Resume)
	case *murphyv1.Command_CreateSchedule:
		return f.applyCreateSchedule(cmd, c.CreateSchedule)
	case *murphyv1.Command_FireSchedule:
		return f.applyFireSchedule(cmd, c.FireSchedule)
	case *murphyv1.Command_SkipSchedule:
		return f.applySkipSchedule(cmd, c.SkipSchedule)
	case *murphyv1.Command_DeleteSchedule:
		return f.applyDeleteSchedule(cmd, c.DeleteSchedule)
	case *murphyv1.Command_PauseSchedules:
		return f.applyPauseSchedules(cmd, c.PauseSchedules)
	case *murphyv1.Command_NextWave:
		return f.applyNextWave(cmd, c.NextWave)
	case *murphyv1.Command_RegisterWorker:
		return f.applyRegisterWorker(cmd, c.RegisterWorker)
	case *murphyv1.Command_MarkWorkerLost:
		return f.applyMarkWorkerLost(cmd, c.MarkWorkerLost)
	case *murphyv1.Command_CreateRun:
		return f.applyCreateRun(cmd, c.CreateRun)
	case *murphyv1.Command_StartRun:
		return f.applyStartRun(cmd, c.StartRun)
	case *murphyv1.Command_AdvanceRun:
		return f.applyAdvanceRun(cmd, c.AdvanceRun)
	case *murphyv1.Command_RecordStep:
		return f.applyRecordStep(cmd, c.RecordStep)
	case *murphyv1.Command_HaltRun:
		return f.applyHaltRun(cmd, c.HaltRun)
	case *murphyv1.Command_RecordRevert:
		return f.applyRecordRevert(c.RecordRevert)
	case *murphyv1.Command_RecordWindows:
		return f.applyRecordWindows(c.RecordWindows)
	case *murphyv1.Command_RecordVerdict:
		return f.applyRecordVerdict(cmd, c.RecordVerdict)
	case *murphyv1.Command_FailRun:
		return f.applyFailRun(cmd, c.FailRun)
	case *murphyv1.Command_RecordSummaries:
		return f.applyRecordSummaries(c.RecordSummaries)
	case *murphyv1.Command_RecordRollback:
		return f.applyRecordRollback(c.RecordRollback)
	default:
		// An unknown command kind means a newer leader wrote an entry this node cannot
		// understand. If the leader marked it ignorable (bookkeeping such as fault
		// windows), every node that does not know it skips it alike; otherwise applying
		// anything else would fork the state.
		if cmd.GetIgnorable() {
			f.skipped++
			return Change{}, nil
		}
		panic(fmt.Sprintf("fsm: unknown command %T", cmd.Cmd))
	}
}

// AppliedIndex is the index of the last applied entry.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

// Run returns a copy of the run, or nil.
func (f *FSM) Run(id string) *murphyv1.Run {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if r, ok := f.runs[id]; ok {
		return proto.CloneOf(r)
	}
	return nil
}

// RunHead is a run's identity and where it stands: what a worker's report is checked
// against. A step in a large fleet brings thousands of reports, and Run copies every
// member and fault window of the run for each.
type RunHead struct {
	ID        string
	Phase     murphyv1.RunPhase
	WaveLevel string
	// Waves is how many waves the run has started.
	Waves int
}

// HeadOf is run's head.
func HeadOf(run *murphyv1.Run) RunHead {
	return RunHead{ID: run.Id, Phase: run.Phase, WaveLevel: run.WaveLevel, Waves: len(run.Waves)}
}

// Head returns the head of run id without copying the run.
func (f *FSM) Head(id string) (RunHead, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if r, ok := f.runs[id]; ok {
		return HeadOf(r), true
	}
	return RunHead{}, false
}

// Runs returns copies of all runs, newest first.
func (f *FSM) Runs() []*murphyv1.Run {
	f.mu.RLock()
	out := make([]*murphyv1.Run, 0, len(f.runs))
	for _, r := range f.runs {
		out = append(out, proto.CloneOf(r))
	}
	f.mu.RUnlock()
	sortRuns(out)
	return out
}

// ActiveRuns returns copies of runs not yet in a terminal phase, oldest first.
func (f *FSM) ActiveRuns() []*murphyv1.Run {
	f.mu.RLock()
	var out []*murphyv1.Run
	for _, r := range f.runs {
		if !Terminal(r.Phase) {
			out = append(out, proto.CloneOf(r))
		}
	}
	f.mu.RUnlock()
	sortRuns(out)
	slices.Reverse(out)
	return out
}

// EndedSince returns copies of the finished runs that ended at or after since, oldest
// first. It filters before copying, so the leader's per-tick passes do not copy the whole
// history.
func (f *FSM) EndedSince(since time.Time) []*murphyv1.Run {
	f.mu.RLock()
	var out []*murphyv1.Run
	for _, r := range f.runs {
		if Terminal(r.Phase) && r.EndedAt != nil && !r.EndedAt.AsTime().Before(since) {
			out = append(out, proto.CloneOf(r))
		}
	}
	f.mu.RUnlock()
	sortRuns(out)
	slices.Reverse(out)
	return out
}

// FindRun resolves a run ID or an unambiguous prefix of one.
func (f *FSM) FindRun(idOrPrefix string) (*murphyv1.Run, error) {
	if r := f.Run(idOrPrefix); r != nil {
		return r, nil
	}
	f.mu.RLock()
	var match []string
	for id := range f.runs {
		if strings.HasPrefix(id, idOrPrefix) {
			match = append(match, id)
		}
	}
	f.mu.RUnlock()
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("%w: run %q", ErrNotFound, idOrPrefix)
	case 1:
		return f.Run(match[0]), nil
	default:
		slices.Sort(match)
		return nil, fmt.Errorf("%w: %q matches several runs (%s)", ErrInvalid, idOrPrefix, strings.Join(match, ", "))
	}
}

// Worker returns a copy of the worker's record, or nil.
func (f *FSM) Worker(id string) *murphyv1.Worker {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if w, ok := f.workers[id]; ok {
		return proto.CloneOf(w)
	}
	return nil
}

// Workers returns copies of all worker records sorted by ID.
func (f *FSM) Workers() []*murphyv1.Worker {
	f.mu.RLock()
	out := make([]*murphyv1.Worker, 0, len(f.workers))
	for _, w := range f.workers {
		out = append(out, proto.CloneOf(w))
	}
	f.mu.RUnlock()
	slices.SortFunc(out, func(a, b *murphyv1.Worker) int { return strings.Compare(a.Id, b.Id) })
	return out
}

// LiveWorkers counts the registered workers not declared lost, without copying them: every
// node asks it when a worker connects, to know its share of the fleet.
func (f *FSM) LiveWorkers() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := 0
	for _, w := range f.workers {
		if w.State != murphyv1.WorkerState_WORKER_STATE_LOST {
			n++
		}
	}
	return n
}

// WorkerStates counts the registered workers live and declared lost, without copying
// them: /metrics reports them at every scrape.
func (f *FSM) WorkerStates() (live, lost int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, w := range f.workers {
		if w.State == murphyv1.WorkerState_WORKER_STATE_LOST {
			lost++
		} else {
			live++
		}
	}
	return live, lost
}

// LiveWorkerIDs returns the IDs of the workers not marked lost, sorted: what the leader's
// check for silent workers needs, without copying every record (labels, targets) of a
// large fleet at each check.
func (f *FSM) LiveWorkerIDs() []string {
	f.mu.RLock()
	ids := make([]string, 0, len(f.workers))
	for id, w := range f.workers {
		if w.State != murphyv1.WorkerState_WORKER_STATE_LOST {
			ids = append(ids, id)
		}
	}
	f.mu.RUnlock()
	slices.Sort(ids)
	return ids
}

// Nodes returns copies of the coordinator nodes sorted by ID.
func (f *FSM) Nodes() []*murphyv1.Node {
	f.mu.RLock()
	out := make([]*murphyv1.Node, 0, len(f.nodes))
	for _, n := range f.nodes {
		out = append(out, proto.CloneOf(n))
	}
	f.mu.RUnlock()
	slices.SortFunc(out, func(a, b *murphyv1.Node) int { return strings.Compare(a.Id, b.Id) })
	return out
}

// Node returns a copy of a node's record, or nil.
func (f *FSM) Node(id string) *murphyv1.Node {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if n, ok := f.nodes[id]; ok {
		return proto.CloneOf(n)
	}
	return nil
}

// ClusterHalt returns the cluster-wide halt, or nil when the cluster is not halted.
func (f *FSM) ClusterHalt() *murphyv1.ClusterHalt {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.halt == nil {
		return nil
	}
	return proto.CloneOf(f.halt)
}

// Terminal reports whether a run in phase p is finished.
func Terminal(p murphyv1.RunPhase) bool {
	switch p {
	case murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_HALTED, murphyv1.RunPhase_RUN_PHASE_FAILED:
		return true
	}
	return false
}

func sortRuns(rs []*murphyv1.Run) {
	slices.SortFunc(rs, func(a, b *murphyv1.Run) int {
		if c := b.CreatedAt.AsTime().Compare(a.CreatedAt.AsTime()); c != 0 {
			return c
		}
		return strings.Compare(b.Id, a.Id)
	})
}

// Snapshot implements raft.FSM: it copies the state under the read lock so Persist can
// stream it while Apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	snap := &murphyv1.Snapshot{SchedulesPaused: f.schedulesPaused}
	for _, sc := range f.schedules {
		snap.Schedules = append(snap.Schedules, proto.CloneOf(sc))
	}
	slices.SortFunc(snap.Schedules, func(a, b *murphyv1.Schedule) int { return strings.Compare(a.Id, b.Id) })
	if f.halt != nil {
		snap.Halt = proto.CloneOf(f.halt)
	}
	for _, n := range f.nodes {
		snap.Nodes = append(snap.Nodes, proto.CloneOf(n))
	}
	for _, w := range f.workers {
		snap.Workers = append(snap.Workers, proto.CloneOf(w))
	}
	for _, r := range f.runs {
		snap.Runs = append(snap.Runs, proto.CloneOf(r))
	}
	slices.SortFunc(snap.Nodes, func(a, b *murphyv1.Node) int { return strings.Compare(a.Id, b.Id) })
	slices.SortFunc(snap.Workers, func(a, b *murphyv1.Worker) int { return strings.Compare(a.Id, b.Id) })
	slices.SortFunc(snap.Runs, func(a, b *murphyv1.Run) int { return strings.Compare(a.Id, b.Id) })
	snap.Summaries = f.sums.snapshot()
	snap.Audit = slices.Clone(f.audit) // entries are never changed once appended
	return &snapshot{state: snap}, nil
}

// Restore implements raft.FSM: it discards all previous state.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	var snap murphyv1.Snapshot
	if err := proto.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	nodes := make(map[string]*murphyv1.Node, len(snap.Nodes))
	for _, n := range snap.Nodes {
		nodes[n.Id] = n
	}
	workers := make(map[string]*murphyv1.Worker, len(snap.Workers))
	for _, w := range snap.Workers {
		workers[w.Id] = w
	}
	runs := make(map[string]*murphyv1.Run, len(snap.Runs))
	for _, r := range snap.Runs {
		runs[r.Id] = r
	}
	f.mu.Lock()
	f.nodes, f.workers, f.runs, f.halt = nodes, workers, runs, snap.Halt
	f.schedules = make(map[string]*murphyv1.Schedule, len(snap.Schedules))
	for _, s := range snap.Schedules {
		f.schedules[s.Id] = s
	}
	f.schedulesPaused = snap.SchedulesPaused
	f.sums = restoreSummaries(snap.Summaries)
	f.audit = snap.Audit
	f.mu.Unlock()
	return nil
}

type snapshot struct{ state *murphyv1.Snapshot }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(s.state)
	if err == nil {
		_, err = sink.Write(data)
	}
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {}
