package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// The fault kinds this package executes.
const (
	KindKill    = "container.kill"
	KindStop    = "container.stop"
	KindPause   = "container.pause"
	KindRestart = "container.restart"
)

// killSettle is how long container.kill waits for a signalled container to leave the
// running state. Without it a revert that came quickly could find the container still
// running, do nothing, and then watch it die and stay down. A signal the container
// survives (HUP, USR1) costs this much once.
const killSettle = time.Second

// Family is the container fault family on one Docker engine. Its executors share the
// engine client and the state directory.
type Family struct {
	api   API // nil when no Docker engine answers: only the pod forms run then
	cri   string
	store store
	log   *slog.Logger
	// mu serialises injects and reverts, so two assignments never race on one container's
	// state between inspect and act.
	mu sync.Mutex
}

// New returns the family over api. stateDir holds one small file per active fault (the
// container IDs it touched); it must survive a worker restart, so it belongs in the
// worker's data directory. A nil logger discards.
func New(api API, stateDir string, log *slog.Logger) *Family {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Family{api: api, store: newStore(stateDir), log: log}
}

// WithCRI sets the CRI runtime socket through which container.kill and container.pause
// find a pod's container ("" for DefaultCRISocket). It is dialled for each pod fault, at
// inject and at revert, never kept open. It returns fam.
func (fam *Family) WithCRI(endpoint string) *Family {
	fam.cri = endpoint
	return fam
}

// Executors returns the executors of container.kill, container.stop, container.pause and
// container.restart; without a Docker engine (a nil API), only those of container.kill
// and container.pause, which act on pods' containers through the CRI runtime.
func (fam *Family) Executors() []fault.Executor {
	if fam.api == nil {
		return []fault.Executor{&executor{kind: KindKill, fam: fam}, &executor{kind: KindPause, fam: fam}}
	}
	return []fault.Executor{
		&executor{kind: KindKill, fam: fam},
		&executor{kind: KindStop, fam: fam},
		&executor{kind: KindPause, fam: fam},
		&executor{kind: KindRestart, fam: fam},
	}
}

type executor struct {
	kind string
	fam  *Family
}

var _ fault.Executor = (*executor)(nil)

func (e *executor) Kind() string { return e.kind }

// Validate implements fault.Executor: the catalogue checked each value and that exactly
// one of name and labels is given; the engine is asked at inject.
func (e *executor) Validate(p catalogue.Params) error {
	c, ok := p.(catalogue.Container)
	if !ok {
		return fmt.Errorf("%s: params of type %T", e.kind, p)
	}
	if c.Pod == "" && e.fam.api == nil {
		return fmt.Errorf("%s: no Docker engine answers on this worker (--docker-host); here it acts only on a pod's container (params.pod)", e.kind)
	}
	if c.Pod != "" && e.kind != KindKill && e.kind != KindPause {
		return fmt.Errorf("%s: params.pod is not supported", e.kind)
	}
	return nil
}

// timeoutSeconds is the engine's stop timeout: whole seconds, rounded up.
func timeoutSeconds(d time.Duration) *int {
	s := int((d + time.Second - 1) / time.Second)
	return &s
}

// Inject selects the running containers, records their IDs, then acts on all of them at
// once. If acting on any fails, the ones reached are reverted and the error says so.
func (e *executor) Inject(ctx context.Context, f fault.Fault) error {
	if err := e.Validate(f.Params); err != nil {
		return err
	}
	fam := e.fam
	fam.mu.Lock()
	defer fam.mu.Unlock()
	defer Release(fam.api)
	if _, ok, err := fam.store.get(f.AssignmentID); err != nil || ok {
		return err // ok: already injected; Inject is idempotent
	}
	p := f.Params.(catalogue.Container)
	if p.Pod != "" {
		return e.injectPod(ctx, f.AssignmentID, p)
	}
	sel := Selector{Name: p.Name, Labels: p.Labels}
	found, err := running(ctx, fam.api, sel)
	if err != nil {
		return fmt.Errorf("%s: %w", e.kind, err)
	}
	chosen, err := pick(found, p.Count, sel)
	if err != nil {
		return fmt.Errorf("%s: %w", e.kind, err)
	}
	rec := touched{AssignmentID: f.AssignmentID, Kind: e.kind}
	for _, c := range chosen {
		rec.Targets = append(rec.Targets, target{ID: c.ID, Name: name(c), StartedAt: c.State.StartedAt})
	}
	if err := fam.store.put(rec); err != nil {
		return fmt.Errorf("%s: %w (no container was touched)", e.kind, err)
	}
	// All targets at once: a stop takes up to its timeout, and the worker bounds the
	// whole Inject, not each container.
	errs := make([]error, len(rec.Targets))
	var wg sync.WaitGroup
	for i, t := range rec.Targets {
		wg.Go(func() { errs[i] = e.apply(ctx, p, t) })
	}
	wg.Wait()
	var failed []error
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", rec.Targets[i].Name, err))
		}
	}
	if len(failed) > 0 {
		err := fmt.Errorf("%s: %w", e.kind, errors.Join(failed...))
		// Revert is conditional on each container's state, so reverting every target
		// restores the ones the fault reached and leaves the others as they are.
		if uerr := e.revertAll(ctx, rec); uerr != nil {
			return errors.Join(err, fmt.Errorf("undo (kept for the next revert): %w", uerr))
		}
		if derr := fam.store.del(f.AssignmentID); derr != nil {
			return errors.Join(err, derr)
		}
		return fmt.Errorf("%w (every container it reached was restored)", err)
	}
	for _, t := range rec.Targets {
		fam.log.Info("container fault injected", "kind", e.kind, "assignment_id", f.AssignmentID,
			"container", t.Name, "container_id", short(t.ID))
	}
	return nil
}

func (e *executor) apply(ctx context.Context, p catalogue.Container, t target) error {
	api := e.fam.api
	var err error
	switch e.kind {
	case KindKill:
		if _, err = api.ContainerKill(ctx, t.ID, client.ContainerKillOptions{Signal: p.Signal}); err == nil {
			e.settle(ctx, t)
		}
	case KindStop:
		_, err = api.ContainerStop(ctx, t.ID, client.ContainerStopOptions{Timeout: timeoutSeconds(p.Timeout)})
	case KindPause:
		_, err = api.ContainerPause(ctx, t.ID, client.ContainerPauseOptions{})
	case KindRestart:
		_, err = api.ContainerRestart(ctx, t.ID, client.ContainerRestartOptions{Timeout: timeoutSeconds(p.Timeout)})
	}
	return err
}

// settle waits up to killSettle for a signalled container to stop running.
func (e *executor) settle(ctx context.Context, t target) {
	ctx, cancel := context.WithTimeout(ctx, killSettle)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := e.fam.api.ContainerInspect(ctx, t.ID, client.ContainerInspectOptions{})
		if err != nil || r.Container.State == nil || !r.Container.State.Running || r.Container.State.StartedAt != t.StartedAt {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Revert undoes what Inject recorded; see revertOne for what that means per kind. The
// record is dropped only when every container is reverted, so a failed revert is retried
// on the same containers.
func (e *executor) Revert(ctx context.Context, f fault.Fault) error {
	fam := e.fam
	fam.mu.Lock()
	defer fam.mu.Unlock()
	defer Release(fam.api)
	if p, ok := f.Params.(catalogue.Container); ok && p.Pod != "" {
		return e.revertPod(ctx, f.AssignmentID, p.Pod, p.PodContainer)
	}
	rec, ok, err := fam.store.get(f.AssignmentID)
	if err != nil || !ok {
		return err
	}
	if rec.Pod != "" {
		return e.revertPod(ctx, f.AssignmentID, rec.Pod, rec.Container)
	}
	if err := e.revertAll(ctx, rec); err != nil {
		return fmt.Errorf("%s: revert: %w", rec.Kind, err)
	}
	return fam.store.del(f.AssignmentID)
}

func (e *executor) revertAll(ctx context.Context, rec touched) error {
	var errs []error
	for _, t := range rec.Targets {
		if err := e.revertOne(ctx, rec, t); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
		}
	}
	return errors.Join(errs...)
}

// revertOne restores one container the fault touched, acting only on a state the fault
// itself left:
//   - pause: unpause it if it is paused;
//   - stop, kill: start it if it is not running and has not been started since the fault
//     stopped it (its StartedAt is still the one recorded before the fault). A container
//     its restart policy brought back, or that someone started (and perhaps stopped)
//     again meanwhile, is left as it is;
//   - restart: nothing; the engine started it again as part of the restart.
//
// A container removed meanwhile has nothing to revert.
func (e *executor) revertOne(ctx context.Context, rec touched, t target) error {
	if rec.Kind == KindRestart {
		return nil
	}
	api := e.fam.api
	r, err := api.ContainerInspect(ctx, t.ID, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		e.fam.log.Warn("container removed while faulted; nothing to revert", "kind", rec.Kind,
			"assignment_id", rec.AssignmentID, "container", t.Name, "container_id", short(t.ID))
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	st := r.Container.State
	if st == nil {
		return fmt.Errorf("the engine reports no state")
	}
	switch rec.Kind {
	case KindPause:
		if !st.Paused {
			return nil
		}
		if _, err := api.ContainerUnpause(ctx, t.ID, client.ContainerUnpauseOptions{}); err != nil {
			return fmt.Errorf("unpause: %w", err)
		}
	case KindStop, KindKill:
		if st.Running || st.Restarting {
			return nil
		}
		if st.StartedAt != t.StartedAt {
			e.fam.log.Warn("container was started again after the fault; leaving it as it is", "kind", rec.Kind,
				"assignment_id", rec.AssignmentID, "container", t.Name, "state", string(st.Status))
			return nil
		}
		if _, err := api.ContainerStart(ctx, t.ID, client.ContainerStartOptions{}); err != nil {
			return fmt.Errorf("start: %w", err)
		}
	default:
		return fmt.Errorf("unknown kind %q in the fault state", rec.Kind)
	}
	e.fam.log.Info("container fault reverted", "kind", rec.Kind, "assignment_id", rec.AssignmentID,
		"container", t.Name, "container_id", short(t.ID))
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
