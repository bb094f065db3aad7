//go:build linux

package stress

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// period is one duty cycle of a CPU burner: busy for load×period, idle for the rest.
// Short enough that a 1 s load average looks flat, long enough that the sleep's timer
// slack is negligible.
const period = 100 * time.Millisecond

// CPU is stress.cpu.
type CPU struct {
	log        *slog.Logger
	containers func(context.Context, catalogue.Place) (int, error)

	mu     sync.Mutex
	active map[string]*burn
}

type burn struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	child *child // a burner process in a container's cgroups instead of goroutines
}

var _ fault.Executor = (*CPU)(nil)

func newCPU(log *slog.Logger, containers func(context.Context, catalogue.Place) (int, error)) *CPU {
	return &CPU{log: orDiscard(log), containers: containers, active: map[string]*burn{}}
}

// Kind implements fault.Executor.
func (*CPU) Kind() string { return "stress.cpu" }

// cores returns how many cores p asks for: all the worker may use by default.
func cores(p catalogue.StressCPU) int {
	if p.Cores > 0 {
		return p.Cores
	}
	return runtime.GOMAXPROCS(0)
}

// Validate implements fault.Executor.
func (c *CPU) Validate(p catalogue.Params) error {
	cp, ok := p.(catalogue.StressCPU)
	if !ok {
		return fmt.Errorf("stress.cpu: params of type %T", p)
	}
	if n, limit := cores(cp), runtime.GOMAXPROCS(0); n > limit {
		return fmt.Errorf("stress.cpu: params.cores: %d is more than the %d cores this worker may use", n, limit)
	}
	return nil
}

// containerTimeout bounds asking the container engine for a container's process.
const containerTimeout = 10 * time.Second

// Inject implements fault.Executor.
func (c *CPU) Inject(ctx context.Context, f fault.Fault) error {
	if err := c.Validate(f.Params); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.active[f.AssignmentID]; ok {
		return nil
	}
	p := f.Params.(catalogue.StressCPU)
	n, load := cores(p), p.Load
	b := &burn{stop: make(chan struct{})}
	busy := time.Duration(load * float64(period))
	if p.Place.Set() {
		ch, err := c.inContainer(ctx, p, n, busy, f.Deadline)
		if err != nil {
			return fmt.Errorf("stress.cpu: %w", err)
		}
		b.child = ch
		c.active[f.AssignmentID] = b
		c.log.Info("cpu stress started in a container", "assignment_id", f.AssignmentID, "cores", n, "load", load, "pid", ch.cmd.Process.Pid)
		return nil
	}
	for range n {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			spin(b.stop, busy)
		}()
	}
	c.active[f.AssignmentID] = b
	c.log.Info("cpu stress started", "assignment_id", f.AssignmentID, "cores", n, "load", load)
	return nil
}

// spin burns one thread for busy out of every period until stop closes.
func spin(stop <-chan struct{}, busy time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	idle := time.NewTimer(0)
	defer idle.Stop()
	<-idle.C
	for {
		start := time.Now()
		for x := uint64(1); time.Since(start) < busy; x++ {
			if x%4096 == 0 {
				select {
				case <-stop:
					return
				default:
				}
			}
		}
		if rest := period - time.Since(start); rest > 0 {
			idle.Reset(rest)
			select {
			case <-stop:
				return
			case <-idle.C:
			}
		} else {
			select {
			case <-stop:
				return
			default:
			}
		}
	}
}

// Revert implements fault.Executor; it returns once every burner has stopped.
func (c *CPU) Revert(_ context.Context, f fault.Fault) error {
	c.mu.Lock()
	b, ok := c.active[f.AssignmentID]
	delete(c.active, f.AssignmentID)
	c.mu.Unlock()
	if ok {
		close(b.stop)
		b.wg.Wait()
		if b.child != nil {
			b.child.kill()
		}
		c.log.Info("cpu stress stopped", "assignment_id", f.AssignmentID)
	}
	return nil
}

// inContainer starts a burner process charged to the cgroups of the container p names.
func (c *CPU) inContainer(ctx context.Context, p catalogue.StressCPU, n int, busy time.Duration, deadline time.Time) (*child, error) {
	pid, err := findContainer(ctx, c.containers, p.Place, deadline)
	if err != nil {
		return nil, err
	}
	return startChild(ctx, fmt.Sprintf("cpu %d %d", n, busy.Nanoseconds()), deadline, pid)
}

// findContainer asks the engine for the init process of the container a fault names.
func findContainer(ctx context.Context, find func(context.Context, catalogue.Place) (int, error), place catalogue.Place, deadline time.Time) (int, error) {
	if find == nil {
		return 0, fmt.Errorf("a load in a container needs the worker's Docker engine (--docker-host) or, in a pod, its CRI runtime (--cri-socket), and none answers")
	}
	if deadline.IsZero() {
		return 0, fmt.Errorf("the assignment has no deadline; a load in a container ends at one")
	}
	ctx, cancel := context.WithTimeout(ctx, containerTimeout)
	defer cancel()
	return find(ctx, place)
}
