package worker

import (
	"path/filepath"

	"k8s.io/client-go/kubernetes"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/kube"
	"github.com/murphy-chaos/murphy/worker/targets"
)

func init() {
	registerFamily("kubernetes", func(a *Agent) ([]fault.Executor, error) {
		if !a.cfg.KubernetesInCluster && a.cfg.Kubeconfig == "" {
			return nil, nil
		}
		rc, err := kube.Config(a.cfg.KubernetesInCluster, a.cfg.Kubeconfig)
		if err != nil {
			return nil, err
		}
		rc.UserAgent = "murphy-worker"
		cli, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		a.kube = cli
		if a.cfg.NodeName != "" {
			// A node's worker reads; the designated worker, with the rights to delete and
			// evict, acts. Its ServiceAccount (deploy/kubernetes) has no more than that.
			a.pods = targets.NewPods(cli, a.cfg.NodeName, a.cfg.Policy.Kubernetes, a.log.With("component", "targets"))
			return nil, nil
		}
		// Beside the journal, like the container family's state: a restarted worker or
		// the guardian restores exactly the nodes and Deployments a fault changed.
		fam := kube.New(cli, filepath.Join(a.cfg.DataDir, "kubernetes"), a.cfg.Policy.Kubernetes, a.log.With("family", "kubernetes"))
		return fam.Executors(), nil
	})
}
