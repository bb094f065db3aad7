package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/deploy/kubernetes-e2e/cluster"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// kube is the control plane every test shares: starting one costs tens of seconds, and
// the tests keep apart by working in namespaces of their own.
var kube *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	bin := os.Getenv("MURPHY_KUBE_BIN")
	if bin == "" {
		// The test runs in this directory; `make e2e-kubernetes` builds into the
		// repository's bin/kube.
		bin = filepath.Join("..", "..", "bin", "kube")
	}
	dir, err := os.MkdirTemp("", "murphy-kube-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	started := time.Now()
	kube, err = cluster.Start(context.Background(), cluster.Options{BinDir: bin, Dir: dir})
	if err != nil {
		fmt.Fprintf(os.Stderr, "start the Kubernetes control plane: %v\nlogs and certificates kept in %s\n", err, dir)
		return 1
	}
	fmt.Printf("control plane ready in %v (etcd, kube-apiserver, kube-controller-manager); kubeconfig %s\n",
		time.Since(started).Round(10*time.Millisecond), kube.Kubeconfig)
	code := m.Run()
	kube.Stop()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "logs kept in %s: %v\n", dir, kube.Logs)
		return code
	}
	_ = os.RemoveAll(dir)
	return code
}

func adminClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(kube.Admin)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return c
}

// eventually polls cond until it holds or the deadline passes; the controllers act
// asynchronously and their delay is what some tests measure, so nothing sleeps.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, timeout, true, cond)
	if err != nil {
		t.Fatalf("%s: not within %v: %v", what, timeout, err)
	}
}
