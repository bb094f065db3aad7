package container

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

func newFamily(t *testing.T, tc *testCase) (*Family, string) {
	dir := filepath.Join(t.TempDir(), "container")
	return New(tc.cli, dir, nil), dir
}

func executorFor(t *testing.T, fam *Family, kind string) fault.Executor {
	t.Helper()
	return executorOf(t, fam.Executors(), kind)
}

// executorOf is the executor of kind among execs.
func executorOf(t *testing.T, execs []fault.Executor, kind string) fault.Executor {
	t.Helper()
	for _, e := range execs {
		if e.Kind() == kind {
			return e
		}
	}
	t.Fatalf("no executor for %s", kind)
	return nil
}

func stateFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestKinds injects each kind into real containers, checks the engine reports the fault,
// reverts, and checks the containers are back.
func TestKinds(t *testing.T) {
	ctx := context.Background()
	running := func(tc *testCase, n string) func() bool {
		return func() bool { s := tc.state(n); return s.Running && !s.Paused }
	}
	stopped := func(tc *testCase, n string) func() bool {
		return func() bool { return !tc.state(n).Running }
	}
	cases := []struct {
		name   string
		kind   string
		params map[string]string // "NAME" stands for the container's name
		check  func(tc *testCase, n string, before string)
		revert func(tc *testCase, n string, before string)
	}{
		{"kill KILL", KindKill, map[string]string{"name": "NAME"},
			func(tc *testCase, n, _ string) { tc.waitFor(n+" killed", stopped(tc, n)) },
			func(tc *testCase, n, before string) {
				tc.waitFor(n+" running again", running(tc, n))
				if tc.state(n).StartedAt == before {
					t.Errorf("%s was not started again", n)
				}
			}},
		{"kill TERM", KindKill, map[string]string{"name": "NAME", "signal": "SIGTERM"},
			func(tc *testCase, n, _ string) { tc.waitFor(n+" terminated", stopped(tc, n)) },
			func(tc *testCase, n, _ string) { tc.waitFor(n+" running again", running(tc, n)) }},
		{"kill survived signal", KindKill, map[string]string{"name": "NAME", "signal": "usr1"},
			func(tc *testCase, n, before string) {
				if s := tc.state(n); !s.Running || s.StartedAt != before {
					t.Errorf("SIGUSR1 is ignored by the test program, yet %s is %s", n, s.Status)
				}
			},
			func(tc *testCase, n, before string) {
				if s := tc.state(n); !s.Running || s.StartedAt != before {
					t.Errorf("revert touched a container the signal did not stop: %s started %s", s.Status, s.StartedAt)
				}
			}},
		{"stop", KindStop, map[string]string{"name": "NAME", "timeout": "5s"},
			func(tc *testCase, n, _ string) {
				if s := tc.state(n); s.Running || s.Status != "exited" {
					t.Errorf("after stop %s is %s", n, s.Status)
				}
			},
			func(tc *testCase, n, _ string) { tc.waitFor(n+" running again", running(tc, n)) }},
		{"pause", KindPause, map[string]string{"name": "NAME"},
			func(tc *testCase, n, _ string) {
				if s := tc.state(n); !s.Paused || s.Status != "paused" {
					t.Errorf("after pause %s is %s", n, s.Status)
				}
			},
			func(tc *testCase, n, before string) {
				if s := tc.state(n); s.Paused || !s.Running || s.StartedAt != before {
					t.Errorf("after unpause %s is %s (started %s, before %s)", n, s.Status, s.StartedAt, before)
				}
			}},
		{"restart", KindRestart, map[string]string{"name": "NAME", "timeout": "5s"},
			func(tc *testCase, n, before string) {
				if s := tc.state(n); !s.Running || s.StartedAt == before {
					t.Errorf("after restart %s is %s, started %s (before %s)", n, s.Status, s.StartedAt, before)
				}
			},
			func(tc *testCase, n, _ string) {
				if !tc.state(n).Running {
					t.Errorf("%s not running after the restart's revert", n)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tc := newCase(t)
			n := tc.run("target")
			other := tc.run("bystander")
			fam, dir := newFamily(t, tc)
			e := executorFor(t, fam, c.kind)
			params := map[string]string{}
			for k, v := range c.params {
				params[k] = strings.ReplaceAll(v, "NAME", n)
			}
			p, err := fault.Check(e, params)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			before := tc.state(n).StartedAt
			otherBefore := tc.states()[other]
			f := fault.Fault{AssignmentID: "a-" + c.name, Kind: c.kind, Params: p}
			if err := e.Inject(ctx, f); err != nil {
				t.Fatalf("Inject: %v", err)
			}
			if stateFiles(t, dir) != 1 {
				t.Errorf("want one state file while the fault is active")
			}
			c.check(tc, n, before)
			if err := e.Revert(ctx, f); err != nil {
				t.Fatalf("Revert: %v", err)
			}
			c.revert(tc, n, before)
			if got := tc.states()[other]; got != otherBefore {
				t.Errorf("bystander changed: %s -> %s", otherBefore, got)
			}
			if stateFiles(t, dir) != 0 {
				t.Errorf("state file left after revert")
			}
			t.Logf("%s", p)
		})
	}
}

// TestSelectByLabelsWithCount pauses one of three matching containers, and only those.
func TestSelectByLabelsWithCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tc := newCase(t)
	for range 3 {
		tc.run("web")
	}
	db := tc.run("db")
	fam, _ := newFamily(t, tc)
	e := executorFor(t, fam, KindPause)
	f := fault.Fault{AssignmentID: "a1", Kind: KindPause, Params: catalogue.MustDecode(KindPause, map[string]string{"labels": tc.labels("web"), "count": "2"})}
	if err := e.Inject(ctx, f); err != nil {
		t.Fatalf("Inject: %v", err)
	}
	paused := 0
	for _, n := range tc.names {
		if tc.state(n).Paused {
			paused++
			if n == db {
				t.Errorf("the db container does not match the selector but was paused")
			}
		}
	}
	if paused != 2 {
		t.Errorf("paused %d containers, want 2", paused)
	}
	// The selector matches only two unpaused web containers now; asking for three more
	// must fail and change nothing.
	before := tc.states()
	g := fault.Fault{AssignmentID: "a2", Kind: KindPause, Params: catalogue.MustDecode(KindPause, map[string]string{"labels": tc.labels("web"), "count": "3"})}
	if err := e.Inject(ctx, g); err == nil || !strings.Contains(err.Error(), "params.count is 3 but only 1 running") {
		t.Errorf("Inject with too high a count: got %v", err)
	}
	if after := tc.states(); !equal(before, after) {
		t.Errorf("a refused inject changed containers: %v -> %v", before, after)
	}
	if err := e.Revert(ctx, f); err != nil {
		t.Fatalf("Revert: %v", err)
	}
	for _, n := range tc.names {
		if s := tc.state(n); s.Paused || !s.Running {
			t.Errorf("%s is %s after revert", n, s.Status)
		}
	}
}

// TestRevertAfterCrash injects with one Family and reverts with a new one over the same
// state directory, as a worker restarted after kill -9 does; the selector now matches
// nothing, yet the recorded containers are started again.
func TestRevertAfterCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tc := newCase(t)
	a, b := tc.run("api"), tc.run("api")
	dir := filepath.Join(t.TempDir(), "container")
	f := fault.Fault{AssignmentID: "crash-1", Kind: KindStop, Params: catalogue.MustDecode(KindStop, map[string]string{"labels": tc.labels("api"), "timeout": "5s"})}
	if err := executorFor(t, New(tc.cli, dir, nil), KindStop).Inject(ctx, f); err != nil {
		t.Fatalf("Inject: %v", err)
	}
	for _, n := range []string{a, b} {
		if tc.state(n).Running {
			t.Fatalf("%s still running after stop", n)
		}
	}
	restarted := executorFor(t, New(tc.cli, dir, nil), KindStop)
	if err := restarted.Revert(ctx, fault.Fault{AssignmentID: "crash-1", Kind: KindStop}); err != nil {
		t.Fatalf("Revert after restart: %v", err)
	}
	for _, n := range []string{a, b} {
		if !tc.state(n).Running {
			t.Errorf("%s not started again by the restarted worker", n)
		}
	}
	if stateFiles(t, dir) != 0 {
		t.Errorf("state file left after revert")
	}
}

// TestRevertLeavesLaterChangesAlone: a container someone started and stopped again while
// the fault was active is not started by the revert; idempotency of Inject and Revert.
func TestRevertLeavesLaterChangesAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tc := newCase(t)
	n := tc.run("x")
	fam, _ := newFamily(t, tc)
	e := executorFor(t, fam, KindStop)
	f := fault.Fault{AssignmentID: "s1", Kind: KindStop, Params: catalogue.MustDecode(KindStop, map[string]string{"name": n, "timeout": "5s"})}
	if err := e.Inject(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := e.Inject(ctx, f); err != nil { // resent assignment: a no-op
		t.Fatalf("second Inject: %v", err)
	}
	if _, err := tc.cli.ContainerStart(ctx, n, startOpts); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.cli.ContainerStop(ctx, n, stopOpts); err != nil {
		t.Fatal(err)
	}
	if err := e.Revert(ctx, f); err != nil {
		t.Fatal(err)
	}
	if tc.state(n).Running {
		t.Errorf("revert started a container that was started and stopped by someone else after the fault")
	}
	if err := e.Revert(ctx, f); err != nil {
		t.Errorf("second Revert: %v", err)
	}
	if err := e.Revert(ctx, fault.Fault{AssignmentID: "never-injected", Kind: KindStop}); err != nil {
		t.Errorf("Revert of an unknown assignment: %v", err)
	}
}

// TestBadParams: each bad step gets a clear error and changes no container and writes
// no state.
func TestBadParams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tc := newCase(t)
	n := tc.run("ok")
	down := tc.run("down")
	if _, err := tc.cli.ContainerStop(ctx, down, stopOpts); err != nil {
		t.Fatal(err)
	}
	fam, dir := newFamily(t, tc)
	cases := []struct {
		name   string
		kind   string
		params map[string]string
		want   string
	}{
		{"empty name", KindStop, map[string]string{"name": ""}, "params.name: must not be empty"},
		{"no selector", KindStop, map[string]string{}, "no container selected: give params.name"},
		{"both selectors", KindPause, map[string]string{"name": n, "labels": "a=b"}, "not both"},
		{"unknown container", KindKill, map[string]string{"name": "murphy-no-such-container-" + testRun}, "no container with name or ID"},
		{"bad signal", KindKill, map[string]string{"name": n, "signal": "SIGFOO"}, `params.signal: "SIGFOO" is not a signal`},
		{"signal out of range", KindKill, map[string]string{"name": n, "signal": "99"}, "signal number 99"},
		{"zero count", KindPause, map[string]string{"name": n, "count": "0"}, "params.count"},
		{"empty label key", KindPause, map[string]string{"labels": "=web"}, "needs a label key"},
		{"labels match nothing", KindStop, map[string]string{"labels": tc.labels("nobody")}, "no container on this host has labels"},
		{"labels match only stopped", KindStop, map[string]string{"labels": tc.labels("down")}, "but none is running"},
		{"stopped by name", KindPause, map[string]string{"name": down}, "is exited, not running"},
		{"count above matches", KindRestart, map[string]string{"labels": tc.labels("ok"), "count": "2"}, "params.count is 2 but only 1"},
		{"negative timeout", KindStop, map[string]string{"name": n, "timeout": "-1s"}, "params.timeout"},
	}
	before := tc.states()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := executorFor(t, fam, c.kind)
			p, err := fault.Check(e, c.params)
			if err == nil {
				err = e.Inject(ctx, fault.Fault{AssignmentID: "bad-" + c.name, Kind: c.kind, Params: p})
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want it to contain %q", err, c.want)
			}
			t.Logf("%v", err)
		})
	}
	if after := tc.states(); !equal(before, after) {
		t.Errorf("bad params changed containers: %v -> %v", before, after)
	}
	if stateFiles(t, dir) != 0 {
		t.Errorf("bad params left fault state behind")
	}
}

func TestNetNS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tc := newCase(t)
	n := tc.run("net")
	tc.run("net")
	path, err := NetNS(ctx, tc.cli, Selector{Name: n})
	if err != nil {
		t.Fatalf("NetNS: %v", err)
	}
	if want := "/proc/" + itoa(tc.state(n).Pid) + "/ns/net"; path != want {
		t.Errorf("NetNS = %s, want %s", path, want)
	}
	theirs, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if theirs == ours {
		t.Errorf("the container's namespace %s is the worker's own", theirs)
	}
	if _, err := NetNS(ctx, tc.cli, Selector{Labels: tc.labels("net")}); err == nil || !strings.Contains(err.Error(), "needs exactly one") {
		t.Errorf("NetNS of two containers: got %v", err)
	}
	if _, err := NetNS(ctx, tc.cli, Selector{}); err == nil || !strings.Contains(err.Error(), "no container selected") {
		t.Errorf("NetNS of an empty selector: got %v", err)
	}
}
