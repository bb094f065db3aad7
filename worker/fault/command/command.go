//go:build linux

package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"github.com/murphy-chaos/murphy/worker/fault/record"
)

// systemPath is the PATH commands get unless env sets one.
const systemPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// outputLimit is how much of a command's output an error quotes.
const outputLimit = 2048

// Config configures the exec kind.
type Config struct {
	// RecordDir keeps, across worker restarts, which inject commands ran.
	RecordDir string
	Logger    *slog.Logger
}

// Exec is the exec fault kind.
type Exec struct {
	log  *slog.Logger
	recs *record.Dir
	mu   sync.Mutex // one inject or revert at a time
}

var _ fault.Executor = (*Exec)(nil)

// New returns the exec executor.
func New(cfg Config) (*Exec, error) {
	recs, err := record.Open(cfg.RecordDir)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Exec{log: log, recs: recs}, nil
}

// Kind implements fault.Executor.
func (*Exec) Kind() string { return "exec" }

// Validate implements fault.Executor: beyond the catalogue, the programs must exist.
func (e *Exec) Validate(p catalogue.Params) error {
	x, ok := p.(catalogue.Exec)
	if !ok {
		return fmt.Errorf("exec: params of type %T", p)
	}
	for _, c := range []struct {
		which string
		argv  []string
	}{{"inject", x.Inject.Argv}, {"revert", x.Revert.Argv}} {
		if _, err := exec.LookPath(c.argv[0]); err != nil && !strings.Contains(c.argv[0], "/") {
			return fmt.Errorf("exec: params.%s: %q is not in the system PATH", c.which, c.argv[0])
		} else if err != nil {
			return fmt.Errorf("exec: params.%s: %w", c.which, err)
		}
	}
	return nil
}

// marker is exec's record: that the inject command of an assignment started.
type marker struct {
	Started time.Time `json:"started"`
}

// Inject implements fault.Executor. A failed inject command is an error; the worker
// then calls Revert, which runs the revert command, since the inject may have done part
// of its work.
func (e *Exec) Inject(ctx context.Context, f fault.Fault) error {
	if err := e.Validate(f.Params); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if ok, err := e.recs.Get(f.AssignmentID, &marker{}); err != nil || ok {
		return err // a resend
	}
	if err := e.recs.Put(f.AssignmentID, marker{Started: time.Now()}); err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	p := f.Params.(catalogue.Exec)
	out, err := run(ctx, p, "inject", p.Inject, p.Timeout)
	if err != nil {
		return err
	}
	e.log.Info("inject command ran", "assignment_id", f.AssignmentID, "output", out)
	return nil
}

// Revert implements fault.Executor: run the revert command if the inject command of
// this assignment started, in this process or a previous one.
func (e *Exec) Revert(ctx context.Context, f fault.Fault) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ok, err := e.recs.Get(f.AssignmentID, &marker{}); err != nil || !ok {
		return err
	}
	p, ok := f.Params.(catalogue.Exec)
	if !ok {
		return fmt.Errorf("exec: params of type %T", f.Params)
	}
	out, err := run(ctx, p, "revert", p.Revert, p.RevertTimeout)
	if err != nil {
		return err
	}
	e.log.Info("revert command ran", "assignment_id", f.AssignmentID, "output", out)
	return e.recs.Delete(f.AssignmentID)
}

// run runs c (p's inject or revert command, named which) in its own process group,
// killed whole at the timeout.
func run(ctx context.Context, p catalogue.Exec, which string, c catalogue.Command, timeout time.Duration) (string, error) {
	a := c.Argv
	env := append([]string{systemPath}, p.Env...) // a later PATH wins
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, a[0], a[1:]...)
	cmd.Env = env
	cmd.Dir = "/"
	if p.Dir != "" {
		cmd.Dir = p.Dir
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if len(text) > outputLimit {
		text = text[:outputLimit] + "..."
	}
	switch {
	case err == nil:
		return text, nil
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return text, fmt.Errorf("exec: %s command %q killed after %s: %q", which, c.Text, timeout, text)
	default:
		return text, fmt.Errorf("exec: %s command %q: %v: %q", which, c.Text, err, text)
	}
}
