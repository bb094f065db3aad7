package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/murphy-chaos/murphy/coordinator"
	"github.com/murphy-chaos/murphy/coordinator/notify"
	"github.com/murphy-chaos/murphy/internal/logging"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

func newCoordinatorCmd() *cobra.Command {
	var (
		tlsFiles tlsutil.Files
		cfg      coordinator.Config
		join     string
		profile  string
		logLevel string
		maxMem   string
		maxDisk  string
		hookFmt  string
		hookKey  string
		budgets  []string
	)
	cmd := &cobra.Command{
		Use:   "coordinator",
		Short: "Run a coordinator node",
		Long: `Coordinator runs one node of the replicated control plane. Start the first node with
--bootstrap, and every other node with --join pointing at any existing node's gRPC
address. A restarted node finds its state in --data-dir and needs neither flag.

Raft timeouts come in two profiles: lan (a lost leader is replaced in well under 500 ms)
and wan (for clusters spanning regions). The --raft-*-timeout flags override a profile.

--webhook URL (repeatable) posts run events from the leader: submitted, halted (with the
halt's evidence), verdict and failed, each once. Bodies are JSON, or {"text": ...} for
Slack-compatible receivers with --webhook-format slack, signed with HMAC-SHA256 under
the key in --webhook-secret-file (header X-Murphy-Signature: sha256=<hex>), and retried
with backoff. Give every coordinator the same flags: only the leader sends.`,
		Example: `  murphy coordinator --node-id n1 --data-dir /var/lib/murphy/n1 --raft-addr 10.0.0.1:7401 --grpc-addr 10.0.0.1:7400 --http-addr 10.0.0.1:7402 --bootstrap
  murphy coordinator --node-id n2 --data-dir /var/lib/murphy/n2 --raft-addr 10.0.0.2:7401 --grpc-addr 10.0.0.2:7400 --http-addr 10.0.0.2:7402 --join 10.0.0.1:7400`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			if tlsFiles != (tlsutil.Files{}) {
				if tlsFiles.CA == "" || tlsFiles.Cert == "" || tlsFiles.Key == "" {
					return fmt.Errorf("--tls-ca, --tls-cert and --tls-key go together")
				}
				cfg.TLS = &tlsFiles
			}
			cfg.Profile = coordinator.Profile(profile)
			cfg.Join = splitList(join)
			cfg.Logger = log
			if cfg.FleetLimits.MaxStressMemory, err = catalogue.ParseBytes(maxMem); err != nil {
				return fmt.Errorf("--max-stress-memory: %w", err)
			}
			if cfg.FleetLimits.MaxStressDisk, err = catalogue.ParseBytes(maxDisk); err != nil {
				return fmt.Errorf("--max-stress-disk: %w", err)
			}
			if err := webhookConfig(&cfg.Webhooks, hookFmt, hookKey, log); err != nil {
				return err
			}
			for _, b := range budgets {
				budget, err := parseBudget(b)
				if err != nil {
					return err
				}
				cfg.ScheduleLimits.Budgets = append(cfg.ScheduleLimits.Budgets, budget)
			}
			srv, err := coordinator.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := srv.Start(ctx); err != nil {
				srv.Stop()
				return err
			}
			log.Info("coordinator running", "node", cfg.NodeID, "grpc", srv.GRPCAddr(), "http", srv.HTTPAddr())
			<-ctx.Done()
			log.Info("shutting down")
			srv.Stop()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.NodeID, "node-id", "", "this node's unique ID (required)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the Raft log, stable store and snapshots (required)")
	f.StringVar(&cfg.RaftAddr, "raft-addr", "127.0.0.1:7401", "address the Raft transport listens on")
	f.StringVar(&cfg.RaftAdvertise, "raft-advertise", "", "Raft address peers should dial, if different")
	f.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:7400", "address the gRPC API listens on")
	f.StringVar(&cfg.GRPCAdvertise, "grpc-advertise", "", "gRPC address clients and workers are sent to, if different")
	f.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:7402", "address for /metrics, /healthz and /readyz (empty disables)")
	f.BoolVar(&cfg.Bootstrap, "bootstrap", false, "start a new cluster with this node as its only member")
	f.StringVar(&join, "join", "", "comma-separated gRPC addresses of existing members to join through")
	f.StringVar(&profile, "raft-profile", "lan", "Raft timeout profile: lan or wan")
	f.DurationVar(&cfg.Timeouts.Heartbeat, "raft-heartbeat-timeout", 0, "override the profile's heartbeat timeout")
	f.DurationVar(&cfg.Timeouts.Election, "raft-election-timeout", 0, "override the profile's election timeout")
	f.DurationVar(&cfg.Timeouts.LeaderLease, "raft-leader-lease-timeout", 0, "override the profile's leader lease timeout")
	f.DurationVar(&cfg.WorkerLease, "worker-lease", 5*time.Second, "how long workers keep faults without hearing from the leader")
	f.DurationVar(&cfg.WorkerLostAfter, "worker-lost-after", 0, "silence after which a worker is declared lost (default twice the lease)")
	f.StringVar(&tlsFiles.CA, "tls-ca", "", "CA certificate every peer is verified against (murphy tls init)")
	f.StringVar(&tlsFiles.Cert, "tls-cert", "", "this node's coordinator certificate (murphy tls issue --role coordinator)")
	f.StringVar(&tlsFiles.Key, "tls-key", "", "the certificate's key")
	f.BoolVar(&cfg.Insecure, "insecure", false, "run without TLS or authorization (labs only: anyone who reaches the node can run faults)")
	f.StringVar(&cfg.TokensFile, "tokens", "", "YAML list of {token, role, name} for clients without certificates (CI pipelines)")
	f.StringVar(&cfg.Prometheus.URL, "prometheus-url", "", "Prometheus server for metrics with a prometheus source, e.g. http://prometheus:9090")
	f.StringVar(&cfg.Prometheus.BearerTokenFile, "prometheus-bearer-token-file", "", "file holding a bearer token for Prometheus")
	f.StringVar(&cfg.Prometheus.Username, "prometheus-username", "", "basic-auth user for Prometheus (with --prometheus-password-file)")
	f.StringVar(&cfg.Prometheus.PasswordFile, "prometheus-password-file", "", "file holding the basic-auth password")
	f.DurationVar(&cfg.Prometheus.Timeout, "prometheus-timeout", 5*time.Second, "timeout of each Prometheus query")
	f.DurationVar(&cfg.MaxFaultDuration, "max-fault-duration", coordinator.DefaultMaxFaultDuration, "refuse specs with a step longer than this (keep it within the workers' policy maxDuration)")
	f.StringVar(&maxMem, "max-stress-memory", fault.FormatBytes(fault.DefaultMaxStressMemory), "refuse specs whose stress.memory step takes more than this on one host")
	f.StringVar(&maxDisk, "max-stress-disk", fault.FormatBytes(fault.DefaultMaxStressDisk), "refuse specs whose stress.disk step takes more than this on one host")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringArrayVar(&cfg.Webhooks.URLs, "webhook", nil, "URL the leader posts run events to (repeatable)")
	f.StringVar(&hookKey, "webhook-secret-file", "", "file holding the HMAC-SHA256 key that signs webhook bodies (X-Murphy-Signature)")
	f.StringVar(&hookFmt, "webhook-format", "json", "webhook body: json (Murphy's event) or slack ({\"text\": ...})")
	f.IntVar(&cfg.ScheduleLimits.MaxActive, "max-scheduled-runs", 0, "the most runs fired by schedules active at once, across schedules (0: no limit); a slot beyond it is skipped")
	f.StringArrayVar(&budgets, "schedule-budget", nil, "a service's daily allowance for scheduled runs, e.g. service=checkout,runs=10,fault-minutes=60 (repeatable; days in UTC)")
	return cmd
}

// webhookConfig completes c from the --webhook-* flags.
func webhookConfig(c *notify.Config, format, secretFile string, log *slog.Logger) error {
	var err error
	if c.Format, err = notify.ParseFormat(format); err != nil {
		return fmt.Errorf("--webhook-format: %w", err)
	}
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return fmt.Errorf("--webhook-secret-file: %w", err)
		}
		if c.Secret = []byte(strings.TrimSpace(string(b))); len(c.Secret) == 0 {
			return fmt.Errorf("--webhook-secret-file %s is empty", secretFile)
		}
	}
	if len(c.URLs) > 0 && len(c.Secret) == 0 {
		log.Warn("webhook bodies are not signed: receivers cannot tell them from forgeries (pass --webhook-secret-file)")
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	return logging.New(os.Stderr, l), nil
}

// signalContext is the context commands that run until interrupted use.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}
