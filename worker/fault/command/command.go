//go:build linux

package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/murphy-chaos/murphy/worker/fault"
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
func (e *Exec) Validate(params map[string]string) error {
	if err := fault.Validate(e.Kind(), params); err != nil {
		return err
	}
	for _, which := range []string{"inject", "revert"} {
		argv, err := argv(params, which)
		if err != nil {
			return err
		}
		if _, err := exec.LookPath(argv[0]); err != nil && !strings.Contains(argv[0], "/") {
			return fmt.Errorf("exec: params.%s: %q is not in the system PATH", which, argv[0])
		} else if err != nil {
			return fmt.Errorf("exec: params.%s: %w", which, err)
		}
	}
	return nil
}

// argv returns the command of params[which] ("inject" or "revert").
func argv(params map[string]string, which string) ([]string, error) {
	if shell, _ := strconv.ParseBool(params["shell"]); shell {
		return []string{"/bin/sh", "-c", params[which]}, nil
	}
	a, err := fault.ParseArgv(params[which])
	if err != nil {
		return nil, fmt.Errorf("exec: params.%s: %w", which, err)
	}
	return a, nil
}

// Describe implements fault.Executor.
func (e *Exec) Describe(params map[string]string) string {
	return fmt.Sprintf("exec: inject %q, revert %q", params["inject"], params["revert"])
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
	out, err := run(ctx, f.Params, "inject", fault.Duration(f.Params, "exec", "timeout"))
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
	out, err := run(ctx, f.Params, "revert", fault.Duration(f.Params, "exec", "revertTimeout"))
	if err != nil {
		return err
	}
	e.log.Info("revert command ran", "assignment_id", f.AssignmentID, "output", out)
	return e.recs.Delete(f.AssignmentID)
}

// run runs params[which] in its own process group, killed whole at the timeout.
func run(ctx context.Context, params map[string]string, which string, timeout time.Duration) (string, error) {
	a, err := argv(params, which)
	if err != nil {
		return "", err
	}
	env := []string{systemPath}
	if v := params["env"]; v != "" {
		more, err := fault.ParseEnv(v)
		if err != nil {
			return "", fmt.Errorf("exec: params.env: %w", err)
		}
		env = append(env, more...) // a later PATH wins
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, a[0], a[1:]...)
	cmd.Env = env
	cmd.Dir = "/"
	if d := params["dir"]; d != "" {
		cmd.Dir = d
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	text := strings.TrimSpace(out.String())
	if len(text) > outputLimit {
		text = text[:outputLimit] + "..."
	}
	switch {
	case err == nil:
		return text, nil
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return text, fmt.Errorf("exec: %s command %q killed after %s: %q", which, params[which], timeout, text)
	default:
		return text, fmt.Errorf("exec: %s command %q: %v: %q", which, params[which], err, text)
	}
}
