package container

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/build"
	dcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/murphy-chaos/murphy/internal/testenv"
	"github.com/murphy-chaos/murphy/worker/fault/stress"
	"go.uber.org/goleak"
)

// The tests run real containers of a FROM scratch image they build from a static Go
// program. Everything they create carries the label testLabel=testRun, and is removed by
// each test's cleanup and, as a last sweep, by TestMain.
const testLabel = "murphy.test"

var testRun = fmt.Sprintf("container-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)

// testApp is the containers' init process: it exits on SIGTERM or SIGINT (a PID 1 without
// handlers would ignore them), ignores SIGUSR1, and otherwise waits.
const testApp = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	for s := range c {
		if s != syscall.SIGUSR1 {
			os.Exit(0)
		}
	}
}
`

var (
	envOnce  sync.Once
	envCli   *client.Client
	envImage string
	envErr   error
	envSkip  string
)

func TestMain(m *testing.M) {
	stress.RunChild() // TestStressInTheContainer's burner is this binary
	code := m.Run()
	stopCRI()
	if envCli != nil {
		sweep(envCli)
		Release(envCli)
		envCli.Close()
	}
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction(testenv.Spawner)); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// sweep removes every container and the image this test binary created.
func sweep(cli *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: client.Filters{}.Add("label", testLabel+"="+testRun)})
	if err == nil {
		for _, c := range list.Items {
			_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true})
		}
	}
	if envImage != "" {
		_, _ = cli.ImageRemove(ctx, envImage, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	}
}

// docker returns the engine client and the test image, building the image once. It skips
// the test, visibly, only when no Docker engine is there.
func docker(t *testing.T) (*client.Client, string) {
	t.Helper()
	envOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cli, err := Dial(ctx, os.Getenv("MURPHY_DOCKER_HOST"))
		if errors.Is(err, ErrNoEngine) {
			envSkip = "container tests skipped: " + err.Error()
			return
		}
		if err != nil {
			envErr = err
			return
		}
		envCli = cli
		envImage, envErr = buildImage(ctx, t.TempDir(), cli)
	})
	if envSkip != "" {
		testenv.Skip(t, testenv.Docker, envSkip)
	}
	if envErr != nil {
		t.Fatal(envErr)
	}
	return envCli, envImage
}

func buildImage(ctx context.Context, dir string, cli *client.Client) (string, error) {
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(testApp), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module murphytestapp\n\ngo 1.22\n"), 0o644); err != nil {
		return "", err
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the container tests compile their image's program: %w", err)
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", "app", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the test program: %v\n%s", err, out)
	}
	app, err := os.ReadFile(filepath.Join(dir, "app"))
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n")},
		{"app", 0o755, app},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body))}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.body); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	tag := "murphy-test/" + testRun + ":latest"
	res, err := cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags: []string{tag}, Labels: map[string]string{testLabel: testRun},
		Remove: true, ForceRemove: true, Version: build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("build the test image: %w", err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Error       string
			ErrorDetail struct{ Message string }
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("build the test image: %w", err)
		}
		if msg.Error != "" {
			return tag, fmt.Errorf("build the test image: %s", msg.Error)
		}
	}
	return tag, nil
}

// testCase is one test's containers: it labels them with the test's name so selectors
// never reach another test's containers, and removes them when the test ends.
type testCase struct {
	t     *testing.T
	cli   *client.Client
	image string
	key   string // label value unique to this test
	names []string
}

func newCase(t *testing.T) *testCase {
	cli, image := docker(t)
	key := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	tc := &testCase{t: t, cli: cli, image: image, key: key}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true,
			Filters: client.Filters{}.Add("label", testLabel+"="+testRun, "murphy.case="+key)})
		if err != nil {
			t.Errorf("cleanup: list containers: %v", err)
			return
		}
		for _, c := range list.Items {
			if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
				t.Errorf("cleanup: remove %s: %v", c.Names, err)
			}
		}
		Release(cli)
	})
	return tc
}

// labels is the selector that matches this test's containers of a role.
func (tc *testCase) labels(role string) string {
	return "murphy.case=" + tc.key + ",role=" + role
}

// run starts a container of the test image with a role label and returns its name.
func (tc *testCase) run(role string) string {
	tc.t.Helper()
	return tc.runLimited(role, 0)
}

// swapFor keeps a limited container from swapping: its limit is then a limit.
func swapFor(memory int64) int64 {
	if memory == 0 {
		return 0
	}
	return memory
}

// runLimited is run with a memory limit in bytes (0 for none).
func (tc *testCase) runLimited(role string, memory int64) string {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("murphy-%s-%s-%d", testRun, tc.key, len(tc.names))
	_, err := tc.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &dcontainer.Config{Image: tc.image, Labels: map[string]string{
			testLabel: testRun, "murphy.case": tc.key, "role": role}},
		HostConfig: &dcontainer.HostConfig{NetworkMode: "none", Resources: dcontainer.Resources{Memory: memory, MemorySwap: swapFor(memory)}},
	})
	if err != nil {
		tc.t.Fatalf("create container: %v", err)
	}
	if _, err := tc.cli.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
		tc.t.Fatalf("start container: %v", err)
	}
	tc.names = append(tc.names, name)
	return name
}

func (tc *testCase) state(name string) dcontainer.State {
	tc.t.Helper()
	r, err := tc.cli.ContainerInspect(context.Background(), name, client.ContainerInspectOptions{})
	if err != nil {
		tc.t.Fatalf("inspect %s: %v", name, err)
	}
	return *r.Container.State
}

// states is every container's status, paused flag and start time, to show that a failed
// inject changed nothing.
func (tc *testCase) states() map[string]string {
	out := map[string]string{}
	for _, n := range tc.names {
		s := tc.state(n)
		out[n] = fmt.Sprintf("%s paused=%t started=%s", s.Status, s.Paused, s.StartedAt)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func (tc *testCase) waitFor(what string, cond func() bool) {
	tc.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tc.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
