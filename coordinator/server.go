package coordinator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/notify"
	"github.com/murphy-chaos/murphy/coordinator/policy"
	"github.com/murphy-chaos/murphy/coordinator/promsrc"
	"github.com/murphy-chaos/murphy/coordinator/runner"
	"github.com/murphy-chaos/murphy/internal/logging"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Server is one coordinator node.
type Server struct {
	cfg     Config
	log     *slog.Logger
	fsm     *fsm.FSM
	fleet   *fleet.Fleet
	raft    *raft.Raft
	trans   *raft.NetworkTransport
	store   *raftboltdb.BoltStore
	grpc    *grpc.Server
	grpcLis net.Listener
	http    *http.Server
	httpLis net.Listener
	health  *health.Server
	metrics *metrics
	prom    *promsrc.Client // nil without --prometheus-url
	tokens  []Token
	// tokenLookup finds a token's identity in constant time (auth.go); built once.
	tokenLookup func() func(string) (tlsutil.Identity, bool)
	signIn      signInCodes // one-time links to the pages (SignInURL)
	// TLS configurations; nil in insecure mode.
	serverTLS, clientTLS *tls.Config
	// policy says who may call each method and which node answers it; read once from
	// the contract's method options.
	policy *policy.Table

	mu           sync.Mutex
	runner       *runner.Runner
	cancelRunner context.CancelFunc
	leading      bool
	// term is closed and replaced whenever this node starts or stops leading, so the
	// worker streams it holds switch between serving and relaying.
	term  chan struct{}
	conns map[string]*grpc.ClientConn // gRPC address -> connection, for forwarding and relays
	// relayMD marks this node's relays of worker streams; one copy for all of them, since
	// gRPC only reads it.
	relayMD metadata.MD
	// relays is this node's one relay to the leader while it follows (relay.go);
	// relaysServed counts the relays it serves while it leads.
	relays       *relayClient
	relaysServed atomic.Int64

	halts *haltSender // halts.go

	watchers *watchHub
	webhooks *notify.Notifier // nil without webhooks (webhook.go)
	stop     chan struct{}
	wg       sync.WaitGroup
}

// New prepares a node: it opens the stores and binds the listeners but starts nothing.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("coordinator: create data dir: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "coordinator", "node", cfg.NodeID),
		fsm:      fsm.New(),
		fleet:    fleet.New(cfg.Now),
		conns:    map[string]*grpc.ClientConn{},
		relayMD:  metadata.Pairs(metadataForwarded, cfg.NodeID),
		term:     make(chan struct{}),
		watchers: newWatchHub(),
		stop:     make(chan struct{}),
		policy:   policy.Murphy(),
	}
	s.metrics = newMetrics(cfg.Registerer, s)
	s.fsm.Observe(s.watchers.notify)
	s.fsm.Observe(func(fsm.Change) { s.pokeRunner() })
	s.relays = &relayClient{s: s}
	s.halts = newHaltSender(s)
	s.fsm.Observe(s.halts.observe)
	s.fleet.SetMembership(s.fsm, func(w string, err error) { s.log.Warn("worker message dropped", "worker", w, "reason", err) })

	var err error
	if cfg.TLS != nil {
		if s.serverTLS, err = tlsutil.ServerConfig(*cfg.TLS); err != nil {
			return nil, fmt.Errorf("coordinator: %w", err)
		}
		if s.clientTLS, err = tlsutil.ClientConfig(*cfg.TLS); err != nil {
			return nil, fmt.Errorf("coordinator: %w", err)
		}
	} else {
		s.log.Warn("RUNNING WITHOUT TLS (--insecure): anyone who can reach this node can run faults on every worker")
	}
	if cfg.TokensFile != "" {
		if s.tokens, err = LoadTokens(cfg.TokensFile); err != nil {
			return nil, fmt.Errorf("coordinator: %w", err)
		}
	}
	s.tokenLookup = newTokenLookup(s.tokens)
	if cfg.Prometheus.URL != "" {
		if s.prom, err = promsrc.New(cfg.Prometheus); err != nil {
			return nil, fmt.Errorf("coordinator: %w", err)
		}
	}
	if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("coordinator: listen for gRPC on %s: %w", cfg.GRPCAddr, err)
	}
	if cfg.HTTPAddr != "" {
		if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			s.grpcLis.Close()
			return nil, fmt.Errorf("coordinator: listen for HTTP on %s: %w", cfg.HTTPAddr, err)
		}
	}
	if err := s.setupRaft(); err != nil {
		s.grpcLis.Close()
		if s.httpLis != nil {
			s.httpLis.Close()
		}
		return nil, err
	}
	s.setupGRPC()
	if err := s.setupWebhooks(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) setupRaft() error {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.cfg.NodeID)
	rc.HeartbeatTimeout = s.cfg.Timeouts.Heartbeat
	rc.ElectionTimeout = s.cfg.Timeouts.Election
	rc.LeaderLeaseTimeout = s.cfg.Timeouts.LeaderLease
	rc.CommitTimeout = s.cfg.Timeouts.Commit
	// Raft warns about routine events (an election starting, a follower catching up);
	// they belong in an operator's log only when it asks for info and above.
	raftLevel := hclog.Error
	if s.cfg.Logger.Enabled(context.Background(), slog.LevelInfo) {
		raftLevel = hclog.Warn
	}
	rc.Logger = logging.Hclog(s.cfg.Logger, "raft", raftLevel)
	notify := make(chan bool, 16)
	rc.NotifyCh = notify

	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(s.cfg.DataDir, "raft.db")})
	if err != nil {
		return fmt.Errorf("coordinator: open raft store: %w", err)
	}
	// Whatever fails from here closes what was opened, once.
	var trans *raft.NetworkTransport
	ok := false
	defer func() {
		if ok {
			return
		}
		store.Close()
		if trans != nil {
			trans.Close()
		}
	}()
	s.store = store
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.DataDir, 2, rc.Logger)
	if err != nil {
		return fmt.Errorf("coordinator: open snapshot store: %w", err)
	}
	var advertise net.Addr
	if s.cfg.RaftAdvertise != "" {
		if advertise, err = net.ResolveTCPAddr("tcp", s.cfg.RaftAdvertise); err != nil {
			return fmt.Errorf("coordinator: raft advertise address: %w", err)
		}
	}
	if s.cfg.TLS != nil {
		srv, cli, perr := tlsutil.PeerConfig(*s.cfg.TLS)
		if perr != nil {
			return fmt.Errorf("coordinator: %w", perr)
		}
		layer, lerr := newTLSStreamLayer(s.cfg.RaftAddr, advertise, srv, cli)
		if lerr != nil {
			return fmt.Errorf("coordinator: raft transport on %s: %w", s.cfg.RaftAddr, lerr)
		}
		trans = raft.NewNetworkTransportWithLogger(layer, 3, 5*time.Second, rc.Logger)
	} else if trans, err = raft.NewTCPTransportWithLogger(s.cfg.RaftAddr, advertise, 3, 5*time.Second, rc.Logger); err != nil {
		trans = nil // a failed constructor returns a nil *NetworkTransport
		return fmt.Errorf("coordinator: raft transport on %s: %w", s.cfg.RaftAddr, err)
	}
	s.trans = trans
	logs, err := raft.NewLogCache(512, store)
	if err != nil {
		return err
	}
	existing, err := raft.HasExistingState(logs, store, snaps)
	if err != nil {
		return fmt.Errorf("coordinator: inspect raft state: %w", err)
	}
	r, err := raft.NewRaft(rc, raftFSM{FSM: s.fsm, restored: s.halts.restored}, logs, store, snaps, trans)
	if err != nil {
		return fmt.Errorf("coordinator: start raft: %w", err)
	}
	ok = true // raft owns the store and the transport now; Close shuts them down
	s.raft = r
	s.wg.Add(1)
	go s.halts.run()
	if s.cfg.Bootstrap && !existing {
		f := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: trans.LocalAddr()}}})
		if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("coordinator: bootstrap: %w", err)
		}
	}
	s.wg.Add(1)
	go s.watchLeadership(notify)
	return nil
}

func (s *Server) setupGRPC() {
	opts := []grpc.ServerOption{
		// Authorization runs first: a follower checks the caller before forwarding, so
		// the leader may trust what a coordinator forwards.
		grpc.ChainUnaryInterceptor(s.authUnary, s.forwardUnary),
		grpc.ChainStreamInterceptor(s.authStream, s.forwardStream),
		grpc.MaxRecvMsgSize(4 << 20),
		// Notice peers that vanished without closing (a cut network, a killed host):
		// ping idle connections and drop those that do not answer.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	}
	opts = append(opts, ConnOptions(s.serverTLS != nil)...)
	if s.serverTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.serverTLS)))
	}
	s.grpc = grpc.NewServer(opts...)
	murphyv1.RegisterExperimentServiceServer(s.grpc, &experimentService{s: s})
	murphyv1.RegisterWorkerServiceServer(s.grpc, &workerService{s: s})
	murphyv1.RegisterClusterServiceServer(s.grpc, &clusterService{s: s})
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
}

// Per-connection buffers. Nearly every connection is a worker's stream of small messages
// (heartbeats, halts, acknowledgements of a few dozen bytes), and there are as many as
// there are hosts, so what a connection holds while idle is what the fleet costs. gRPC's
// defaults are sized for throughput: 32 KiB read and write buffers and windows that grow
// with the measured bandwidth.
//
//   - Write: gRPC takes the write buffer from a pool for each flush; 4 KiB bounds what a
//     halt sent to every stream at once borrows (10,000 streams: 40 MB, not 320 MB).
//   - Read: without TLS gRPC reads into pooled buffers and a connection holds none while
//     idle; through TLS it keeps a buffer of its own for the connection's lifetime, which
//     is redundant (tls.Conn buffers whole records), so it gets none.
//   - Windows: fixed at HTTP/2's 64 KiB instead of growing with bandwidth, which bounds
//     what a worker can make the node buffer. A larger message still passes: gRPC widens a
//     stream's window for the message it is reading (up to MaxRecvMsgSize).
const (
	connWriteBuffer = 4 << 10
	connReadBuffer  = 4 << 10
	connWindow      = 64 << 10
)

// ConnOptions are the per-connection options of a server whose connections are worker
// streams, with or without TLS. murphy bench halt gives them to its floor too, so that
// the floor differs from a coordinator only in what Murphy does.
func ConnOptions(tls bool) []grpc.ServerOption {
	read := connReadBuffer
	if tls {
		read = 0
	}
	return []grpc.ServerOption{
		grpc.WriteBufferSize(connWriteBuffer),
		grpc.ReadBufferSize(read),
		grpc.InitialWindowSize(connWindow),
		grpc.InitialConnWindowSize(connWindow),
		// No HPACK dynamic table: a worker's connection carries one stream, so its
		// headers are sent once and an indexed copy would only sit in memory.
		grpc.HeaderTableSize(0),
	}
}

// Start serves gRPC and HTTP and, for a joining node, asks the cluster for admission.
func (s *Server) Start(ctx context.Context) error {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.grpc.Serve(s.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("gRPC server stopped", "error", err)
		}
	}()
	if s.httpLis != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("/readyz", s.readyz)
		mux.Handle("/ui/", s.webHandler())
		s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
		// With TLS the pages are HTTPS with the node's certificate; a browser may present a
		// client certificate (its role is checked by the pages), and monitoring reads
		// /metrics, /healthz and /readyz without one.
		serve := func() error { return s.http.Serve(s.httpLis) }
		if s.serverTLS != nil {
			s.http.TLSConfig = s.serverTLS.Clone()
			serve = func() error { return s.http.ServeTLS(s.httpLis, "", "") }
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("HTTP server stopped", "error", err)
			}
		}()
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if len(s.cfg.Join) > 0 && !s.isMember() {
		return s.join(ctx)
	}
	return nil
}

// isMember reports whether this node already appears in the Raft configuration (a
// restarted node that joined before needs no new admission).
func (s *Server) isMember() bool {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == raft.ServerID(s.cfg.NodeID) {
			return true
		}
	}
	return false
}

func (s *Server) join(ctx context.Context) error {
	self := s.self()
	var last error
	for attempt := 0; ; attempt++ {
		for _, addr := range s.cfg.Join {
			conn, err := s.dial(addr)
			if err != nil {
				last = err
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = murphyv1.NewClusterServiceClient(conn).Join(cctx, &murphyv1.JoinRequest{Node: self})
			cancel()
			if err == nil {
				s.log.Info("joined cluster", "via", addr)
				return nil
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("coordinator: could not join the cluster through %v: %w", s.cfg.Join, last)
		case <-time.After(time.Duration(min(attempt+1, 10)) * 200 * time.Millisecond):
		}
	}
}

// self is this node's record as peers should see it.
func (s *Server) self() *murphyv1.Node {
	n := &murphyv1.Node{Id: s.cfg.NodeID, RaftAddr: string(s.trans.LocalAddr()), GrpcAddr: s.GRPCAddr(), Voter: true}
	if s.httpLis != nil {
		n.HttpAddr = s.httpLis.Addr().String()
	}
	return n
}

// GRPCAddr is the address clients and workers should use for this node.
func (s *Server) GRPCAddr() string {
	if s.cfg.GRPCAdvertise != "" {
		return s.cfg.GRPCAdvertise
	}
	return s.grpcLis.Addr().String()
}

// RaftAddr is the address peers dial for Raft: the advertised one, else the bound one
// (which tells a node started on port 0 where it listens).
func (s *Server) RaftAddr() string { return string(s.trans.LocalAddr()) }

// HTTPAddr is the bound HTTP address, or empty.
func (s *Server) HTTPAddr() string {
	if s.httpLis == nil {
		return ""
	}
	return s.httpLis.Addr().String()
}

// NodeID is this node's Raft ID.
func (s *Server) NodeID() string { return s.cfg.NodeID }

// FSM exposes the replicated state for reads.
func (s *Server) FSM() *fsm.FSM { return s.fsm }

// IsLeader reports whether this node leads.
func (s *Server) IsLeader() bool { return s.raft.State() == raft.Leader }

// Stop shuts the node down: the runner, streams, servers, raft and the stores.
func (s *Server) Stop() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.stopLeading()
	s.webhooks.Close()
	s.fleet.DropAll()
	s.watchers.closeAll()
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.http.Shutdown(ctx)
		cancel()
	}
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		s.grpc.Stop()
	}
	if err := s.raft.Shutdown().Error(); err != nil {
		s.log.Warn("raft shutdown", "error", err)
	}
	s.trans.Close()
	s.store.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = map[string]*grpc.ClientConn{}
	s.mu.Unlock()
	s.wg.Wait()
}

// watchLeadership starts and stops the leader's duties as Raft reports changes.
func (s *Server) watchLeadership(notify <-chan bool) {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case leader := <-notify:
			if leader {
				s.startLeading()
			} else {
				s.stopLeading()
			}
		}
	}
}

// After an election the new leader runs a Raft barrier before its runner starts. A
// failure is retried: barrierAttempts tries with doubling waits from barrierBackoff, and
// then leadership is handed to another node, since a leader without a runner runs
// nothing until the next election, which a healthy leader never triggers.
const (
	barrierAttempts   = 3
	barrierBackoff    = 500 * time.Millisecond
	barrierMaxBackoff = 5 * time.Second
)

// barrierFault, set only by tests before any node starts, fails a node's post-election
// barrier: a real barrier cannot be made to fail on demand while the node keeps leading.
var barrierFault func(nodeID string) error

// barrierRetry decides what a new leader does when its barrier fails.
type barrierRetry struct {
	barrier  func() error
	leading  func() bool
	stepDown func() error
	stop     <-chan struct{}
	log      *slog.Logger
	attempts int
	backoff  time.Duration
	max      time.Duration
}

// run returns true once a barrier passes on a node that still leads, and false when the
// node stopped leading (lost the election, handed leadership over) or is shutting down.
// When no other node can take over (a one-node cluster, or peers unreachable) the
// transfer fails and the barrier keeps being retried every max at most, with another
// hand-over after each further round of attempts: holding leadership without a runner
// is the one outcome this loop must not end in.
func (b barrierRetry) run() bool {
	wait := b.backoff
	for failures := 1; ; failures++ {
		err := b.barrier()
		if err == nil {
			select {
			case <-b.stop:
				// A runner started now would outlive Stop.
				return false
			default:
				return b.leading()
			}
		}
		if !b.leading() {
			b.log.Info("barrier after election failed and leadership is gone", "error", err)
			return false
		}
		if failures%b.attempts == 0 {
			b.log.Warn("barrier after election keeps failing; handing leadership to another node", "attempts", failures, "error", err)
			terr := b.stepDown()
			if terr == nil {
				return false
			}
			b.log.Warn("could not hand leadership over; retrying the barrier", "error", terr)
		} else {
			b.log.Warn("barrier after election failed; retrying", "attempt", failures, "in", wait, "error", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-b.stop:
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(2*wait, b.max)
	}
}

func (s *Server) startLeading() {
	won := s.cfg.Now() // events stamped from here on are this term's to announce
	// The barrier makes every entry committed by earlier leaders visible in our FSM
	// before we act on it.
	ok := barrierRetry{
		barrier: func() error {
			if barrierFault != nil {
				if err := barrierFault(s.cfg.NodeID); err != nil {
					return err
				}
			}
			return s.raft.Barrier(10 * time.Second).Error()
		},
		leading:  s.IsLeader,
		stepDown: func() error { return s.raft.LeadershipTransfer().Error() },
		stop:     s.stop,
		log:      s.log,
		attempts: barrierAttempts,
		backoff:  barrierBackoff,
		max:      barrierMaxBackoff,
	}.run()
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := runner.New(runner.Config{
		NodeID:         s.cfg.NodeID,
		FSM:            s.fsm,
		Fleet:          s.fleet,
		Apply:          s.apply,
		Now:            s.cfg.Now,
		Logger:         s.cfg.Logger,
		LostAfter:      s.cfg.WorkerLostAfter,
		WaitForWorkers: s.cfg.WaitForWorkers,
		Metrics:        s.metrics.runner,
		Prometheus:     s.prom,
		ScheduleLimits: s.cfg.ScheduleLimits,
		// Every node sends halts to the workers it holds (halts.go).
		NodesDeliverHalts: true,
	})
	s.mu.Lock()
	if s.leading {
		s.mu.Unlock()
		cancel()
		return
	}
	s.leading = true
	s.runner = r
	s.cancelRunner = cancel
	s.newTermLocked()
	s.mu.Unlock()
	s.metrics.leader.Set(1)
	s.log.Info("became leader")
	s.webhooks.Lead(s.fsm, won)
	if self := s.self(); !nodeEqual(s.fsm.Node(s.cfg.NodeID), self) {
		if err := s.propose(ctx, &murphyv1.Command{By: "node:" + s.cfg.NodeID, Cmd: &murphyv1.Command_RegisterNode{RegisterNode: &murphyv1.RegisterNode{Node: self}}}); err != nil {
			s.log.Warn("register self", "error", err)
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		r.Run(ctx)
	}()
}

func (s *Server) stopLeading() {
	s.mu.Lock()
	was := s.leading
	s.leading = false
	s.runner = nil
	if s.cancelRunner != nil {
		s.cancelRunner()
		s.cancelRunner = nil
	}
	if was {
		s.newTermLocked()
	}
	s.mu.Unlock()
	if was {
		s.webhooks.Follow()
		s.metrics.leader.Set(0)
		s.log.Info("lost leadership")
		// The workers connected here stay and are relayed to the new leader; streams
		// other nodes relayed here go back to them, to be relayed to the new leader.
		s.fleet.DropRelayed()
	}
}

// newTermLocked tells the worker streams this node holds that it started or stopped
// leading. s.mu must be held.
func (s *Server) newTermLocked() {
	close(s.term)
	s.term = make(chan struct{})
}

// termChanged is closed when this node next starts or stops leading.
func (s *Server) termChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.term
}

// leads reports whether this node leads with a runner: worker streams are served here
// rather than relayed from the moment the runner exists.
func (s *Server) leads() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leading
}

// currentRunner is the runner of this leadership term, or nil on a follower.
func (s *Server) currentRunner() *runner.Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runner
}

func (s *Server) pokeRunner() {
	s.mu.Lock()
	r := s.runner
	s.mu.Unlock()
	if r != nil {
		r.Poke()
	}
}

func nodeEqual(a, b *murphyv1.Node) bool {
	return a != nil && b != nil && a.Id == b.Id && a.RaftAddr == b.RaftAddr && a.GrpcAddr == b.GrpcAddr && a.HttpAddr == b.HttpAddr
}

// apply proposes cmd on this node (which must lead) and returns the FSM's verdict on it.
func (s *Server) apply(ctx context.Context, cmd *murphyv1.Command) error {
	data, err := fsm.Encode(cmd)
	if err != nil {
		return fmt.Errorf("encode command: %w", err)
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	start := time.Now()
	f := s.raft.Apply(data, timeout)
	if err := s.await(ctx, f); err != nil {
		switch {
		case errors.Is(err, errGaveUp):
			// Enqueued, so it may still commit: told as it is, never retried.
			return fmt.Errorf("%w: %v", ErrNotLeader, err)
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout):
			// Never appended: safe to send again.
			return fmt.Errorf("%w: %w: %v", ErrNotLeader, errNotApplied, err)
		case errors.Is(err, raft.ErrLeadershipLost):
			// Appended, and may yet commit under the next leader: a retry could apply
			// it twice, so the caller is told as it is.
			return fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		return fmt.Errorf("raft apply: %w", err)
	}
	s.metrics.applyDuration.Observe(time.Since(start).Seconds())
	if res, ok := f.Response().(error); ok && res != nil {
		return res
	}
	return nil
}

// errGaveUp means the caller stopped waiting for an entry raft had taken.
var errGaveUp = errors.New("stopped waiting for the commit")

// await waits for f, or until ctx ends or the node stops. Raft answers an entry it has
// taken only when it commits or leadership is lost, and one taken as the node stops
// leading can go unanswered: the leader's runner waits here, Stop waits for the runner,
// and a stop once hung there for good (TestHaltAllAndResume, 13 minutes).
func (s *Server) await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", errGaveUp, ctx.Err())
	case <-s.stop:
		return fmt.Errorf("%w: the node is stopping", errGaveUp)
	}
}

// dial returns a shared client connection to another node.
func (s *Server) dial(addr string) (*grpc.ClientConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.conns[addr]; ok {
		return c, nil
	}
	creds := insecure.NewCredentials()
	if s.clientTLS != nil {
		creds = credentials.NewTLS(s.clientTLS)
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	s.conns[addr] = c
	return c, nil
}

// leaderAddr returns the leader's ID and gRPC address as this node knows them.
func (s *Server) leaderAddr() (string, string) {
	_, id := s.raft.LeaderWithID()
	if id == "" {
		return "", ""
	}
	if n := s.fsm.Node(string(id)); n != nil {
		return n.Id, n.GrpcAddr
	}
	return string(id), ""
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if id, _ := s.leaderAddr(); id == "" {
		http.Error(w, "no leader", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}
