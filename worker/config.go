package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/httpfault"
)

// Defaults used until a Welcome says otherwise, and for reconnecting.
const (
	DefaultLease             = 5 * time.Second
	DefaultHeartbeatInterval = 500 * time.Millisecond
	DefaultBackoffMin        = 50 * time.Millisecond
	DefaultBackoffMax        = 3 * time.Second
	// SampleFlushInterval is how often buffered probe samples are sent.
	SampleFlushInterval = 200 * time.Millisecond
	// SampleBatch is the most samples one Samples message carries.
	SampleBatch = 1000
)

// ProxyConfig is one HTTP fault proxy: clients connect to Listen, requests go to Upstream.
type ProxyConfig struct {
	Listen   string
	Upstream string
}

// ParseProxyFlag parses "listen=127.0.0.1:18080,upstream=http://127.0.0.1:9000".
func ParseProxyFlag(s string) (ProxyConfig, error) {
	var pc ProxyConfig
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return pc, fmt.Errorf("proxy %q: %q is not key=value (want listen=HOST:PORT,upstream=http://HOST:PORT)", s, part)
		}
		switch k {
		case "listen":
			pc.Listen = v
		case "upstream":
			pc.Upstream = v
		default:
			return pc, fmt.Errorf("proxy %q: unknown key %q (known: listen, upstream)", s, k)
		}
	}
	if pc.Listen == "" || pc.Upstream == "" {
		return pc, fmt.Errorf("proxy %q: both listen and upstream are required", s)
	}
	if _, _, err := net.SplitHostPort(pc.Listen); err != nil {
		return pc, fmt.Errorf("proxy %q: listen: %w", s, err)
	}
	if _, err := httpfault.ParseUpstream(pc.Upstream); err != nil {
		return pc, err
	}
	return pc, nil
}

// Config configures an Agent.
type Config struct {
	// ID names the worker across restarts; the coordinator keys its identity by it.
	ID string
	// Labels carry region, datacenter and host, plus free labels.
	Labels map[string]string
	// Coordinators are gRPC addresses of coordinator nodes, tried in turn; any node will
	// do, followers redirect to the leader.
	Coordinators []string
	// DataDir holds the fault journal.
	DataDir string
	Proxies []ProxyConfig
	// DockerHost is the Docker engine the container faults act through; empty means
	// unix:///var/run/docker.sock. Without an engine there the container kinds are not
	// offered (and the log says why).
	DockerHost string
	// CRISocket is the node's CRI runtime (containerd, CRI-O) through which network,
	// process, stress, container.kill and container.pause faults find a pod named by
	// params.pod; empty means unix:///run/containerd/containerd.sock. It is dialled for
	// each such fault, and once at start when no Docker engine answers, to offer
	// container.kill and container.pause on pods.
	CRISocket string
	// KubernetesInCluster or Kubeconfig make this worker the one that runs the Kubernetes
	// kinds (pod.delete, node.*, workload.*) through the API server: with the pod's
	// ServiceAccount, or with the credentials of a kubeconfig file. Without either the
	// kinds are not offered.
	KubernetesInCluster bool
	Kubeconfig          string
	// NodeName, with Kubernetes credentials, makes this worker its node's: it offers the
	// pods bound to the node as targets (opted in, under the policy's kubernetes section)
	// instead of running the Kubernetes kinds, which one designated worker runs.
	NodeName string
	// Logger defaults to discarding; Registerer to a private registry.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// HTTPAddr, when set, is where /metrics, /healthz and /readyz are served (plain
	// HTTP; DefaultHTTPAddr is murphy worker's default). Gatherer is what /metrics
	// serves; nil means Registerer, which must then be a *prometheus.Registry.
	HTTPAddr string
	Gatherer prometheus.Gatherer
	// Policy is the local safety policy; the coordinator cannot override it.
	Policy fault.Policy
	// DialOptions are appended to the defaults (plaintext transport credentials), so TLS
	// credentials given here replace them.
	DialOptions []grpc.DialOption
	// Version is reported in Hello.
	Version string
	// Lease and HeartbeatInterval apply until the first Welcome; zero means the defaults.
	Lease             time.Duration
	HeartbeatInterval time.Duration
	// BackoffMin and BackoffMax bound the reconnect backoff; zero means the defaults.
	BackoffMin, BackoffMax time.Duration
}

func (c *Config) validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("worker id is required"))
	}
	if len(c.Coordinators) == 0 {
		errs = append(errs, errors.New("at least one coordinator address is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is required (it holds the fault journal)"))
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	// Topology needs a host label; the machine's name is the natural default.
	if c.Labels["host"] == "" {
		if h, err := os.Hostname(); err == nil {
			c.Labels = maps.Clone(c.Labels)
			if c.Labels == nil {
				c.Labels = map[string]string{}
			}
			c.Labels["host"] = h
		}
	}
	// The coordinators are always protected from network faults, whatever the policy.
	c.Policy = c.Policy.WithCoordinators(c.Coordinators)
}
