package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker"
	"github.com/murphy-chaos/murphy/worker/journal"
)

// TestGuardianRestoresScale: a worker scaled checkout from 3 to 1 replicas and died. Its
// journal holds the fault and its data directory the record of the saved count; murphy
// guardian, given the worker's --kubeconfig, finds the worker dead and restores 3
// replicas through the API server. (The guardian uses the administrator's kubeconfig
// here; the worker's RBAC is what TestWorkerRBAC and the executor tests exercise.)
func TestGuardianRestoresScale(t *testing.T) {
	admin := adminClient(t)
	ns := servedDeployment(t, admin, "checkout", 3)
	waitWhole(t, admin, ns, "checkout", time.Minute)
	dir := t.TempDir()
	// The executors keep their records where a worker's family does.
	ex := newExecutors(t, filepath.Join(dir, "kubernetes"))
	params := map[string]string{"namespace": ns, "workload": "deployment/checkout", "replicas": "1"}
	f, err := ex.inject(t, "workload.scale", params)
	if err != nil {
		t.Fatalf("workload.scale: %v", err)
	}
	if uids := waitWhole(t, admin, ns, "checkout", time.Minute); len(uids) != 1 {
		t.Fatalf("%d pods after scaling to 1", len(uids))
	}
	j, err := journal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Put(&murphyv1.ActiveFault{AssignmentId: f.AssignmentID, RunId: f.RunID, Step: f.Step,
		Fault:      &murphyv1.FaultSpec{Kind: "workload.scale", Params: params},
		InjectedAt: timestamppb.Now(), Deadline: timestamppb.New(time.Now().Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	_ = j.Close()
	// The worker's proof of life names a process that has exited.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]int64{"pid": int64(gone.Process.Pid), "start": 1, "faults": 1})
	if err := os.WriteFile(filepath.Join(dir, worker.AliveFile), b, 0o600); err != nil {
		t.Fatal(err)
	}

	g, err := worker.NewGuardian(worker.GuardianConfig{Worker: worker.Config{DataDir: dir, Kubeconfig: kube.Kubeconfig,
		DockerHost: "unix:///nonexistent/murphy-e2e/docker.sock"}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := g.Check(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("guardian reverted %d faults: %v", n, err)
	}
	if uids := waitWhole(t, admin, ns, "checkout", time.Minute); len(uids) != 3 {
		t.Fatalf("%d pods after the guardian's revert; want the 3 saved at inject", len(uids))
	}
	t.Logf("guardian restored 3 replicas; whole again %v after its check began", time.Since(start).Round(time.Millisecond))
}
