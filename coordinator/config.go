package coordinator

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/murphy-chaos/murphy/coordinator/notify"
	"github.com/murphy-chaos/murphy/coordinator/promsrc"
	"github.com/murphy-chaos/murphy/coordinator/runner"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	"github.com/murphy-chaos/murphy/worker/fault"
)

// Profile is a set of Raft timeouts suited to the network between coordinators.
type Profile string

const (
	// ProfileLAN replaces a lost leader in well under 500 ms on a local network.
	ProfileLAN Profile = "lan"
	// ProfileWAN tolerates cross-region round trips and jitter of a few hundred ms
	// without needless elections.
	ProfileWAN Profile = "wan"
)

// Timeouts are the Raft timeouts; see hashicorp/raft's Config for their meaning.
type Timeouts struct {
	Heartbeat   time.Duration
	Election    time.Duration
	LeaderLease time.Duration
	Commit      time.Duration
}

// ProfileTimeouts returns the timeouts of a profile.
func ProfileTimeouts(p Profile) (Timeouts, error) {
	switch p {
	case ProfileLAN, "":
		// Measured on loopback with bbolt stores: about 330 ms from a leader's death to
		// a new leader (raft's defaults take ~2.2 s).
		return Timeouts{Heartbeat: 150 * time.Millisecond, Election: 150 * time.Millisecond, LeaderLease: 75 * time.Millisecond, Commit: 10 * time.Millisecond}, nil
	case ProfileWAN:
		return Timeouts{Heartbeat: 1500 * time.Millisecond, Election: 1500 * time.Millisecond, LeaderLease: 750 * time.Millisecond, Commit: 50 * time.Millisecond}, nil
	}
	return Timeouts{}, fmt.Errorf("unknown raft profile %q (use lan or wan)", p)
}

// DefaultMaxFaultDuration is the longest step a cluster accepts unless configured: the
// workers' default policy maxDuration (fault.DefaultMaxDuration), so that what is
// accepted is what a default worker runs in full.
const DefaultMaxFaultDuration = fault.DefaultMaxDuration

// Config is a coordinator node's runtime configuration.
type Config struct {
	NodeID   string
	DataDir  string
	RaftAddr string // bind address of the Raft transport; port 0 picks one
	// RaftAdvertise is the address peers dial, when it differs from RaftAddr.
	RaftAdvertise string
	GRPCAddr      string
	// GRPCAdvertise is the address clients and workers are redirected to.
	GRPCAdvertise string
	HTTPAddr      string // empty disables the HTTP server
	Bootstrap     bool
	// Join lists gRPC addresses of existing members to ask for admission.
	Join []string

	Profile  Profile
	Timeouts Timeouts // non-zero fields override the profile

	// WorkerLease is how long a worker keeps its faults without hearing from the leader.
	WorkerLease time.Duration
	// HeartbeatInterval is how often workers send heartbeats.
	HeartbeatInterval time.Duration
	// WorkerLostAfter is the silence after which the leader declares a worker lost.
	WorkerLostAfter time.Duration
	// WaitForWorkers bounds how long a run waits for enough workers.
	WaitForWorkers time.Duration
	// ScheduleLimits bound continuous chaos across schedules: the most scheduled runs
	// active at once, and daily budgets per service.
	ScheduleLimits runner.Limits

	// TLS locates the CA and this node's coordinator certificate. Every connection is
	// mutual TLS with it: clients, workers and Raft between coordinators. Nil requires
	// Insecure.
	TLS *tlsutil.Files
	// Insecure runs without TLS or authorization (every caller is an admin). For labs
	// only; the node logs a warning at start.
	Insecure bool
	// TokensFile maps bearer tokens to roles for clients without certificates.
	TokensFile string

	// Prometheus is where metrics with a Prometheus source are read; an empty URL means
	// specs with such metrics are refused.
	Prometheus promsrc.Config

	// MaxFaultDuration refuses, at submission, a step that lasts longer; zero means
	// DefaultMaxFaultDuration. It should not exceed the workers' policy maxDuration, which
	// would cut such a fault short in the middle of a run.
	MaxFaultDuration time.Duration
	// FleetLimits refuse, at submission, steps that would wreck a host rather than test
	// it (every process selected, the host cut off, memory or disk beyond the caps).
	FleetLimits fault.FleetLimits

	// Webhooks receive run events from the leader (coordinator/notify); its Logger and
	// Registerer default to these.
	Webhooks notify.Config

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	Now        func() time.Time
}

func (c *Config) setDefaults() error {
	if c.NodeID == "" {
		return fmt.Errorf("coordinator: a node id is required (--node-id)")
	}
	if c.DataDir == "" {
		return fmt.Errorf("coordinator: a data directory is required (--data-dir)")
	}
	if c.RaftAddr == "" || c.GRPCAddr == "" {
		return fmt.Errorf("coordinator: --raft-addr and --grpc-addr are required")
	}
	if c.TLS == nil && !c.Insecure {
		return fmt.Errorf("coordinator: TLS is required: pass --tls-ca, --tls-cert and --tls-key (murphy tls init, then murphy tls issue --role coordinator), or --insecure for a lab")
	}
	if c.Bootstrap && len(c.Join) > 0 {
		return fmt.Errorf("coordinator: use either --bootstrap (first node) or --join (later nodes), not both")
	}
	t, err := ProfileTimeouts(c.Profile)
	if err != nil {
		return err
	}
	if c.Timeouts.Heartbeat == 0 {
		c.Timeouts.Heartbeat = t.Heartbeat
	}
	if c.Timeouts.Election == 0 {
		c.Timeouts.Election = t.Election
	}
	if c.Timeouts.LeaderLease == 0 {
		c.Timeouts.LeaderLease = t.LeaderLease
	}
	if c.Timeouts.Commit == 0 {
		c.Timeouts.Commit = t.Commit
	}
	if c.MaxFaultDuration == 0 {
		c.MaxFaultDuration = DefaultMaxFaultDuration
	}
	if c.MaxFaultDuration < 0 {
		return fmt.Errorf("coordinator: --max-fault-duration must be positive, not %s", c.MaxFaultDuration)
	}
	if c.WorkerLease == 0 {
		c.WorkerLease = 5 * time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 500 * time.Millisecond
	}
	if c.WorkerLostAfter == 0 {
		c.WorkerLostAfter = 2 * c.WorkerLease
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		reg := prometheus.NewRegistry()
		c.Registerer, c.Gatherer = reg, reg
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}
