package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/murphy-chaos/murphy/internal/tlsutil"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// clientFlags are the flags every command that talks to a coordinator shares.
type clientFlags struct {
	addr     string
	stale    bool
	timeout  time.Duration
	tls      tlsutil.Files
	token    string
	insecure bool
}

func newRootCmd() *cobra.Command {
	cf := &clientFlags{}
	root := &cobra.Command{
		Use:   "murphy",
		Short: "Murphy runs chaos experiments across a fleet and judges them with statistics",
		Long: `Murphy is a distributed chaos-experiment orchestrator. A Raft-replicated cluster of
coordinators assigns fault steps to workers, compares a control group with an
experimental group, and halts and reverts everything when the steady state breaks.

Start here:
  murphy dev                      a local cluster, 12 workers and a demo experiment
  murphy validate exp.yaml        check a spec without running it
  murphy run exp.yaml --watch     run it and follow it to its verdict

Commands that talk to a cluster use --addr or MURPHY_ADDR (default ` + defaultAddr + `), one
address or several comma-separated: the first that answers serves.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newCoordinatorCmd(),
		newWorkerCmd(),
		newGuardianCmd(),
		newDevCmd(),
		newDemoServiceCmd(),
		newBenchCmd(),
		newTLSCmd(),
		newValidateCmd(cf),
		newImportCmd(),
		newFaultsCmd(),
		newRunCmd(cf),
		newLsCmd(cf),
		newStatusCmd(cf),
		newVerdictCmd(cf),
		newReportCmd(cf),
		newHaltCmd(cf),
		newResumeCmd(cf),
		newSchedulesCmd(cf),
		newPauseSchedulesCmd(cf),
		newWorkersCmd(cf),
		newClusterCmd(cf),
		newAuditCmd(cf),
		newAnalyzeCmd(),
	)
	// The client flags belong to the commands that talk to a cluster, not to the
	// coordinator, the worker or the tools beside them, whose --help must not list them.
	for _, c := range root.Commands() {
		if clientCommands[c.Name()] {
			cf.bind(c.PersistentFlags())
		}
	}
	return root
}

// clientCommands are the commands that talk to a cluster and take the client flags.
var clientCommands = map[string]bool{
	"validate": true, "run": true, "ls": true, "status": true, "verdict": true, "report": true,
	"halt": true, "resume": true, "schedules": true, "pause-schedules": true, "workers": true,
	"cluster": true, "audit": true,
}

// bind adds the client flags to fs, with their environment defaults.
func (cf *clientFlags) bind(fs *pflag.FlagSet) {
	addr := os.Getenv("MURPHY_ADDR")
	if addr == "" {
		addr = defaultAddr
	}
	fs.StringVar(&cf.addr, "addr", addr, "coordinator gRPC address, or several comma-separated (host:port,host:port) to use the first that answers (env MURPHY_ADDR); any node works, writes reach the leader")
	fs.BoolVar(&cf.stale, "stale", false, "let a follower answer reads from its own state, which may lag the leader")
	fs.DurationVar(&cf.timeout, "timeout", 10*time.Second, "timeout for each call to the cluster")
	fs.StringVar(&cf.tls.CA, "ca", os.Getenv("MURPHY_CA"), "CA certificate of the cluster (env MURPHY_CA)")
	fs.StringVar(&cf.tls.Cert, "cert", os.Getenv("MURPHY_CERT"), "your certificate (env MURPHY_CERT; murphy tls issue)")
	fs.StringVar(&cf.tls.Key, "key", os.Getenv("MURPHY_KEY"), "your certificate's key (env MURPHY_KEY)")
	fs.StringVar(&cf.token, "token", os.Getenv("MURPHY_TOKEN"), "a bearer token instead of a certificate (env MURPHY_TOKEN), with --ca")
	fs.BoolVar(&cf.insecure, "insecure", os.Getenv("MURPHY_INSECURE") == "1", "talk plaintext to a cluster started with --insecure (env MURPHY_INSECURE=1)")
}
