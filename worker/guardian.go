package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/journal"
)

// The guardian is the last line of revert for what the kernel cannot expire on its own
// (stopped processes, paused containers, stress files, exec commands): a small process
// per host, apart from the worker, that reverts the journal's faults when the worker is
// dead or frozen. Network faults carry their deadline into the kernel and need no one;
// the guardian reverts them too, which only tidies up.
//
// The worker proves it is alive through a file beside its journal, rewritten every
// half second and whenever it journals a fault: its PID, the PID's start time (so a
// recycled PID is not taken for the worker) and how many faults it holds. The guardian
// reads nothing else while the worker lives, because bbolt's lock keeps the journal to
// one process.
//
// When the worker's PID is gone, the guardian opens the journal and reverts what it
// holds. When the worker holds faults but its file has not moved for Stale, the worker
// is frozen (SIGSTOP, a cgroup freeze, a paused container, a swap storm): it can neither
// honour a halt nor its own deadlines, and it holds the journal's lock. The guardian
// kills it (SIGKILL works on a stopped process), waits for the lock, and reverts. Killing
// is the point: a worker that cannot revert must not keep faults in force, and its
// supervisor restarts it clean.
//
// Each revert is recorded in the journal's reverted/ bucket with cause GUARDIAN, and the
// next worker to start reports it, so the run record says who reverted and when.

// AliveFile is the worker's proof of life inside its data directory.
const AliveFile = "worker.alive"

// alive is AliveFile's content.
type alive struct {
	PID    int   `json:"pid"`
	Start  int64 `json:"start"` // the process's start time in clock ticks since boot
	Faults int64 `json:"faults"`
	// Due is the earliest deadline of the faults in force (Unix milliseconds), 0 when
	// none: past it, a silent worker is frozen at the worst moment.
	Due int64 `json:"due,omitempty"`
}

// beatEvery is how often a live worker rewrites its AliveFile.
const beatEvery = 500 * time.Millisecond

// A fault overdueAfter past its deadline on a worker silent for overdueSilence (three
// missed beats: no goroutine of the process has run) means the worker is frozen; the
// guardian does not wait for Stale then.
const (
	overdueAfter   = 250 * time.Millisecond
	overdueSilence = 1500 * time.Millisecond
)

// beat rewrites the AliveFile; the rename makes a reader see the old or the new file,
// never half of one. It is cheap enough to run on every journalled fault.
func (a *Agent) beat() {
	var due time.Time
	a.faultMu.Lock()
	for _, act := range a.faults {
		if d := act.af.GetDeadline().AsTime(); act.af.GetDeadline() != nil && (due.IsZero() || d.Before(due)) {
			due = d
		}
	}
	a.faultMu.Unlock()
	st := alive{PID: os.Getpid(), Start: a.startTicks, Faults: int64(a.nActive.Load())}
	if !due.IsZero() {
		st.Due = due.UnixMilli()
	}
	b, _ := json.Marshal(st)
	path := filepath.Join(a.cfg.DataDir, AliveFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		a.log.Debug("write alive file", "err", err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		a.log.Debug("write alive file", "err", err)
	}
}

// procStart is pid's start time in clock ticks since boot (field 22 of /proc/PID/stat),
// or 0 when the process does not exist.
func procStart(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from the
	// last closing one.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return 0
	}
	v, _ := strconv.ParseInt(fields[19], 10, 64)
	return v
}

// GuardianConfig configures a guardian. The worker Config is the worker's own: the
// guardian builds the same executors from it to revert what the worker journalled.
type GuardianConfig struct {
	Worker Config
	// Stale is how long the AliveFile may stand still, while the worker holds faults,
	// before the worker counts as frozen (default: the worker's lease plus 2 s, so the
	// worker's own dead-man's switch always has its chance first).
	Stale time.Duration
	// Interval is how often the guardian looks (default 250 ms).
	Interval time.Duration
	// Linger is how long the guardian stays once its worker is gone and everything is
	// reverted, waiting for a restart (default 10 minutes); it then exits, and the next
	// worker to start brings its own.
	Linger time.Duration
	// Now and Kill are replaced by tests.
	Now  func() time.Time
	Kill func(pid int) error
}

// Guardian watches one worker's data directory.
type Guardian struct {
	cfg GuardianConfig
	log *slog.Logger
}

// NewGuardian checks cfg.
func NewGuardian(cfg GuardianConfig) (*Guardian, error) {
	if cfg.Worker.DataDir == "" {
		return nil, errors.New("guardian: the worker's data directory is required")
	}
	cfg.Worker.defaults()
	if cfg.Stale <= 0 {
		cfg.Stale = cfg.Worker.Lease + 2*time.Second
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Kill == nil {
		cfg.Kill = killProcess
	}
	return &Guardian{cfg: cfg, log: cfg.Worker.Logger.With("component", "guardian")}, nil
}

// Lock takes the guardian's lock on the data directory, so one guardian watches a
// worker; ok is false when another holds it. The lock lasts as long as the process.
func (g *Guardian) Lock() (ok bool, err error) {
	if err := os.MkdirAll(g.cfg.Worker.DataDir, 0o700); err != nil {
		return false, err
	}
	f, err := os.OpenFile(filepath.Join(g.cfg.Worker.DataDir, "guardian.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return false, err
	}
	if ok, err := lockFile(f); !ok || err != nil {
		f.Close()
		return false, err
	}
	return true, nil // f stays open: closing it would drop the lock
}

// Run looks every Interval until ctx ends.
func (g *Guardian) Run(ctx context.Context) error {
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	g.log.Info("guardian watching", "data_dir", g.cfg.Worker.DataDir, "stale", g.cfg.Stale)
	var idleSince time.Time
	for {
		if _, err := os.Stat(g.cfg.Worker.DataDir); errors.Is(err, os.ErrNotExist) {
			// The worker was removed with its data: nothing is left to guard.
			g.log.Info("data directory removed: guardian exiting", "data_dir", g.cfg.Worker.DataDir)
			return nil
		}
		if _, err := g.Check(ctx); err != nil {
			g.log.Error("guardian check", "err", err)
		}
		if g.idle() {
			if idleSince.IsZero() {
				idleSince = g.cfg.Now()
			}
			if g.cfg.Now().Sub(idleSince) > g.cfg.Linger {
				g.log.Info("worker gone and nothing left to revert: guardian exiting")
				return nil
			}
		} else {
			idleSince = time.Time{}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// idle reports that no worker lives here and nothing is left to revert (Check marks the
// alive file with PID 0 once it has tidied up).
func (g *Guardian) idle() bool {
	b, err := os.ReadFile(filepath.Join(g.cfg.Worker.DataDir, AliveFile))
	var w alive
	if err != nil || json.Unmarshal(b, &w) != nil {
		return false
	}
	return w.PID == 0 && w.Faults == 0
}

// Check looks once: if the worker is dead or frozen with faults, it reverts the
// journal's faults and returns how many.
func (g *Guardian) Check(ctx context.Context) (int, error) {
	path := filepath.Join(g.cfg.Worker.DataDir, AliveFile)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil // no worker has started here yet
	}
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var w alive
	if err := json.Unmarshal(b, &w); err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	dead := w.PID <= 0 || procStart(w.PID) != w.Start
	silent := g.cfg.Now().Sub(fi.ModTime())
	// Frozen: silent past Stale while holding faults, or silent for a moment while a
	// fault is past its deadline, which a live worker would have reverted by now.
	overdue := w.Due > 0 && g.cfg.Now().After(time.UnixMilli(w.Due).Add(overdueAfter))
	frozen := !dead && w.Faults > 0 && (silent > g.cfg.Stale || (overdue && silent > overdueSilence))
	switch {
	case frozen:
		g.log.Error("worker frozen with faults in force: killing it to revert them", "pid", w.PID,
			"silent", g.cfg.Now().Sub(fi.ModTime()).Round(time.Millisecond), "faults", w.Faults)
		if err := g.cfg.Kill(w.PID); err != nil && !errors.Is(err, errNoProcess) {
			return 0, fmt.Errorf("kill frozen worker %d: %w", w.PID, err)
		}
	case dead:
		if w.Faults == 0 && w.PID <= 0 {
			return 0, nil // already tidied
		}
	default:
		return 0, nil
	}
	// The journal's lock is free once the worker is gone. A restarted worker may take
	// it first: it then reverts at its start-up, and the guardian leaves it the journal.
	replaced := func() bool {
		b, err := os.ReadFile(path)
		var now alive
		if err != nil || json.Unmarshal(b, &now) != nil {
			return false
		}
		return now.PID > 0 && now.PID != w.PID && procStart(now.PID) == now.Start
	}
	j, err := openWhenFree(ctx, g.cfg.Worker.DataDir, 10*time.Second, replaced)
	if errors.Is(err, errReplaced) {
		g.log.Info("a new worker took the journal; it reverts what is left", "old_pid", w.PID)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer j.Close()
	n, err := g.revertAll(ctx, j)
	if err == nil {
		// Mark the file tidied so the next look does not reopen the journal; a new
		// worker rewrites it at once.
		if b, merr := json.Marshal(alive{}); merr == nil {
			_ = os.WriteFile(path, b, 0o600)
		}
	}
	return n, err
}

var errReplaced = errors.New("guardian: a new worker holds the journal")

func openWhenFree(ctx context.Context, dir string, wait time.Duration, replaced func() bool) (*journal.Journal, error) {
	deadline := time.Now().Add(wait)
	for {
		j, err := journal.Open(dir) // itself waits a second for the lock
		if err == nil {
			return j, nil
		}
		if replaced() {
			return nil, errReplaced
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
	}
}

// revertAll reverts every journalled fault with the worker's own executors and records
// each revert for the next worker to report.
func (g *Guardian) revertAll(ctx context.Context, j *journal.Journal) (int, error) {
	left, err := j.List()
	if err != nil && len(left) == 0 {
		return 0, err
	}
	if len(left) == 0 {
		return 0, nil
	}
	reg, err := g.registry()
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, af := range left {
		exec, ok := reg.Get(af.GetFault().GetKind())
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no executor for %s on this host", af.GetAssignmentId(), af.GetFault().GetKind()))
			continue
		}
		f, err := toFault(af)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", af.GetAssignmentId(), err))
			continue
		}
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		err = exec.Revert(octx, f)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("revert %s (%s): %w", f.AssignmentID, f.Kind, err))
			continue
		}
		st := &murphyv1.StepStatus{AssignmentId: af.AssignmentId, RunId: af.RunId, Step: af.Step,
			State: murphyv1.FaultState_FAULT_STATE_REVERTED, Cause: murphyv1.RevertCause_REVERT_CAUSE_GUARDIAN, At: timestamppb.New(g.cfg.Now()),
			InjectedAt: af.InjectedAt}
		if err := j.Resolve(st); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
		g.log.Warn("guardian reverted a fault the worker could not", "assignment_id", f.AssignmentID, "run_id", f.RunID, "kind", f.Kind)
	}
	return n, errors.Join(errs...)
}

// registry builds the worker's executors without its proxies (HTTP faults live in the
// worker's own proxy and end with it).
func (g *Guardian) registry() (*fault.Registry, error) {
	a := &Agent{cfg: g.cfg.Worker, log: g.log}
	var execs []fault.Executor
	for _, b := range executorBuilders {
		more, err := b.build(a)
		if err != nil {
			g.log.Warn("fault family unavailable to the guardian", "family", b.family, "err", err)
			continue
		}
		execs = append(execs, more...)
	}
	return fault.NewRegistry(execs...)
}
