package container

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

var (
	startOpts = client.ContainerStartOptions{}
	stopOpts  = client.ContainerStopOptions{Timeout: new(5)}
)

func equal(a, b map[string]string) bool { return maps.Equal(a, b) }

func itoa(n int) string { return strconv.Itoa(n) }

// TestDial needs no engine: an absent socket means "no container kinds", a malformed host
// is a configuration error.
func TestDial(t *testing.T) {
	_, err := Dial(context.Background(), "unix:///nonexistent/murphy/docker.sock")
	if !errors.Is(err, ErrNoEngine) {
		t.Errorf("absent socket: got %v, want ErrNoEngine", err)
	}
	_, err = Dial(context.Background(), "bogus://host")
	if err == nil || errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "docker host") {
		t.Errorf("malformed host: got %v, want a configuration error", err)
	}
}

func TestSignalNames(t *testing.T) {
	for in, want := range map[string]string{"": "SIGKILL", "kill": "SIGKILL", "SIGTERM": "SIGTERM", "usr1": "SIGUSR1", "9": "9"} {
		params := map[string]string{"name": "x", "signal": in}
		if in == "" {
			delete(params, "signal") // the default
		}
		if got := catalogue.MustDecode(KindKill, params).(catalogue.Container).Signal; got != want {
			t.Errorf("signal(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStateFromEarlierWorkers: a fault injected by a worker that wrote the family's own
// state format is found, and forgotten, by a worker that writes executor records.
func TestStateFromEarlierWorkers(t *testing.T) {
	dir := t.TempDir()
	old := touched{AssignmentID: "a/1", Kind: KindStop, Targets: []target{{ID: "c1", Name: "web", StartedAt: "t0"}}}
	b, _ := json.Marshal(old)
	if err := os.WriteFile(filepath.Join(dir, hex.EncodeToString([]byte("a/1"))+".json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStore(dir)
	got, ok, err := s.get("a/1")
	if err != nil || !ok || got.Targets[0].ID != "c1" {
		t.Fatalf("get = %+v, %v, %v", got, ok, err)
	}
	if err := s.del("a/1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.get("a/1"); ok || err != nil {
		t.Fatalf("after del: %v, %v", ok, err)
	}
	if err := s.put(touched{AssignmentID: "b", Kind: KindPause}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.get("b"); !ok || err != nil || got.Kind != KindPause {
		t.Fatalf("get new = %+v, %v, %v", got, ok, err)
	}
}

// TestWithoutEngine: a family without a Docker engine (a node with containerd or CRI-O
// alone) offers container.kill and container.pause, refuses their Docker forms at
// validation, and reports a CRI runtime that does not answer at inject. A revert with the
// runtime unreachable fails, so the worker retries it rather than forgetting a frozen
// container.
func TestWithoutEngine(t *testing.T) {
	fam := New(nil, t.TempDir(), nil).WithCRI("unix:///nonexistent/murphy/containerd.sock")
	var kinds []string
	for _, e := range fam.Executors() {
		kinds = append(kinds, e.Kind())
	}
	if strings.Join(kinds, " ") != KindKill+" "+KindPause {
		t.Fatalf("kinds without an engine: %v", kinds)
	}
	pause := executorOf(t, fam.Executors(), KindPause)
	if err := pause.Validate(catalogue.MustDecode(KindPause, map[string]string{"name": "web"})); err == nil ||
		!strings.Contains(err.Error(), "no Docker engine") {
		t.Errorf("a Docker form without an engine: %v", err)
	}
	p := catalogue.MustDecode(KindPause, map[string]string{"pod": "shop/web-1", "container": "app"})
	if err := pause.Validate(p); err != nil {
		t.Errorf("a pod form: %v", err)
	}
	f := fault.Fault{AssignmentID: "no-cri", Kind: KindPause, Params: p}
	if err := pause.Inject(context.Background(), f); err == nil || !errors.Is(err, ErrNoCRI) || !strings.Contains(err.Error(), "--cri-socket") {
		t.Errorf("inject with no CRI runtime: %v", err)
	}
	if err := pause.Revert(context.Background(), f); err == nil || !errors.Is(err, ErrNoCRI) {
		t.Errorf("revert with no CRI runtime: %v, want an error to retry on", err)
	}
}
