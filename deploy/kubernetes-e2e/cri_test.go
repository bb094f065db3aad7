//go:build linux

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	criv1 "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/murphy-chaos/murphy/internal/testenv"
)

// A containerd of the test's own, with its CRI plugin, runs the pods the kubelet stand-in
// binds, as a kubelet on containerd would: a sandbox per pod with the pod's namespace,
// name and UID, a container per container of its spec, and a bridge CNI network whose
// addresses become the pods' status.podIP. It runs beside (never instead of) any other
// containerd: its own socket, root, state, bridge and subnet, in a temporary directory,
// as worker/fault/container's pod tests do. Nothing is pulled: the one image, FROM
// scratch, holds a static program built by the test, and is the sandboxes' pause image
// too (without arguments it only waits).

// servedPort is where the image's program answers, with its host name (the pod's name).
const servedPort = 8080

const imageProgram = `package main

import (
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		name, _ := os.Hostname()
		http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(name)) })
		go func() { http.ListenAndServe(":8080", nil); os.Exit(1) }()
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`

// criEnv is one test's containerd, and the pods it runs for the kubelet stand-in.
type criEnv struct {
	dir   string // short: a unix socket path has at most 107 bytes
	sock  string
	image string
	rt    criv1.RuntimeServiceClient

	mu   sync.Mutex
	pods map[types.UID]string // sandbox IDs
}

// startContainerd starts a containerd with CRI for t, stopped (every sandbox removed) when
// t ends. It skips, visibly, without root, containerd, runc or the CNI plugins, and fails
// instead when MURPHY_REQUIRE_CONTAINERD (or MURPHY_REQUIRE_ROOT) is set.
func startContainerd(t *testing.T) *criEnv {
	t.Helper()
	testenv.RequireRoot(t, "a containerd with CRI runs as root")
	if why := testenv.ContainerdMissing(); why != "" {
		testenv.Skip(t, testenv.Containerd, why)
	}
	dir, err := os.MkdirTemp("", "murphy-kcri-")
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last, after containerd stopped.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containerd's directory kept: %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	e := &criEnv{dir: dir, sock: filepath.Join(dir, "c.sock"), image: "murphy-e2e/app:1", pods: map[types.UID]string{}}
	archive := e.buildImage(t)
	// A subnet and bridge of this binary's own (worker/fault/container uses 10.231/16).
	n := os.Getpid()%200 + 20
	bridge := fmt.Sprintf("murphykube%d", n)
	config, err := testenv.WriteContainerdConfig(dir, e.sock, e.image, bridge, fmt.Sprintf("10.232.%d.0/24", n))
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "containerd.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", config)
	cmd.Stdout, cmd.Stderr = log, log
	if err := testenv.StartChild(cmd); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	conn, err := grpc.NewClient("unix://"+e.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	e.rt = criv1.NewRuntimeServiceClient(conn)
	t.Cleanup(func() {
		e.removeAll()
		conn.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
		_ = exec.Command("ip", "link", "delete", bridge).Run()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for {
		_, err := e.rt.Version(ctx, &criv1.VersionRequest{})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("containerd's CRI did not answer (log %s): %v", logPath, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := exec.CommandContext(ctx, "ctr", "-a", e.sock, "-n", "k8s.io", "images", "import", archive).CombinedOutput(); err != nil {
		t.Fatalf("import the test image into containerd: %v\n%s", err, out)
	}
	return e
}

// buildImage compiles the image's program and writes the image as `docker save` would,
// which `ctr images import` reads.
func (e *criEnv) buildImage(t *testing.T) string {
	t.Helper()
	src := filepath.Join(e.dir, "app")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"main.go": imageProgram, "go.mod": "module murphye2eapp\n\ngo 1.22\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the test compiles its image's program: %v", err)
	}
	cmd := exec.Command(gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", "app", ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the image's program: %v\n%s", err, out)
	}
	app, err := os.ReadFile(filepath.Join(src, "app"))
	if err != nil {
		t.Fatal(err)
	}
	layer := tarOf(t, tarFile{"app", 0o755, app})
	layerSum := sha256.Sum256(layer)
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux",
		"config": map[string]any{"Entrypoint": []string{"/app"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(layerSum[:])}},
	})
	if err != nil {
		t.Fatal(err)
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	layerName := hex.EncodeToString(layerSum[:]) + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{e.image}, "Layers": []string{layerName}}})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(e.dir, "image.tar")
	if err := os.WriteFile(archive, tarOf(t, tarFile{"manifest.json", 0o644, manifest}, tarFile{configName, 0o644, config},
		tarFile{layerName, 0o644, layer}), 0o644); err != nil {
		t.Fatal(err)
	}
	return archive
}

type tarFile struct {
	name string
	mode int64
	body []byte
}

func tarOf(t *testing.T, files ...tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// run starts p's sandbox and containers, as the kubelet does through CRI (metadata and
// labels as it sets them), once per pod UID, and returns the sandbox's IP.
func (e *criEnv) run(ctx context.Context, p *corev1.Pod) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.pods[p.UID]
	if !ok {
		uid := string(p.UID)
		cfg := &criv1.PodSandboxConfig{
			Metadata:     &criv1.PodSandboxMetadata{Name: p.Name, Namespace: p.Namespace, Uid: uid},
			Hostname:     p.Name,
			LogDirectory: filepath.Join(e.dir, "logs", uid),
			Labels:       map[string]string{"io.kubernetes.pod.uid": uid, "io.kubernetes.pod.name": p.Name, "io.kubernetes.pod.namespace": p.Namespace},
		}
		sb, err := e.rt.RunPodSandbox(ctx, &criv1.RunPodSandboxRequest{Config: cfg})
		if err != nil {
			return "", fmt.Errorf("run the sandbox: %w", err)
		}
		id = sb.PodSandboxId
		e.pods[p.UID] = id
		for _, c := range p.Spec.Containers {
			cc, err := e.rt.CreateContainer(ctx, &criv1.CreateContainerRequest{PodSandboxId: id, SandboxConfig: cfg,
				Config: &criv1.ContainerConfig{Metadata: &criv1.ContainerMetadata{Name: c.Name}, Image: &criv1.ImageSpec{Image: c.Image},
					Command: c.Command, Args: c.Args, LogPath: c.Name + ".log"}})
			if err != nil {
				return "", fmt.Errorf("create container %s: %w", c.Name, err)
			}
			if _, err := e.rt.StartContainer(ctx, &criv1.StartContainerRequest{ContainerId: cc.ContainerId}); err != nil {
				return "", fmt.Errorf("start container %s: %w", c.Name, err)
			}
		}
	}
	st, err := e.rt.PodSandboxStatus(ctx, &criv1.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		return "", err
	}
	if ip := st.GetStatus().GetNetwork().GetIp(); ip != "" {
		return ip, nil
	}
	return "", fmt.Errorf("sandbox %s has no IP", id)
}

func (e *criEnv) remove(ctx context.Context, p *corev1.Pod) {
	e.mu.Lock()
	id, ok := e.pods[p.UID]
	delete(e.pods, p.UID)
	e.mu.Unlock()
	if ok {
		_, _ = e.rt.StopPodSandbox(ctx, &criv1.StopPodSandboxRequest{PodSandboxId: id})
		_, _ = e.rt.RemovePodSandbox(ctx, &criv1.RemovePodSandboxRequest{PodSandboxId: id})
	}
}

// removeAll removes every sandbox: their shims outlive containerd otherwise.
func (e *criEnv) removeAll() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := e.rt.ListPodSandbox(ctx, &criv1.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, sb := range list.Items {
		_, _ = e.rt.StopPodSandbox(ctx, &criv1.StopPodSandboxRequest{PodSandboxId: sb.Id})
		_, _ = e.rt.RemovePodSandbox(ctx, &criv1.RemovePodSandboxRequest{PodSandboxId: sb.Id})
	}
}

// sandboxPID is the process of pod's sandbox, read from the runtime's verbose status:
// /proc/PID/ns/net is the pod's network namespace.
func (e *criEnv) sandboxPID(t *testing.T, uid types.UID) int {
	t.Helper()
	e.mu.Lock()
	id := e.pods[uid]
	e.mu.Unlock()
	st, err := e.rt.PodSandboxStatus(t.Context(), &criv1.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		t.Fatalf("sandbox of pod %s: %v", uid, err)
	}
	var v struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &v); err != nil || v.PID == 0 {
		t.Fatalf("sandbox of pod %s: no pid in the runtime's status (%v)", uid, err)
	}
	return v.PID
}
