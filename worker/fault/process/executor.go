//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"github.com/murphy-chaos/murphy/worker/fault/record"
)

// Config configures the process family.
type Config struct {
	// Policy says which processes are protected.
	Policy fault.Policy
	// RecordDir keeps process.stop's records across worker restarts.
	RecordDir string
	Logger    *slog.Logger
	// Containers finds the init process of the one running container a selector names
	// (ProcessSelector's Container or ContainerLabels); nil refuses such selectors.
	Containers func(ctx context.Context, place catalogue.Place) (pid int, err error)
}

// Executors returns the process.kill and process.stop executors.
func Executors(cfg Config) ([]fault.Executor, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	recs, err := record.Open(cfg.RecordDir)
	if err != nil {
		return nil, err
	}
	return []fault.Executor{
		&Kill{pol: cfg.Policy, log: cfg.Logger, containers: cfg.Containers, done: map[string]bool{}},
		&Stop{pol: cfg.Policy, log: cfg.Logger, containers: cfg.Containers, recs: recs},
	}, nil
}

// selection returns the selector of a process.kill or process.stop fault.
func selection(kind string, p catalogue.Params) (selector, error) {
	switch p := p.(type) {
	case catalogue.ProcessKill:
		return selector{ProcessSelector: p.ProcessSelector}, nil
	case catalogue.ProcessStop:
		return selector{ProcessSelector: p.ProcessSelector}, nil
	}
	return selector{}, fmt.Errorf("%s: params of type %T", kind, p)
}

// containerTimeout bounds asking the container engine for a container's process.
const containerTimeout = 10 * time.Second

// inContainer narrows sel to the PID namespace of the container it names, if any.
func inContainer(ctx context.Context, find func(context.Context, catalogue.Place) (int, error), sel selector) (selector, error) {
	if !sel.Place.Set() {
		return sel, nil
	}
	if find == nil {
		return sel, errors.New("processes in a container need the worker's Docker engine (--docker-host) or, in a pod, its CRI runtime (--cri-socket), and none answers")
	}
	ctx, cancel := context.WithTimeout(ctx, containerTimeout)
	defer cancel()
	pid, err := find(ctx, sel.Place)
	if err != nil {
		return sel, err
	}
	ns, err := pidNamespace(pid)
	if err != nil {
		return sel, fmt.Errorf("the container's process %d: %w (does the worker share the host's PID namespace?)", pid, err)
	}
	if own, err := pidNamespace(os.Getpid()); err == nil && own == ns {
		return sel, fmt.Errorf("the container's process %d shares the worker's PID namespace; refusing to treat the host as a container", pid)
	}
	sel.pidns = ns
	return sel, nil
}

// validate checks p against the policy, without side effects.
func validate(kind string, pol fault.Policy, p catalogue.Params) error {
	sel, err := selection(kind, p)
	if err != nil {
		return err
	}
	if err := sel.check(newGuard(pol)); err != nil {
		return fmt.Errorf("%s: refused: %w", kind, err)
	}
	return nil
}

// logSkipped reports protected processes a wide selector matched and the fault left
// alone, at warning level: the fault went ahead on the others, so nothing else would tell
// the operator that the spec aims at more than it may touch.
func logSkipped(log *slog.Logger, id string, skipped []string) {
	if len(skipped) > 0 {
		log.Warn("left protected processes alone", "assignment_id", id, "protected", skipped)
	}
}

// Kill is process.kill: one signal to each selected process. It has nothing to revert.
type Kill struct {
	pol        fault.Policy
	log        *slog.Logger
	containers func(context.Context, catalogue.Place) (int, error)

	mu   sync.Mutex
	done map[string]bool // assignments already injected, so a resend signals nobody twice
}

var _ fault.Executor = (*Kill)(nil)

// Kind implements fault.Executor.
func (*Kill) Kind() string { return "process.kill" }

// Validate implements fault.Executor.
func (k *Kill) Validate(p catalogue.Params) error { return validate(k.Kind(), k.pol, p) }

// Inject implements fault.Executor.
func (k *Kill) Inject(ctx context.Context, f fault.Fault) error {
	if err := k.Validate(f.Params); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done[f.AssignmentID] {
		return nil
	}
	p := f.Params.(catalogue.ProcessKill)
	sigName, sigNum := p.Signal, p.SignalNum
	sel, err := inContainer(ctx, k.containers, selector{ProcessSelector: p.ProcessSelector})
	if err != nil {
		return fmt.Errorf("process.kill: %w", err)
	}
	procs, skipped, err := sel.pick(k.pol, nil)
	if err != nil {
		return fmt.Errorf("process.kill: %w", err)
	}
	logSkipped(k.log, f.AssignmentID, skipped)
	var sent []string
	var errs []error
	for _, p := range procs {
		ok, err := send(p.PID, p.Start, syscall.Signal(sigNum))
		switch {
		case err != nil:
			errs = append(errs, err)
		case ok:
			sent = append(sent, p.String())
		}
	}
	k.done[f.AssignmentID] = true
	k.log.Info("signalled processes", "assignment_id", f.AssignmentID, "signal", sigName, "processes", sent)
	if len(errs) > 0 {
		return fmt.Errorf("process.kill: SIG%s reached %d of %d processes: %w", sigName, len(sent), len(procs), errors.Join(errs...))
	}
	if len(sent) == 0 {
		return fmt.Errorf("process.kill: every selected process exited before SIG%s reached it", sigName)
	}
	return nil
}

// Revert implements fault.Executor: a signal cannot be taken back, so it only forgets
// the assignment.
func (k *Kill) Revert(_ context.Context, f fault.Fault) error {
	k.mu.Lock()
	delete(k.done, f.AssignmentID)
	k.mu.Unlock()
	return nil
}

// Stop is process.stop: SIGSTOP at inject, SIGCONT at revert, to the same processes
// even across a worker crash.
type Stop struct {
	pol        fault.Policy
	log        *slog.Logger
	containers func(context.Context, catalogue.Place) (int, error)
	recs       *record.Dir
	mu         sync.Mutex // one inject or revert at a time: records are read, then written
}

var _ fault.Executor = (*Stop)(nil)

// stopRecord is what process.stop remembers of an assignment.
type stopRecord struct {
	Procs []ident `json:"procs"`
}

// ident is a process's identity: a pid alone may be recycled.
type ident struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
	What  string `json:"what"`
}

// Kind implements fault.Executor.
func (*Stop) Kind() string { return "process.stop" }

// Validate implements fault.Executor.
func (s *Stop) Validate(p catalogue.Params) error { return validate(s.Kind(), s.pol, p) }

// Inject implements fault.Executor. The record of the processes is written before the
// first SIGSTOP, so a crash at any point leaves enough to resume them.
func (s *Stop) Inject(ctx context.Context, f fault.Fault) error {
	if err := s.Validate(f.Params); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rec stopRecord
	if ok, err := s.recs.Get(f.AssignmentID, &rec); err != nil || ok {
		return err // active already: a resend
	}
	sel, err := inContainer(ctx, s.containers, selector{ProcessSelector: f.Params.(catalogue.ProcessStop).ProcessSelector})
	if err != nil {
		return fmt.Errorf("process.stop: %w", err)
	}
	procs, skipped, err := sel.pick(s.pol, func(p proc) error {
		if p.stopped() {
			return errors.New("already stopped by someone else")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("process.stop: %w", err)
	}
	logSkipped(s.log, f.AssignmentID, skipped)
	for _, p := range procs {
		rec.Procs = append(rec.Procs, ident{PID: p.PID, Start: p.Start, What: p.String()})
	}
	if err := s.recs.Put(f.AssignmentID, rec); err != nil {
		return fmt.Errorf("process.stop: %w", err)
	}
	var stopped []string
	for _, id := range rec.Procs {
		ok, err := send(id.PID, id.Start, syscall.SIGSTOP)
		if err != nil {
			rerr := s.resume(f.AssignmentID, rec)
			return errors.Join(fmt.Errorf("process.stop: %w", err), rerr)
		}
		if ok {
			stopped = append(stopped, id.What)
		}
	}
	if len(stopped) == 0 {
		return errors.Join(errors.New("process.stop: every selected process exited before SIGSTOP reached it"),
			s.recs.Delete(f.AssignmentID))
	}
	// SIGSTOP is delivered when the process next runs in the kernel; "injected" must
	// mean stopped, so wait (briefly) until each one shows it.
	awaitStopped(ctx, rec.Procs, time.Second)
	s.log.Info("stopped processes", "assignment_id", f.AssignmentID, "processes", stopped)
	return nil
}

// awaitStopped waits until every process of ids is stopped or gone, for at most limit.
func awaitStopped(ctx context.Context, ids []ident, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for _, id := range ids {
		for {
			p, err := readProc(id.PID)
			if err != nil || p.Start != id.Start || p.stopped() || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// Revert implements fault.Executor: SIGCONT to every recorded process that still has
// its recorded start time.
func (s *Stop) Revert(_ context.Context, f fault.Fault) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rec stopRecord
	ok, err := s.recs.Get(f.AssignmentID, &rec)
	if err != nil || !ok {
		return err
	}
	return s.resume(f.AssignmentID, rec)
}

// resume continues rec's processes and forgets the record once all are resumed or gone.
func (s *Stop) resume(id string, rec stopRecord) error {
	var errs []error
	var resumed, gone []string
	for _, p := range rec.Procs {
		ok, err := send(p.PID, p.Start, syscall.SIGCONT)
		switch {
		case err != nil:
			errs = append(errs, err)
		case ok:
			resumed = append(resumed, p.What)
		default:
			gone = append(gone, p.What)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("process.stop: resume: %w", errors.Join(errs...))
	}
	s.log.Info("resumed processes", "assignment_id", id, "processes", resumed,
		"gone", strings.Join(gone, "; "))
	return s.recs.Delete(id)
}
