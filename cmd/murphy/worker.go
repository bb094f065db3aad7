package main

import (
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/murphy-chaos/murphy/internal/tlsutil"
	"github.com/murphy-chaos/murphy/worker"
	"github.com/murphy-chaos/murphy/worker/fault"
)

func newWorkerCmd() *cobra.Command {
	var (
		cfg          worker.Config
		coordinators string
		labels       string
		proxies      []string
		logLevel     string
		tlsFiles     tlsutil.Files
		insecureConn bool
		guardian     bool
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker agent on a host",
		Long: `Worker connects to the coordinator cluster (any node; it follows the leader), reports
its labels, and injects the faults the leader assigns, with guaranteed revert: every
fault is journalled before it is applied, has a hard local deadline, and is reverted if
the worker loses the leader for longer than its lease or finds it in the journal at
start-up.

--kubernetes (in a pod) or --kubeconfig FILE makes this worker the one that runs the
Kubernetes kinds through the API server: pod.delete, node.cordon, node.drain,
workload.scale and workload.restart, under its policy's kubernetes section (namespace
allow and deny lists, opt-in by the label murphy.io/chaos=enabled).

With --node-name NODE as well (the DaemonSet passes spec.nodeName), the worker is its
node's instead: it runs no Kubernetes kinds and offers the node's running, opted-in pods
as targets, each named pod/NAMESPACE/NAME and labelled with the pod's labels plus
namespace, pod, workload (deployment/checkout), node, region and datacenter (the node's
topology.kubernetes.io labels). 'murphy workers' lists them.

--proxy puts a fault-injecting HTTP proxy in front of a local service; the http.delay
and http.abort faults act on the requests that pass through it.

--http-addr serves /metrics (murphy_worker_*), /healthz (the process runs and can read
its journal) and /readyz (a coordinator has welcomed it) over plain HTTP, on loopback by
default; give a reachable address for a scraper on another host, or '' to disable.`,
		Example: `  murphy worker --coordinators 10.0.0.1:7400,10.0.0.2:7400,10.0.0.3:7400 --id web-1 \
    --labels region=eu-west,datacenter=eu-west-1a,host=web-1,service=checkout \
    --data-dir /var/lib/murphy-worker --proxy listen=0.0.0.0:18080,upstream=http://127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Coordinators = splitList(coordinators)
			if cmd.Flags().Changed("node-name") && !cfg.KubernetesInCluster && cfg.Kubeconfig == "" {
				return fmt.Errorf("--node-name needs --kubernetes or --kubeconfig: the node's pods are read through the API server")
			}
			if len(cfg.Coordinators) == 0 {
				return fmt.Errorf("--coordinators is required: the gRPC address of at least one coordinator")
			}
			if cfg.Labels, err = parseLabels(labels); err != nil {
				return fmt.Errorf("--labels: %w", err)
			}
			// Groups are stratified and blast radius is limited by region and data centre,
			// so a worker without them would be placed blindly.
			if cfg.Labels["region"] == "" || cfg.Labels["datacenter"] == "" {
				return fmt.Errorf("--labels must include region and datacenter, e.g. region=eu-west,datacenter=eu-west-1a (host defaults to this machine's name)")
			}
			for _, p := range proxies {
				pc, err := worker.ParseProxyFlag(p)
				if err != nil {
					return fmt.Errorf("--proxy: %w", err)
				}
				cfg.Proxies = append(cfg.Proxies, pc)
			}
			cfg.Logger = log
			switch {
			case insecureConn:
				log.Warn("connecting to the coordinators WITHOUT TLS (--insecure)")
			case tlsFiles.CA == "" || tlsFiles.Cert == "" || tlsFiles.Key == "":
				return fmt.Errorf("TLS is required: pass --tls-ca, --tls-cert and --tls-key (murphy tls issue --role worker --name %s), or --insecure for a lab", cfg.ID)
			default:
				tc, err := tlsutil.ClientConfig(tlsFiles)
				if err != nil {
					return err
				}
				cfg.DialOptions = append(cfg.DialOptions, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
			}
			// The process's own health (memory, goroutines, file descriptors) next to
			// murphy_worker_* on /metrics.
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			cfg.Registerer, cfg.Gatherer = reg, reg
			agent, err := worker.New(cfg)
			if err != nil {
				return err
			}
			if guardian {
				if err := spawnGuardian(cfg, logLevel); err != nil {
					log.Warn("could not start the guardian: a frozen or dead worker's process and container faults wait for a restart", "err", err)
				}
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return agent.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&coordinators, "coordinators", defaultAddr, "comma-separated coordinator gRPC addresses")
	f.StringVar(&cfg.ID, "id", "", "this worker's unique ID (required)")
	f.StringVar(&labels, "labels", "", "labels: region=...,datacenter=...,host=...[,key=value...]")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the fault journal (required)")
	f.StringArrayVar(&proxies, "proxy", nil, "fault-injecting proxy: listen=HOST:PORT,upstream=URL (repeatable)")
	f.StringVar(&cfg.DockerHost, "docker-host", "unix:///var/run/docker.sock", "Docker engine the container faults act through (unix://PATH or tcp://HOST:PORT); without one they are not offered")
	f.StringVar(&cfg.CRISocket, "cri-socket", "unix:///run/containerd/containerd.sock", "the node's CRI runtime (containerd; CRI-O: unix:///var/run/crio/crio.sock) through which faults with params.pod find the pod, at every inject and revert")
	f.BoolVar(&cfg.KubernetesInCluster, "kubernetes", false, "run the Kubernetes fault kinds (pod.delete, node.cordon, node.drain, workload.scale, workload.restart) with this pod's ServiceAccount (in-cluster config); see deploy/kubernetes for its RBAC")
	f.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "run the Kubernetes fault kinds with this kubeconfig's credentials instead of in-cluster ones")
	f.StringVar(&cfg.NodeName, "node-name", os.Getenv("NODE_NAME"), "with --kubernetes or --kubeconfig: this worker is node NODE's, and offers the node's opted-in pods as targets instead of running the Kubernetes kinds (default $NODE_NAME)")
	f.StringVar(&tlsFiles.CA, "tls-ca", "", "the cluster's CA certificate")
	f.StringVar(&tlsFiles.Cert, "tls-cert", "", "this worker's certificate (murphy tls issue --role worker --name ID)")
	f.StringVar(&tlsFiles.Key, "tls-key", "", "the certificate's key")
	f.BoolVar(&insecureConn, "insecure", false, "connect without TLS, to a cluster started with --insecure (labs only)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.BoolVar(&guardian, "guardian", true, "start murphy guardian for the data directory, which reverts this worker's faults if it dies or freezes")
	f.StringVar(&cfg.HTTPAddr, "http-addr", worker.DefaultHTTPAddr, "address for /metrics, /healthz and /readyz (plain HTTP; empty disables)")
	cmd.MarkFlagsMutuallyExclusive("kubernetes", "kubeconfig")
	cfg.Policy = fault.DefaultPolicy() // until --policy replaces it
	f.Func("policy", "safety policy file (YAML: allow, deny, maxDuration, protect, stress); default: every kind but exec, at most 1h, sshd protected", func(path string) error {
		p, err := fault.LoadPolicy(path)
		cfg.Policy = p
		return err
	})
	return cmd
}
