package worker

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/murphy-chaos/murphy/internal/testenv"
)

// TestContainerFamilyCapabilities: without a Docker engine or a CRI runtime the container
// kinds are left out of the capabilities and the log says why; with an engine they are
// offered.
func TestContainerFamilyCapabilities(t *testing.T) {
	var logs bytes.Buffer
	a, err := New(Config{ID: "w", Coordinators: []string{"127.0.0.1:1"}, DataDir: t.TempDir(),
		DockerHost: "unix:///nonexistent/murphy/docker.sock", CRISocket: "unix:///nonexistent/murphy/containerd.sock",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if slices.ContainsFunc(a.Capabilities(), func(k string) bool { return strings.HasPrefix(k, "container.") }) {
		t.Errorf("container kinds offered without an engine: %v", a.Capabilities())
	}
	if !strings.Contains(logs.String(), "container faults not offered") || !strings.Contains(logs.String(), "/nonexistent/murphy/docker.sock") ||
		!strings.Contains(logs.String(), "/nonexistent/murphy/containerd.sock") {
		t.Errorf("the log does not say why the container kinds are missing:\n%s", logs.String())
	}

	if _, err := os.Stat("/var/run/docker.sock"); err != nil {
		testenv.Skip(t, testenv.Docker, fmt.Sprintf("no Docker engine at /var/run/docker.sock (%v): the offered case is not checked", err))
	}
	b, err := New(Config{ID: "w", Coordinators: []string{"127.0.0.1:1"}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	for _, k := range []string{"container.kill", "container.pause", "container.restart", "container.stop"} {
		if !slices.Contains(b.Capabilities(), k) {
			t.Errorf("%s not offered with a Docker engine: %v", k, b.Capabilities())
		}
	}

	if _, err := New(Config{ID: "w", Coordinators: []string{"127.0.0.1:1"}, DataDir: t.TempDir(), DockerHost: "ftp://x"}); err == nil ||
		!strings.Contains(err.Error(), "container faults") {
		t.Errorf("a malformed --docker-host must stop the worker: got %v", err)
	}
}
