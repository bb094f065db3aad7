//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/murphy-chaos/murphy/coordinator"
	"github.com/murphy-chaos/murphy/internal/logging"
	"github.com/murphy-chaos/murphy/internal/testenv"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/network"
)

// podsSpec is a run of web's pods: two experimental, two control, their HTTP latency
// probed at each pod's own address, and a delay on the experimental pods' eth0.
const podsSpec = `apiVersion: murphy/v1
name: pods-e2e
targets:
  kubernetes: {namespaces: [%[1]s], selector: "app=web", workload: deployment/web}
  experiment: {count: 2}
  control: {count: 2}
  seed: 7
hypothesis:
  metrics:
    - name: latency
      source: {probe: {http: {url: "http://{{target}}:%[2]d/", interval: 100ms, timeout: 2s}, measure: latency}}
      direction: increase
      tolerance: {relative: 0.5}
  # Two pods per group cannot settle a 50%% tolerance against the baseline's spread
  # (the futility check asks for 6); the fault's effect here is a hundredfold.
  allowUnderpowered: true
baseline: 3s
steps:
  - fault: network.delay
    params: {delay: %[3]s, interface: eth0}
    duration: 8s
`

const podDelay = 150 * time.Millisecond

// TestRunOfPods: a run of pods end to end on real parts. The control plane's Deployment
// controller makes web's 4 pods and other's 1; the kubelet stand-in binds them to a node
// and runs each as a real sandbox in a containerd with CRI, reporting the sandbox's IP.
// A coordinator and the node's worker (as the DaemonSet's ServiceAccount, with that
// containerd as its CRI runtime) run a spec selecting web's pods: the worker offers the
// node's pods, the leader picks 2 experimental and 2 control pods, the worker probes each
// at its IP and delays the experimental pods' egress inside their network namespaces.
// The verdict is refuted on the experimental pods' samples alone; while the fault is in
// force the control pods and other's pod answer at once; afterwards no pod's namespace
// holds a table or qdisc of the fault.
func TestRunOfPods(t *testing.T) {
	e := startContainerd(t)
	if p := network.New(network.Config{}).Probe(); p.Err != nil {
		testenv.Skip(t, testenv.Kernel, "network faults: "+p.Err.Error())
	}
	admin := adminClient(t)
	node := testNode(t, admin, nil)
	ns := namespace(t, admin, optIn)
	startKubeletOn(t, admin, ns, e, node)
	created := time.Now()
	createDeployment(t, admin, ns, servingDeployment("web", 4, e.image))
	createDeployment(t, admin, ns, servingDeployment("other", 1, e.image))
	waitWhole(t, admin, ns, "web", 2*time.Minute)
	waitWhole(t, admin, ns, "other", time.Minute)
	t.Logf("5 pods running as sandboxes, ready with their IPs, %v after their Deployments were created", time.Since(created).Round(time.Millisecond))

	// Each pod answers at its status.podIP, from its own sandbox.
	pods := map[string]corev1.Pod{} // unit ID -> pod
	list, err := admin.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		if p.Status.PodIP == "" {
			t.Fatalf("pod %s has no IP", p.Name)
		}
		if got, _, err := get(p.Status.PodIP); err != nil || got != p.Name {
			t.Fatalf("pod %s at %s answers %q, %v", p.Name, p.Status.PodIP, got, err)
		}
		pods["pod/"+ns+"/"+p.Name] = p
	}
	if len(pods) != 5 {
		t.Fatalf("%d pods, want web's 4 and other's 1", len(pods))
	}
	netnsOf := map[string]string{}
	before := map[string]string{}
	for id, p := range pods {
		netnsOf[id] = fmt.Sprintf("/proc/%d/ns/net", e.sandboxPID(t, p.UID))
		before[id] = netState(t, netnsOf[id])
		if strings.Contains(before[id], "table") {
			t.Fatalf("pod %s's namespace holds %s before any fault", id, before[id])
		}
	}

	mc := startCoordinator(t)
	srv := mc.srv
	startNodeWorker(t, mc, node, e.sock)
	waitFor(t, time.Minute, "the node's worker offers the 5 pods", func() bool {
		for _, w := range srv.FSM().Workers() {
			if w.Id == node && w.State == murphyv1.WorkerState_WORKER_STATE_CONNECTED && len(w.Targets) == 5 {
				return true
			}
		}
		return false
	})

	conn, err := grpc.NewClient(srv.GRPCAddr(), clientTLS(t, mc.pki, tlsutil.RoleAdmin, "e2e-admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := murphyv1.NewExperimentServiceClient(conn).Submit(t.Context(),
		&murphyv1.SubmitRequest{Spec: fmt.Appendf(nil, podsSpec, ns, servedPort, podDelay), Filename: "pods.yaml"})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	id := resp.Run.Id
	submitted := time.Now()
	var run *murphyv1.Run
	waitFor(t, time.Minute, "both experimental pods injected", func() bool {
		run = srv.FSM().Run(id)
		if run != nil && run.Phase >= murphyv1.RunPhase_RUN_PHASE_COMPLETED {
			t.Fatalf("run ended %v before its fault was in force: %s; verdict %v", run.Phase, run.Error, run.Verdict)
		}
		return run != nil && len(run.Steps) == 1 && len(run.Steps[0].Injected) == 2
	})
	g := run.Groups
	units := append(slices.Clone(g.Experiment), g.Control...)
	for _, u := range units {
		p, ok := pods[u]
		if !ok || p.Labels["app"] != "web" {
			t.Fatalf("unit %s is not one of web's pods", u)
		}
		if g.Workers[u] != node || g.Addresses[u] != p.Status.PodIP {
			t.Errorf("unit %s recorded on worker %q at %q; want %s at its IP %s", u, g.Workers[u], g.Addresses[u], node, p.Status.PodIP)
		}
	}
	if len(g.Experiment) != 2 || len(g.Control) != 2 {
		t.Fatalf("groups %v", g)
	}
	if got, want := slices.Sorted(slices.Values(run.Steps[0].Injected)), slices.Sorted(slices.Values(g.Experiment)); !slices.Equal(got, want) {
		t.Errorf("injected %v, want the experimental pods %v", got, want)
	}

	// While the fault is in force: the experimental pods answer late, the others at once,
	// and only the experimental pods' namespaces hold the fault.
	for u, p := range pods {
		took, err := fastest(p.Status.PodIP)
		state := netState(t, netnsOf[u])
		experimental := slices.Contains(g.Experiment, u)
		t.Logf("during the fault: %s (experimental %v) answered in %v (%v); its namespace: %s", u, experimental, took.Round(time.Millisecond), err, state)
		switch {
		case err != nil:
			t.Errorf("%s does not answer during the fault: %v", u, err)
		case experimental && took < podDelay:
			t.Errorf("experimental pod %s answered in %v under a %v delay", u, took, podDelay)
		case !experimental && took >= podDelay:
			t.Errorf("pod %s, not experimental, answered in %v: the fault reached it", u, took)
		}
		if experimental == (state == before[u]) {
			t.Errorf("pod %s (experimental %v): namespace %q during the fault, %q before", u, experimental, state, before[u])
		}
	}

	waitFor(t, time.Minute, "the run's end", func() bool {
		run = srv.FSM().Run(id)
		return run.Phase >= murphyv1.RunPhase_RUN_PHASE_COMPLETED
	})
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_COMPLETED {
		t.Fatalf("run ended %v: %s", run.Phase, run.Error)
	}
	t.Logf("run %s completed %v after its submission (baseline 3s, fault 8s)", id, time.Since(submitted).Round(time.Millisecond))
	if f := run.Steps[0].Failed; len(f) != 0 {
		t.Errorf("failed units %v", f)
	}
	v := run.Verdict
	if v.GetOutcome() != murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED {
		t.Errorf("verdict %v, want refuted: the experimental pods answered %v later", v.GetOutcome(), podDelay)
	}
	if len(v.GetMetrics()) != 1 {
		t.Fatalf("verdict %v", v)
	}
	m := v.Metrics[0]
	t.Logf("verdict %v: control median %.4fs, experiment median %.4fs, p %.3g", v.Outcome, m.ControlMedian, m.ExperimentMedian, m.P)
	var judged []string
	for _, ts := range m.Targets {
		judged = append(judged, ts.Id)
		added := time.Duration((ts.Window - ts.Baseline) * float64(time.Second))
		t.Logf("%s (%v): baseline %.4fs from %d samples, window %.4fs from %d", ts.Id, ts.Group, ts.Baseline, ts.NBaseline, ts.Window, ts.NWindow)
		if ts.NBaseline < 5 || ts.NWindow < 5 {
			t.Errorf("%s judged on %d baseline and %d window samples", ts.Id, ts.NBaseline, ts.NWindow)
		}
		if slices.Contains(g.Experiment, ts.Id) != (added > podDelay/2) {
			t.Errorf("%s (experimental %v): %v added in the window", ts.Id, slices.Contains(g.Experiment, ts.Id), added)
		}
	}
	slices.Sort(judged)
	slices.Sort(units)
	if !slices.Equal(judged, units) {
		t.Errorf("verdict's targets %v, want the run's pods %v", judged, units)
	}

	// Nothing left: every namespace as before the run, every pod answering at once.
	for u, p := range pods {
		if s := netState(t, netnsOf[u]); s != before[u] {
			t.Errorf("pod %s's namespace after the run: %s; before: %s", u, s, before[u])
		}
		if took, err := fastest(p.Status.PodIP); err != nil || took >= podDelay {
			t.Errorf("pod %s after the run: answered in %v, %v", u, took, err)
		}
	}
}

// servingDeployment is a Deployment whose pods run the test image's server.
func servingDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	d := deployment(name, replicas)
	d.Spec.Template.Spec.Containers[0].Image = image
	d.Spec.Template.Spec.Containers[0].Args = []string{"serve"}
	return d
}

// get asks a pod's server for its name, timing the request.
func get(ip string) (string, time.Duration, error) {
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := c.Get(fmt.Sprintf("http://%s:%d/", ip, servedPort))
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), time.Since(start), err
}

// fastest is the quickest of 3 requests to a pod: the delay slows each one, where a
// loaded machine may slow one alone.
func fastest(ip string) (time.Duration, error) {
	best := time.Hour
	for range 3 {
		_, took, err := get(ip)
		if err != nil {
			return 0, err
		}
		best = min(best, took)
	}
	return best, nil
}

// netState is what a fault could leave in a network namespace: its nftables tables and
// its interfaces' qdiscs, read here independently of the code under test.
func netState(t *testing.T, path string) string {
	t.Helper()
	h, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nft, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := nft.ListTables()
	if err != nil {
		t.Fatalf("tables of %s: %v", path, err)
	}
	var out []string
	for _, tb := range tables {
		out = append(out, "table "+tb.Name)
	}
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	qs, err := nl.QdiscList(nil)
	if err != nil {
		t.Fatalf("qdiscs of %s: %v", path, err)
	}
	for _, q := range qs {
		out = append(out, fmt.Sprintf("qdisc %s on %d", q.Type(), q.Attrs().LinkIndex))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// murphy is a one-node Murphy cluster and the CA its certificates come from.
type murphy struct {
	srv *coordinator.Server
	pki string
}

// startCoordinator starts a one-node Murphy cluster with mutual TLS, as production runs.
func startCoordinator(t *testing.T) murphy {
	t.Helper()
	pki := t.TempDir()
	if err := tlsutil.InitCA(pki, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	srv, err := coordinator.New(coordinator.Config{
		TLS: certFiles(t, pki, tlsutil.RoleCoordinator, "n1"), NodeID: "n1", DataDir: t.TempDir(), Bootstrap: true,
		RaftAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Logger: logging.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		srv.Stop()
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	waitFor(t, 20*time.Second, "the coordinator leads", srv.IsLeader)
	return murphy{srv: srv, pki: pki}
}

func certFiles(t *testing.T, pki, role, name string) *tlsutil.Files {
	t.Helper()
	crt, key, err := tlsutil.Issue(pki, filepath.Join(pki, role), role, name, nil, time.Hour, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return &tlsutil.Files{CA: filepath.Join(pki, "ca.crt"), Cert: crt, Key: key}
}

func clientTLS(t *testing.T, pki, role, name string) grpc.DialOption {
	t.Helper()
	cfg, err := tlsutil.ClientConfig(*certFiles(t, pki, role, name))
	if err != nil {
		t.Fatal(err)
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
}

// startNodeWorker runs node's worker as murphy worker --node-name does in the
// DaemonSet: its Kubernetes credentials are a token of the manifests' murphy-worker
// ServiceAccount, and its CRI runtime is criSock.
func startNodeWorker(t *testing.T, m murphy, node, criSock string) {
	t.Helper()
	pol := fault.DefaultPolicy()
	pol.Kubernetes.DeniedNamespaces = append(pol.Kubernetes.DeniedNamespaces, workerNamespace)
	a, err := worker.New(worker.Config{
		ID: node, Labels: map[string]string{"region": "eu-west", "datacenter": "eu-west-1a", "host": node},
		Coordinators: []string{m.srv.GRPCAddr()}, DialOptions: []grpc.DialOption{clientTLS(t, m.pki, tlsutil.RoleWorker, node)},
		DataDir: t.TempDir(), Kubeconfig: serviceAccountKubeconfig(t, "murphy-worker"), NodeName: node,
		CRISocket:  "unix://" + criSock,
		DockerHost: "unix:///nonexistent/murphy-e2e/docker.sock",
		Policy:     pol,
		Logger:     logging.Discard(),
	})
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	if !slices.Contains(a.Capabilities(), "network.delay") {
		a.Close()
		t.Fatalf("the node's worker does not offer network.delay: %v", a.Capabilities())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("worker: %v", err)
		}
	})
}

// serviceAccountKubeconfig writes a kubeconfig holding a token of the manifests'
// ServiceAccount account (TokenRequest, as a pod's projected token), so what the worker
// may do is what deploy/kubernetes grants it.
func serviceAccountKubeconfig(t *testing.T, account string) string {
	t.Helper()
	applyManifests(t)
	admin := adminClient(t)
	tok, err := admin.CoreV1().ServiceAccounts(workerNamespace).CreateToken(t.Context(), account, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s: %v", account, err)
	}
	ca := kube.Admin.TLSClientConfig.CAData
	if len(ca) == 0 {
		if ca, err = os.ReadFile(kube.Admin.TLSClientConfig.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: kube.Admin.Host, CertificateAuthorityData: ca}
	cfg.AuthInfos[account] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: account}
	cfg.CurrentContext = "e2e"
	path := filepath.Join(t.TempDir(), account+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	eventually(t, timeout, what, func(context.Context) (bool, error) { return cond(), nil })
}
