package main

import (
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/murphy-chaos/murphy/worker"
)

func newGuardianCmd() *cobra.Command {
	var (
		cfg      worker.GuardianConfig
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "guardian",
		Short: "Revert a dead or frozen worker's faults (started by murphy worker)",
		Long: `Guardian watches one worker's data directory and reverts the faults in its journal
when the worker is dead, or frozen (SIGSTOP, a cgroup freeze, a paused container) with
faults in force for longer than --stale. A frozen worker is killed first: it holds the
journal and can honour neither a halt nor its deadlines, and its supervisor restarts it.
Each revert is recorded with cause "guardian", and the next worker reports it to the
coordinators.

murphy worker starts a guardian for its data directory unless --guardian=false; only
one guardian watches a directory. Run it yourself from a supervisor instead (systemd
ExecStopPost=murphy guardian --data-dir DIR --once) if you prefer.

What reverts each fault kind when the worker is alive, frozen, dead and restarted, or
dead for good is tabled in worker/DESIGN.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Worker.Logger = log
			g, err := worker.NewGuardian(cfg)
			if err != nil {
				return err
			}
			ok, err := g.Lock()
			if err != nil {
				return fmt.Errorf("guardian lock: %w", err)
			}
			if !ok {
				log.Info("another guardian already watches this data directory", "data_dir", cfg.Worker.DataDir)
				return nil
			}
			if once, _ := cmd.Flags().GetBool("once"); once {
				n, err := g.Check(cmd.Context())
				log.Info("guardian pass", "reverted", n)
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return g.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Worker.DataDir, "data-dir", "", "the worker's data directory (required)")
	f.StringVar(&cfg.Worker.DockerHost, "docker-host", "unix:///var/run/docker.sock", "Docker engine paused containers are resumed through")
	f.StringVar(&cfg.Worker.CRISocket, "cri-socket", "unix:///run/containerd/containerd.sock", "the node's CRI runtime, through which faults in a pod are reverted")
	f.BoolVar(&cfg.Worker.KubernetesInCluster, "kubernetes", false, "revert Kubernetes faults with the pod's in-cluster credentials")
	f.StringVar(&cfg.Worker.Kubeconfig, "kubeconfig", "", "revert Kubernetes faults with this kubeconfig's credentials")
	f.DurationVar(&cfg.Stale, "stale", 0, "how long a worker holding faults may be silent before it counts as frozen (default: its lease + 2s)")
	f.DurationVar(&cfg.Linger, "linger", 10*time.Minute, "how long to stay once the worker is gone and nothing is left to revert")
	f.Bool("once", false, "look once and exit (for a supervisor's stop hook)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// spawnGuardian starts `murphy guardian` for dataDir as a process of its own session, so
// it outlives the worker: a kill -9 of the worker, or of its process group, must leave the
// guardian running. A guardian already watching the directory makes the new one exit.
func spawnGuardian(w worker.Config, logLevel string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"guardian", "--data-dir", w.DataDir, "--docker-host", w.DockerHost, "--cri-socket", w.CRISocket, "--log-level", logLevel}
	// The guardian restores cordoned nodes and scaled Deployments with the worker's own
	// Kubernetes credentials.
	if w.KubernetesInCluster {
		args = append(args, "--kubernetes")
	} else if w.Kubeconfig != "" {
		args = append(args, "--kubeconfig", w.Kubeconfig)
	}
	c := exec.Command(self, args...)
	c.SysProcAttr = ownSession()
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	if err := c.Start(); err != nil {
		return err
	}
	// Not waited for: it must not die with us. Release lets the runtime forget it.
	return c.Process.Release()
}
