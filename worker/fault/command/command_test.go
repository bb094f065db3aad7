//go:build linux

package command

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

func flt(id string, params map[string]string) fault.Fault {
	return fault.Fault{AssignmentID: id, Kind: "exec", Params: catalogue.MustDecode("exec", params), Deadline: time.Now().Add(time.Minute)}
}

func newExec(t *testing.T, dir string) *Exec {
	t.Helper()
	e, err := New(Config{RecordDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestInjectRevert(t *testing.T) {
	work, recs := t.TempDir(), t.TempDir()
	flag := filepath.Join(work, "flag")
	e := newExec(t, recs)
	ctx := context.Background()
	f := flt("e1", map[string]string{
		"inject": `["touch", "` + flag + `"]`,
		"revert": "rm -f " + flag,
	})
	if err := e.Inject(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(flag); err != nil {
		t.Fatalf("inject did not run: %v", err)
	}
	// After a crash, a new executor on the same records runs the revert command.
	if err := newExec(t, recs).Revert(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(flag); !os.IsNotExist(err) {
		t.Fatalf("revert did not run: %v", err)
	}
	// Revert of an assignment whose inject never ran runs nothing.
	os.WriteFile(flag, nil, 0o600)
	if err := e.Revert(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(flag); err != nil {
		t.Fatal("revert ran for an assignment that is not active")
	}
}

func TestShellEnvDir(t *testing.T) {
	work := t.TempDir()
	e := newExec(t, t.TempDir())
	f := flt("e2", map[string]string{
		"inject": `echo "$GREETING $HOME" > out; env | wc -l > n`,
		"revert": "rm -f out n",
		"shell":  "true",
		"env":    "GREETING=hello",
		"dir":    work,
	})
	if err := e.Inject(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(work, "out"))
	if got := strings.TrimSpace(string(b)); got != "hello" {
		t.Fatalf("output %q: env not passed, or the worker's HOME leaked", got)
	}
	if err := e.Revert(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

func TestFailuresAndTimeouts(t *testing.T) {
	e := newExec(t, t.TempDir())
	ctx := context.Background()
	start := time.Now()
	err := e.Inject(ctx, flt("slow", map[string]string{"inject": "sleep 30 & sleep 30", "shell": "true", "revert": "true", "timeout": "200ms"}))
	if err == nil || !strings.Contains(err.Error(), "killed after 200ms") {
		t.Fatalf("timeout: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("timed-out command held the worker for %s", d)
	}
	// The inject started, so its revert command runs.
	if err := e.Revert(ctx, flt("slow", map[string]string{"inject": "true", "revert": "true"})); err != nil {
		t.Fatal(err)
	}
	err = e.Inject(ctx, flt("fails", map[string]string{"inject": `["sh","-c","echo boom >&2; exit 3"]`, "revert": "true"}))
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("failing command: %v", err)
	}
	tests := []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"inject": "true"}, "params.revert is required"},
		{map[string]string{"inject": "echo 'a b'", "revert": "true"}, "has quotes"},
		{map[string]string{"inject": "[1,2]", "revert": "true"}, "not a JSON array of strings"},
		{map[string]string{"inject": "no-such-program-xyz", "revert": "true"}, "not in the system PATH"},
		{map[string]string{"inject": "true", "revert": "true", "env": "1X=2"}, "not an environment variable name"},
		{map[string]string{"inject": "true", "revert": "true", "timeout": "1m"}, "out of range"},
		{map[string]string{"inject": "true", "revert": "true", "shell": "maybe"}, "not true or false"},
	}
	for _, tt := range tests {
		// The catalogue's decode, then the host's checks, as the worker runs them.
		p, err := catalogue.Decode("exec", tt.params)
		if err == nil {
			err = e.Validate(p)
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.params, err, tt.want)
		}
	}
}
