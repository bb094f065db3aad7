//go:build linux

package process

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"github.com/murphy-chaos/murphy/worker/fault/record"
)

// sleeper is a real process started by the test.
type sleeper struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startSleeper runs bin (a copy of sleep, so it has its own name) with args.
func startSleeper(t *testing.T, bin string, args ...string) *sleeper {
	t.Helper()
	s := &sleeper{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGCONT)
		s.cmd.Process.Kill()
		<-s.done
	})
	return s
}

func (s *sleeper) pid() int { return s.cmd.Process.Pid }

// state is the process's state letter from /proc, or 'Z'/'-' once it has exited.
func (s *sleeper) state(t *testing.T) byte {
	t.Helper()
	select {
	case <-s.done:
		return '-'
	default:
	}
	p, err := readProc(s.pid())
	if err != nil {
		return '-'
	}
	return p.State
}

func (s *sleeper) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sleepCopy copies sleep to a name no other process on the host has.
func sleepCopy(t *testing.T) (path, name string) {
	t.Helper()
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	name = fmt.Sprintf("mz%d", time.Now().UnixNano()%1e9)
	path = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path, name
}

func newExecs(t *testing.T, pol fault.Policy) (*Kill, *Stop, string) {
	t.Helper()
	dir := t.TempDir()
	ex, err := Executors(Config{Policy: pol, RecordDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return ex[0].(*Kill), ex[1].(*Stop), dir
}

// flt is a fault of kind; nil params make one only a revert may receive, which works
// from the records alone.
func flt(id, kind string, params map[string]string) fault.Fault {
	f := fault.Fault{AssignmentID: id, Kind: kind, Deadline: time.Now().Add(time.Minute)}
	if params != nil {
		f.Params = catalogue.MustDecode(kind, params)
	}
	return f
}

func TestKillSignals(t *testing.T) {
	bin, name := sleepCopy(t)
	kill, _, _ := newExecs(t, fault.DefaultPolicy())
	ctx := context.Background()

	t.Run("pid and TERM", func(t *testing.T) {
		s := startSleeper(t, bin, "60")
		if err := kill.Inject(ctx, flt("k1", "process.kill", map[string]string{"pid": strconv.Itoa(s.pid()), "signal": "TERM"})); err != nil {
			t.Fatal(err)
		}
		eventually(t, "exit", s.exited)
		if ws := s.cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGTERM {
			t.Fatalf("exit status %v, want killed by SIGTERM", s.cmd.ProcessState)
		}
		// A resent assignment signals nobody again; revert is a no-op.
		if err := kill.Inject(ctx, flt("k1", "process.kill", map[string]string{"pid": strconv.Itoa(s.pid()), "signal": "TERM"})); err != nil {
			t.Fatalf("resend: %v", err)
		}
		if err := kill.Revert(ctx, flt("k1", "process.kill", nil)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("name and count", func(t *testing.T) {
		ss := []*sleeper{startSleeper(t, bin, "60"), startSleeper(t, bin, "60"), startSleeper(t, bin, "60")}
		eventually(t, "sleepers to exec", func() bool {
			for _, s := range ss {
				if p, err := readProc(s.pid()); err != nil || p.Comm != name {
					return false
				}
			}
			return true
		})
		if err := kill.Inject(ctx, flt("k2", "process.kill", map[string]string{"name": name, "count": "2"})); err != nil {
			t.Fatal(err)
		}
		eventually(t, "two exits", func() bool {
			n := 0
			for _, s := range ss {
				if s.exited() {
					n++
				}
			}
			return n == 2
		})
		time.Sleep(50 * time.Millisecond)
		n := 0
		for _, s := range ss {
			if s.exited() {
				n++
				if ws := s.cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
					t.Errorf("default signal: %v", s.cmd.ProcessState)
				}
			}
		}
		if n != 2 {
			t.Fatalf("%d processes killed, want 2", n)
		}
	})

	t.Run("cmdline regex", func(t *testing.T) {
		a := startSleeper(t, bin, "61.25")
		b := startSleeper(t, bin, "62.5")
		eventually(t, "exec", func() bool { p, _ := readProc(a.pid()); return len(p.Cmdline) == 2 })
		if err := kill.Inject(ctx, flt("k3", "process.kill", map[string]string{"cmdline": `^\S+/` + name + ` 61\.25$`, "signal": "SIGINT"})); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a exits", a.exited)
		if b.exited() {
			t.Fatal("a process that does not match was killed")
		}
	})

	t.Run("pidfile", func(t *testing.T) {
		s := startSleeper(t, bin, "60")
		pf := filepath.Join(t.TempDir(), "svc.pid")
		os.WriteFile(pf, []byte(strconv.Itoa(s.pid())+"\n"), 0o644)
		if err := kill.Inject(ctx, flt("k4", "process.kill", map[string]string{"pidfile": pf, "signal": "9"})); err != nil {
			t.Fatal(err)
		}
		eventually(t, "exit", s.exited)
	})
}

func TestStopAndResume(t *testing.T) {
	bin, name := sleepCopy(t)
	_, stop, dir := newExecs(t, fault.DefaultPolicy())
	ctx := context.Background()
	a, b := startSleeper(t, bin, "60"), startSleeper(t, bin, "60")
	eventually(t, "exec", func() bool { p, _ := readProc(b.pid()); return p.Comm == name })

	f := flt("s1", "process.stop", map[string]string{"name": name})
	if err := stop.Inject(ctx, f); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*sleeper{a, b} {
		eventually(t, "stopped", func() bool { return s.state(t) == 'T' })
	}
	if err := stop.Inject(ctx, f); err != nil { // resent: nothing changes
		t.Fatal(err)
	}
	// A new executor on the same records, as after a worker crash, resumes them.
	_, stop2, _ := newExecs(t, fault.DefaultPolicy())
	stop2.recs, _ = record.Open(dir)
	if err := stop2.Revert(ctx, f); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*sleeper{a, b} {
		eventually(t, "resumed", func() bool { st := s.state(t); return st == 'S' || st == 'R' })
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("records left: %v", ents)
	}
	if err := stop2.Revert(ctx, f); err != nil {
		t.Fatalf("second revert: %v", err)
	}
}

// TestStopNeverResumesARecycledPID: a record whose start time does not match the process
// now holding the pid must leave that process alone.
func TestStopNeverResumesARecycledPID(t *testing.T) {
	bin, _ := sleepCopy(t)
	_, stop, _ := newExecs(t, fault.DefaultPolicy())
	s := startSleeper(t, bin, "60")
	p, err := readProc(s.pid())
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGSTOP) // stopped by someone else
	eventually(t, "stopped", func() bool { return s.state(t) == 'T' })
	// What a previous process.stop recorded for a process that had this pid before.
	if err := stop.recs.Put("old", stopRecord{Procs: []ident{{PID: p.PID, Start: p.Start - 1, What: "an earlier process"}}}); err != nil {
		t.Fatal(err)
	}
	if err := stop.Revert(context.Background(), flt("old", "process.stop", nil)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if st := s.state(t); st != 'T' {
		t.Fatalf("a process with a recycled pid was resumed (state %c)", st)
	}
	if ok, _ := stop.recs.Get("old", &stopRecord{}); ok {
		t.Fatal("record kept after revert")
	}
}

func TestBadParamsChangeNothing(t *testing.T) {
	bin, name := sleepCopy(t)
	s := startSleeper(t, bin, "60")
	eventually(t, "exec", func() bool { p, _ := readProc(s.pid()); return p.Comm == name })
	pf := filepath.Join(t.TempDir(), "init.pid")
	os.WriteFile(pf, []byte("1\n"), 0o644)
	pol := fault.DefaultPolicy()
	pol.ProtectedNames = append(pol.ProtectedNames, "precious")
	pol.ProtectedPIDs = []int{s.pid()}
	kill, stop, dir := newExecs(t, pol)
	self := strconv.Itoa(os.Getpid())

	tests := []struct {
		name   string
		kind   string
		params map[string]string
		want   string
	}{
		{"empty selector", "process.kill", map[string]string{"signal": "KILL"}, "empty selector"},
		{"empty selector stop", "process.stop", map[string]string{"count": "1"}, "empty selector"},
		{"pid 1", "process.kill", map[string]string{"pid": "1"}, "pid 1 (init) is always protected"},
		{"pid 1 stop", "process.stop", map[string]string{"pid": "1"}, "pid 1 (init) is always protected"},
		{"worker itself", "process.kill", map[string]string{"pid": self}, "is the worker itself"},
		{"worker itself stop", "process.stop", map[string]string{"pid": self}, "is the worker itself"},
		{"pidfile of init", "process.stop", map[string]string{"pidfile": pf}, "pid 1 (init) is always protected"},
		{"protected name", "process.kill", map[string]string{"name": "precious"}, `process name "precious" is protected`},
		{"protected by default", "process.stop", map[string]string{"name": "sshd"}, `process name "sshd" is protected`},
		{"protected pid", "process.kill", map[string]string{"pid": strconv.Itoa(s.pid())}, "protected by this worker's policy"},
		{"protected pid by name", "process.kill", map[string]string{"name": name}, "is protected (1): "},
		{"stop signal", "process.kill", map[string]string{"name": name, "signal": "STOP"}, "use process.stop"},
		{"unknown signal", "process.kill", map[string]string{"name": name, "signal": "BOOM"}, `"BOOM" is not a signal`},
		{"bad regex", "process.stop", map[string]string{"cmdline": "(("}, "is not a regular expression"},
		{"zero count", "process.stop", map[string]string{"name": name, "count": "0"}, `neither a positive count nor "all"`},
		{"relative pidfile", "process.stop", map[string]string{"pidfile": "x.pid"}, "not an absolute path"},
		{"no match", "process.stop", map[string]string{"name": "no-such-process-name"}, `no process is named "no-such-process-name"`},
		{"missing pidfile", "process.kill", map[string]string{"pidfile": "/nonexistent/x.pid"}, "read pid file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ex fault.Executor = kill
			if tt.kind == "process.stop" {
				ex = stop
			}
			p, err := fault.Check(ex, tt.params)
			if err == nil {
				f := fault.Fault{AssignmentID: "bad-" + tt.name, Kind: tt.kind, Params: p, Deadline: time.Now().Add(time.Minute)}
				err = ex.Inject(context.Background(), f)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			if st := s.state(t); st == 'T' || st == '-' {
				t.Fatalf("the test's process is in state %c after a refused fault", st)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Fatalf("records left: %v", ents)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	var p proc
	line := "4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 95 0 0 0 0 0 0 0 20 0 1 0 987654 5722112 218 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	if err := parseStat([]byte(line), &p); err != nil {
		t.Fatal(err)
	}
	if p.Comm != "a) b (c)" || p.State != 'S' || p.PPID != 17 || p.Start != 987654 {
		t.Fatalf("%+v", p)
	}
	if err := parseStat([]byte("garbage"), &p); err == nil {
		t.Fatal("garbage parsed")
	}
}
