//go:build linux

package stress

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"syscall"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// Memory is stress.memory. The memory is an anonymous mapping outside the Go heap, so
// the garbage collector neither scans it nor delays its return: munmap gives it back to
// the kernel at once.
type Memory struct {
	log        *slog.Logger
	containers func(context.Context, catalogue.Place) (int, error)

	mu       sync.Mutex
	active   map[string][]byte
	children map[string]*child // held in a container's cgroups instead
}

var _ fault.Executor = (*Memory)(nil)

func newMemory(log *slog.Logger, containers func(context.Context, catalogue.Place) (int, error)) *Memory {
	return &Memory{log: orDiscard(log), containers: containers, active: map[string][]byte{}, children: map[string]*child{}}
}

// Kind implements fault.Executor.
func (*Memory) Kind() string { return "stress.memory" }

// Validate implements fault.Executor: what is available is judged at inject.
func (m *Memory) Validate(p catalogue.Params) error {
	if _, ok := p.(catalogue.StressMemory); !ok {
		return fmt.Errorf("stress.memory: params of type %T", p)
	}
	return nil
}

// Inject implements fault.Executor: map, then write one byte per page, checking ctx
// every 64 MiB so a huge request cannot outlive the worker's call timeout.
func (m *Memory) Inject(ctx context.Context, f fault.Fault) error {
	if err := m.Validate(f.Params); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.active[f.AssignmentID]; ok {
		return nil
	}
	if _, ok := m.children[f.AssignmentID]; ok {
		return nil
	}
	p := f.Params.(catalogue.StressMemory)
	n := p.Bytes
	avail, err := memAvailable()
	if err != nil {
		return fmt.Errorf("stress.memory: %w", err)
	}
	if n > avail {
		return fmt.Errorf("stress.memory: params.bytes: %d bytes is more than the %d this host has available; refused so the OOM killer does not pick a victim", n, avail)
	}
	if p.Place.Set() {
		pid, err := findContainer(ctx, m.containers, p.Place, f.Deadline)
		if err != nil {
			return fmt.Errorf("stress.memory: %w", err)
		}
		ch, err := startChild(ctx, fmt.Sprintf("memory %d", n), f.Deadline, pid)
		if err != nil {
			return fmt.Errorf("stress.memory: %w", err)
		}
		m.children[f.AssignmentID] = ch
		m.log.Info("memory stress started in a container", "assignment_id", f.AssignmentID, "bytes", n, "pid", ch.cmd.Process.Pid)
		return nil
	}
	b, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return fmt.Errorf("stress.memory: map %d bytes: %w", n, err)
	}
	page := os.Getpagesize()
	for i := 0; i < len(b); i += page {
		b[i] = 1
		if i%(64<<20) == 0 && ctx.Err() != nil {
			syscall.Munmap(b)
			return fmt.Errorf("stress.memory: touching %d bytes: %w", n, ctx.Err())
		}
	}
	m.active[f.AssignmentID] = b
	m.log.Info("memory stress started", "assignment_id", f.AssignmentID, "bytes", n)
	return nil
}

// Revert implements fault.Executor.
func (m *Memory) Revert(_ context.Context, f fault.Fault) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ch, ok := m.children[f.AssignmentID]; ok {
		ch.kill()
		delete(m.children, f.AssignmentID)
		m.log.Info("memory stress stopped", "assignment_id", f.AssignmentID)
		return nil
	}
	b, ok := m.active[f.AssignmentID]
	if !ok {
		return nil
	}
	if err := syscall.Munmap(b); err != nil {
		return fmt.Errorf("stress.memory: unmap: %w", err)
	}
	delete(m.active, f.AssignmentID)
	m.log.Info("memory stress stopped", "assignment_id", f.AssignmentID)
	return nil
}

// memAvailable reads MemAvailable from /proc/meminfo, in bytes.
func memAvailable() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "MemAvailable:" {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err != nil {
				break
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no MemAvailable in /proc/meminfo")
}
