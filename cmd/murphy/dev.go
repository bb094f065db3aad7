package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/murphy-chaos/murphy/coordinator"
	"github.com/murphy-chaos/murphy/internal/logging"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

//go:embed demo.yaml
var demoSpec []byte

type devOptions struct {
	once     bool
	basePort int
	dataDir  string
	logLevel string
	specFile string
	imp      importFlags // a Chaos Toolkit file as --spec, as murphy run takes it
}

func newDevCmd() *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local cluster, 12 workers and a demo experiment",
		Long: `Dev starts everything on loopback, with no root and no configuration: a 3-node
coordinator cluster, 12 workers labelled across 3 regions x 2 data centres, a demo HTTP
service behind each worker's fault-injecting proxy, and a demo experiment that adds
latency to half the fleet, followed live to its verdict.

It then keeps running for more CLI use (it prints the address and commands to try);
--once exits after the verdict instead. Coordinator n1 serves gRPC on --base-port,
n2 and n3 on the next tens.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return runDev(ctx, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.once, "once", false, "exit after the demo experiment's verdict")
	f.IntVar(&o.basePort, "base-port", 7400, "first port: n1 uses base (gRPC), base+1 (Raft), base+2 (HTTP); n2 base+10...; 0 lets the kernel pick every port")
	f.StringVar(&o.dataDir, "data-dir", "", "keep state here instead of a temporary directory")
	f.StringVar(&o.logLevel, "log-level", "warn", "log level of the embedded nodes and workers")
	f.StringVar(&o.specFile, "spec", "", "run this experiment instead of the built-in demo (murphy/v1, or a Chaos Toolkit experiment)")
	o.imp.register(cmd, true)
	return cmd
}

// devCluster is everything murphy dev started, in stopping order.
type devCluster struct {
	nodes    []*coordinator.Server
	services []*demoService
	cancel   context.CancelFunc
	workers  sync.WaitGroup
}

func (d *devCluster) stop() {
	// Workers first, so they revert their faults while a leader can still hear them.
	if d.cancel != nil {
		d.cancel()
	}
	d.workers.Wait()
	for _, s := range d.services {
		s.Close()
	}
	for i := len(d.nodes) - 1; i >= 0; i-- {
		d.nodes[i].Stop()
	}
}

var devTopology = []struct{ region, dc string }{
	{"eu-west", "eu-west-1a"}, {"eu-west", "eu-west-1b"},
	{"us-east", "us-east-1a"}, {"us-east", "us-east-1b"},
	{"ap-south", "ap-south-1a"}, {"ap-south", "ap-south-1b"},
}

const devHostsPerDC = 2

func runDev(ctx context.Context, o devOptions, out io.Writer) error {
	start := time.Now()
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", o.logLevel)
	}
	log := logging.New(os.Stderr, level)
	spec := demoSpec
	policy := fault.DefaultPolicy()
	if o.specFile != "" {
		// The spec is the developer's own, run on their own machine against loopback
		// services: its exec steps and command probes (a Chaos Toolkit file's process
		// activities) may run, which a real worker allows only when its operator says so.
		policy.Allowed = catalogue.Kinds()
		var err error
		if spec, err = readSpec(o.specFile); err != nil {
			return err
		}
		if spec, err = o.imp.chaosToolkitSpec(spec, o.specFile, os.Stderr); err != nil {
			return err
		}
	}
	dir := o.dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "murphy-dev-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}

	// murphy dev uses TLS like a real cluster: its own CA, a certificate per node and
	// worker, and an admin certificate for the CLI.
	pki := filepath.Join(dir, "pki")
	if _, err := os.Stat(filepath.Join(pki, "ca.key")); err != nil {
		if err := tlsutil.InitCA(pki, 30*24*time.Hour); err != nil {
			return err
		}
	}
	cert := func(role, name string) (tlsutil.Files, error) {
		crt, key, err := tlsutil.Issue(pki, pki, role, name, nil, 30*24*time.Hour, time.Time{})
		return tlsutil.Files{CA: filepath.Join(pki, "ca.crt"), Cert: crt, Key: key}, err
	}
	admin, err := cert(tlsutil.RoleAdmin, "dev-admin")
	if err != nil {
		return err
	}
	// A browser has no client certificate: the nodes also take an admin token, which
	// reaches the browser only as a one-time sign-in link's cookie.
	tokens, browserToken, err := devTokens(pki)
	if err != nil {
		return err
	}

	d := &devCluster{}
	defer d.stop()
	var addrs []string
	for i := range 3 {
		// --base-port 0: every listener takes a port the kernel picks (tests use this).
		addr := func(offset int) string {
			if o.basePort == 0 {
				return "127.0.0.1:0"
			}
			return fmt.Sprintf("127.0.0.1:%d", o.basePort+10*i+offset)
		}
		nodeCert, err := cert(tlsutil.RoleCoordinator, fmt.Sprintf("n%d", i+1))
		if err != nil {
			return err
		}
		cfg := coordinator.Config{
			TLS:        &nodeCert,
			TokensFile: tokens,
			NodeID:     fmt.Sprintf("n%d", i+1),
			DataDir:    filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			GRPCAddr:   addr(0),
			RaftAddr:   addr(1),
			HTTPAddr:   addr(2),
			Bootstrap:  i == 0,
			Logger:     log,
		}
		if i > 0 {
			cfg.Join = addrs[:1]
		}
		srv, err := coordinator.New(cfg)
		if err != nil {
			return fmt.Errorf("%w (another murphy dev running? try --base-port)", err)
		}
		d.nodes = append(d.nodes, srv)
		jctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err = srv.Start(jctx)
		cancel()
		if err != nil {
			return err
		}
		addrs = append(addrs, srv.GRPCAddr())
		if i == 0 {
			if err := waitFor(ctx, 10*time.Second, srv.IsLeader); err != nil {
				return fmt.Errorf("n1 did not become leader: %w", err)
			}
		}
	}
	fmt.Fprintf(out, "coordinators n1 %s, n2 %s, n3 %s\n", addrs[0], addrs[1], addrs[2])
	link, err := d.nodes[0].SignInURL(browserToken)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "review page %s\n  (a one-time sign-in link; the browser warns once about the dev CA's certificate)\n", link)

	wctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	n := 0
	for _, t := range devTopology {
		for h := range devHostsPerDC {
			n++
			svc, err := startDemoService("127.0.0.1:0", 2*time.Millisecond)
			if err != nil {
				return err
			}
			d.services = append(d.services, svc)
			id := fmt.Sprintf("%s-%d", t.dc, h+1)
			wdir := filepath.Join(dir, "workers", id)
			wcert, err := cert(tlsutil.RoleWorker, id)
			if err != nil {
				return err
			}
			wtls, err := tlsutil.ClientConfig(wcert)
			if err != nil {
				return err
			}
			agent, err := worker.New(worker.Config{
				Policy:       policy,
				ID:           id,
				Labels:       map[string]string{"region": t.region, "datacenter": t.dc, "host": fmt.Sprintf("host-%02d", n), "service": "demo"},
				Coordinators: addrs,
				DataDir:      wdir,
				Proxies:      []worker.ProxyConfig{{Listen: "127.0.0.1:0", Upstream: svc.URL()}},
				DialOptions:  []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(wtls))},
				Logger:       log,
			})
			if err != nil {
				return err
			}
			d.workers.Add(1)
			go func() {
				defer d.workers.Done()
				if err := agent.Run(wctx); err != nil && !errors.Is(err, context.Canceled) {
					log.Error("worker stopped", "worker", id, "error", err)
				}
			}()
		}
	}

	cf := &clientFlags{addr: addrs[0], timeout: 10 * time.Second, tls: admin}
	c, err := dial(cf)
	if err != nil {
		return err
	}
	defer c.Close()
	want := len(devTopology) * devHostsPerDC
	if err := waitFor(ctx, 20*time.Second, func() bool {
		cctx, cancel := c.ctx(ctx)
		defer cancel()
		resp, err := c.cluster.ListWorkers(cctx, &murphyv1.ListWorkersRequest{})
		if err != nil {
			return false
		}
		connected := 0
		for _, w := range resp.Workers {
			if w.State == murphyv1.WorkerState_WORKER_STATE_CONNECTED {
				connected++
			}
		}
		return connected == want
	}); err != nil {
		return fmt.Errorf("workers did not all connect: %w", err)
	}
	fmt.Fprintf(out, "%d workers connected across 3 regions x 2 data centres (%s)\n", want, time.Since(start).Round(100*time.Millisecond))

	sctx, scancel := c.ctx(ctx)
	resp, err := c.exp.Submit(sctx, &murphyv1.SubmitRequest{Spec: spec, Filename: "demo.yaml"})
	scancel()
	if err != nil {
		return c.explain(err)
	}
	fmt.Fprintf(out, "run %s submitted: %s\n\n", resp.Run.Id, firstLine(spec))
	run, err := watchRun(ctx, c, resp.Run.Id, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\ndemo finished in %s\n", time.Since(start).Round(100*time.Millisecond))
	if run.Verdict == nil {
		return fmt.Errorf("the demo run ended %s without a verdict", run.Phase)
	}
	if o.once {
		return nil
	}
	// The first link may have been spent by now; this one is fresh.
	if link, err = d.nodes[0].SignInURL(browserToken); err != nil {
		return err
	}
	fmt.Fprintf(out, `
Murphy is running (mutual TLS, its own CA in %s). Try, in another terminal:
  export MURPHY_ADDR=%s MURPHY_CA=%s MURPHY_CERT=%s MURPHY_KEY=%s
  murphy cluster status
  murphy workers -l region=eu-west
  murphy ls
  murphy verdict %s -o markdown
  murphy run cmd/murphy/demo.yaml --watch
Review page: %s
  (signs a browser in once, as dev-browser with the admin role)
Metrics:     https://%s/metrics   (curl --cacert %s)
Press Ctrl-C to stop.
`, pki, addrs[0], admin.CA, admin.Cert, admin.Key, run.Id, link, d.nodes[0].HTTPAddr(), admin.CA)
	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return nil
}

// devTokens writes the dev cluster's tokens file, one admin token for the browser, kept
// beside the CA (a --data-dir keeps it across restarts), and returns its path and token.
func devTokens(pki string) (path, token string, err error) {
	path = filepath.Join(pki, "tokens.yaml")
	if ts, err := coordinator.LoadTokens(path); err == nil && len(ts) == 1 {
		return path, ts[0].Token, nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = hex.EncodeToString(b)
	body := fmt.Sprintf("# murphy dev: the browser's sign-in token (murphy dev prints one-time links to it)\n- {token: %s, role: admin, name: dev-browser}\n", token)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return "", "", fmt.Errorf("write the dev tokens file: %w", err)
	}
	return path, token, nil
}

func firstLine(spec []byte) string {
	for _, l := range splitLines(string(spec)) {
		if len(l) > 13 && l[:13] == "description: " {
			return l[13:]
		}
	}
	return ""
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
