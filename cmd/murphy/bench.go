package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks that need real processes (halt fan-out, a whole run on many targets)",
	}
	var (
		sizes  string
		o      benchOpts
		output string
	)
	halt := &cobra.Command{
		Use:   "halt",
		Short: "Measure halt fan-out, and coordinator memory and CPU per connected worker",
		Long: `Halt starts a cluster of --nodes coordinators as separate processes on loopback (mutual
TLS with a throwaway CA with --tls, as real clusters run), connects N lightweight workers
that speak the real worker protocol over real gRPC (one TCP connection each, in this
process; worker i starts at node i mod --nodes, as workers given every node's address do,
and any node holds it, relaying to the leader), presses halt --all, and
measures for every worker the time from the committed halt to its receipt (the worker
acknowledges at once).

Beside it runs the floor: a minimal gRPC server, as a process of its own, that holds the
same number of open worker streams with the same TLS setting and the coordinator's
connection options, and sends the same halt message, marshalled once, on all of them.
ratio_to_floor is Murphy's p99 over the floor's.

heap/worker is the live heap (after a garbage collection) every node gained per idle worker
added between half the workers and all of them: a worker's stream on the node holding it
and, on the leader, the relay of a follower's worker; each node's share is beside its
stream count. cpu/worker is the
coordinators' CPU (every node's process, user and system) from the halt call to the last
receipt, per worker.`,
		Example: `  murphy bench halt --workers 1000,10000 --nodes 3 --tls
  murphy bench halt --workers 1000 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", outputJSON); err != nil {
				return err
			}
			if o.nodes < 1 {
				return fmt.Errorf("--nodes: %d; a cluster needs at least 1", o.nodes)
			}
			var ns []int
			for _, s := range splitList(sizes) {
				n, err := strconv.Atoi(s)
				if err != nil || n < 1 {
					return fmt.Errorf("--workers: %q is not a positive number", s)
				}
				ns = append(ns, n)
			}
			dir, err := o.workdir("murphy-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			out := cmd.OutOrStdout()
			if output == "text" {
				printBenchHeader(out)
			}
			return benchSeries(out, output, len(ns), func(i int) (haltResult, error) {
				return benchHalt(cmd.Context(), fmt.Sprintf("%s/run%d", dir, i), ns[i], o)
			}, printBenchRow)
		},
	}
	halt.Flags().StringVar(&sizes, "workers", "100,1000,10000", "comma-separated worker counts")
	halt.Flags().IntVar(&o.nodes, "nodes", 1, "coordinators in the cluster (a Raft cluster on loopback)")
	halt.Flags().BoolVar(&o.tls, "tls", false, "mutual TLS everywhere, with a throwaway CA (default: --insecure)")
	halt.Flags().StringVarP(&output, "output", "o", "text", "text or json (json: an array, one object per size)")
	cmd.AddCommand(halt, newBenchRunCmd(), newBenchFloorCmd())
	return cmd
}

// workdir makes a temporary directory for a bench's clusters and, with TLS, its CA.
func (o *benchOpts) workdir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	if o.tls {
		if o.pki, err = newBenchPKI(dir + "/pki"); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// benchSeries makes n measurements and prints each as a text row as it comes, or all of
// them as one JSON array at the end.
func benchSeries[R any](out io.Writer, output string, n int, measure func(i int) (R, error), printText func(io.Writer, R)) error {
	var results []R
	for i := range n {
		r, err := measure(i)
		if err != nil {
			return err
		}
		results = append(results, r)
		if output != outputJSON {
			printText(out, r)
		}
	}
	if output == outputJSON {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(out, string(b))
	}
	return nil
}

type benchOpts struct {
	nodes int
	tls   bool
	pki   *benchPKI // with tls
}

// haltResult is one size's figures; the JSON names are what -o json prints.
type haltResult struct {
	Workers int  `json:"workers"`
	Nodes   int  `json:"nodes"`
	TLS     bool `json:"tls"`
	// From the committed halt to each worker's receipt of it.
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
	// The floor: from the send to each worker's receipt.
	FloorP50MS   float64 `json:"floor_p50_ms"`
	FloorP99MS   float64 `json:"floor_p99_ms"`
	FloorMaxMS   float64 `json:"floor_max_ms"`
	RatioToFloor float64 `json:"ratio_to_floor"`
	// Live heap every node gained per idle worker added: what a worker costs the cluster
	// (its stream on the node holding it, and on the leader the relay of a follower's).
	HeapPerWorker float64 `json:"heap_per_worker_bytes"`
	// Each node's share of it, by node ID.
	NodeHeapPerWorker map[string]float64 `json:"node_heap_per_worker_bytes"`
	// Every coordinator's CPU during the fan-out, per worker.
	CPUPerWorker float64 `json:"cpu_us_per_worker"`
	ConnectS     float64 `json:"connect_s"`
	Leader       string  `json:"leader"`
	// Streams per node, by node ID.
	Streams map[string]int `json:"streams"`
}

func printBenchHeader(out io.Writer) {
	fmt.Fprintf(out, "%8s %5s %5s %10s %10s %10s %10s %7s %12s %10s %8s  %s\n",
		"workers", "nodes", "tls", "p50", "p99", "max", "floor p99", "ratio", "heap/worker", "cpu/worker", "connect", "streams (heap share)")
}

func printBenchRow(out io.Writer, r haltResult) {
	ms := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + "ms" }
	var streams []string
	for _, id := range slices.Sorted(maps.Keys(r.Streams)) {
		s := fmt.Sprintf("%s=%d (%.1f KiB)", id, r.Streams[id], r.NodeHeapPerWorker[id]/1024)
		if id == r.Leader {
			s += "*"
		}
		streams = append(streams, s)
	}
	fmt.Fprintf(out, "%8d %5d %5t %10s %10s %10s %10s %6.2fx %8.1f KiB %8.1fµs %7.1fs  %s\n",
		r.Workers, r.Nodes, r.TLS, ms(r.P50MS), ms(r.P99MS), ms(r.MaxMS), ms(r.FloorP99MS), r.RatioToFloor,
		r.HeapPerWorker/1024, r.CPUPerWorker, r.ConnectS, strings.Join(streams, " "))
}

func benchHalt(ctx context.Context, dir string, n int, o benchOpts) (haltResult, error) {
	res := haltResult{Workers: n, Nodes: o.nodes, TLS: o.tls, Streams: map[string]int{}}
	workerCreds := func(int) credentials.TransportCredentials { return insecure.NewCredentials() }
	if o.pki != nil {
		if err := o.pki.issueWorkers(n); err != nil {
			return res, fmt.Errorf("issue worker certificates: %w", err)
		}
		workerCreds = func(i int) credentials.TransportCredentials { return o.pki.workers[i] }
	}
	if err := benchCoordinators(ctx, dir, n, o, workerCreds, &res); err != nil {
		return res, err
	}
	floor, err := benchFloor(ctx, n, o, workerCreds)
	if err != nil {
		return res, fmt.Errorf("floor: %w", err)
	}
	res.FloorP50MS, res.FloorP99MS, res.FloorMaxMS = floor[0], floor[1], floor[2]
	if res.FloorP99MS > 0 {
		res.RatioToFloor = res.P99MS / res.FloorP99MS
	}
	return res, nil
}

// benchCoordinators measures Murphy: the cluster, the workers on it, the halt.
func benchCoordinators(ctx context.Context, dir string, n int, o benchOpts, creds func(int) credentials.TransportCredentials, res *haltResult) error {
	c, err := startBenchCluster(ctx, dir, o.nodes, o.pki)
	if err != nil {
		return err
	}
	defer c.stop()
	res.Leader = c.leader.id
	// The heap a worker costs is the slope between half the workers and all of them:
	// measured from an empty node it would also count what the first connection
	// initialises once (descriptors, pools, caches), which no further worker costs.
	half := n / 2
	var workers []*benchWorker
	defer func() { closeBenchWorkers(workers) }()
	streamsOf := func() (map[string]int, error) {
		out := map[string]int{}
		for _, node := range c.nodes {
			v, err := c.gauge(node, "murphy_workers_connected")
			if err != nil {
				return nil, err
			}
			out[node.id] = int(v)
		}
		return out, nil
	}
	connect := func(from, to int) (map[string]float64, error) {
		start := time.Now()
		ws, err := connectBenchWorkers(ctx, from, to, c.addrs(), creds)
		workers = append(workers, ws...)
		if err != nil {
			return nil, err
		}
		res.ConnectS += time.Since(start).Seconds()
		// Idle means registered: let the registrations' log entries settle first.
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		heaps := map[string]float64{}
		for _, node := range c.nodes {
			if heaps[node.id], err = c.liveHeap(ctx, node); err != nil {
				return nil, err
			}
		}
		return heaps, nil
	}
	mid, err := connect(0, half)
	if err != nil {
		return err
	}
	after, err := connect(half, n)
	if err != nil {
		return err
	}
	if res.Streams, err = streamsOf(); err != nil {
		return err
	}
	held := 0
	res.NodeHeapPerWorker = map[string]float64{}
	for _, node := range c.nodes {
		held += res.Streams[node.id]
		res.NodeHeapPerWorker[node.id] = (after[node.id] - mid[node.id]) / float64(n-half)
		res.HeapPerWorker += res.NodeHeapPerWorker[node.id]
	}
	if held != n {
		leads := map[string]float64{}
		for _, node := range c.nodes {
			leads[node.id], _ = c.gauge(node, "murphy_cluster_leader")
		}
		return fmt.Errorf("%d of %d workers hold a stream to a coordinator (streams %v, leading %v; was %s)", held, n, res.Streams, leads, c.leader.id)
	}

	admin, err := c.adminCreds()
	if err != nil {
		return err
	}
	conn, err := benchDial(c.leader.grpc, admin)
	if err != nil {
		return err
	}
	defer conn.Close()
	cpu := func() (d time.Duration) {
		for _, node := range c.nodes {
			d += node.cpuTime()
		}
		return d
	}
	cpuBefore := cpu()
	lat, err := pressHalt(ctx, conn, workers)
	if err != nil {
		return err
	}
	res.CPUPerWorker = float64((cpu() - cpuBefore).Microseconds()) / float64(n)
	res.P50MS, res.P99MS, res.MaxMS = lat[0], lat[1], lat[2]
	return nil
}

// benchFloor measures the floor with the same workers and halt; it returns p50, p99, max.
func benchFloor(ctx context.Context, n int, o benchOpts, creds func(int) credentials.TransportCredentials) ([3]float64, error) {
	addr, stop, err := startFloor(o.pki)
	if err != nil {
		return [3]float64{}, err
	}
	defer stop()
	workers, err := connectBenchWorkers(ctx, 0, n, []string{addr}, creds)
	defer closeBenchWorkers(workers)
	if err != nil {
		return [3]float64{}, err
	}
	conn, err := benchDial(addr, creds(0))
	if err != nil {
		return [3]float64{}, err
	}
	defer conn.Close()
	return pressHalt(ctx, conn, workers)
}

// pressHalt calls HaltAll and returns p50, p99 and max, in milliseconds, of the time from
// the halt's stamp to each worker's receipt.
func pressHalt(ctx context.Context, conn *grpc.ClientConn, workers []*benchWorker) ([3]float64, error) {
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := murphyv1.NewExperimentServiceClient(conn).HaltAll(hctx, &murphyv1.HaltAllRequest{Reason: benchReason})
	if err != nil {
		return [3]float64{}, fmt.Errorf("halt all: %w", err)
	}
	committed := resp.Halt.At.AsTime()
	lat := make([]time.Duration, 0, len(workers))
	deadline := time.After(60 * time.Second)
	for _, w := range workers {
		select {
		case at := <-w.acked:
			lat = append(lat, at.Sub(committed))
		case <-deadline:
			return [3]float64{}, fmt.Errorf("only %d of %d workers received the halt within 60s", len(lat), len(workers))
		}
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return [3]float64{ms(lat[len(lat)/2]), ms(lat[min(len(lat)-1, len(lat)*99/100)]), ms(lat[len(lat)-1])}, nil
}

// connectBenchWorkers connects workers from to to-1 to addr; the workers are returned
// even on error, for closing.
// connectBenchWorkers connects workers from to to-1, worker i to addrs[i % len(addrs)]:
// spread over the nodes as workers given every node's address start at different ones.
func connectBenchWorkers(ctx context.Context, from, to int, addrs []string, creds func(int) credentials.TransportCredentials) ([]*benchWorker, error) {
	return connectEach(from, to, func(i int) (*benchWorker, error) {
		return connectBenchWorker(ctx, addrs[i%len(addrs)], benchWorkerID(i), creds(i))
	})
}

// connectEach calls connect for from to to-1, a bounded number at a time (each hello to a
// coordinator commits a registration), and returns what it made in order, even on error,
// for closing.
func connectEach[W any](from, to int, connect func(i int) (W, error)) ([]W, error) {
	workers := make([]W, to-from)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for i := from; i < to; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w, err := connect(i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			workers[i-from] = w
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return workers, fmt.Errorf("connect workers: %w", firstErr)
	}
	return workers, nil
}

func closeBenchWorkers(workers []*benchWorker) {
	for _, w := range workers {
		w.close()
	}
}

// benchWorker is a minimal worker: hello, heartbeats, and an acknowledgement for halts.
type benchWorker struct {
	*workerStream
	acked chan time.Time
}

func connectBenchWorker(ctx context.Context, addr, id string, creds credentials.TransportCredentials) (*benchWorker, error) {
	s, err := openWorkerStream(ctx, addr, &murphyv1.Hello{
		WorkerId: id, Labels: map[string]string{"region": "bench", "datacenter": "bench-1", "host": id},
	}, creds)
	if err != nil {
		return nil, err
	}
	w := &benchWorker{workerStream: s, acked: make(chan time.Time, 1)}
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for seq := uint64(1); ; seq++ {
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
				_ = s.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Heartbeat{Heartbeat: &murphyv1.Heartbeat{Seq: seq}}})
			}
		}
	}()
	go func() {
		for {
			m, err := s.stream.Recv()
			if err != nil {
				return
			}
			if h := m.GetHalt(); h != nil {
				now := time.Now()
				_ = s.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_HaltAck{HaltAck: &murphyv1.HaltAck{RunId: h.RunId}}})
				select {
				case w.acked <- now:
				default:
				}
			}
		}
	}()
	return w, nil
}

func (w *benchWorker) close() {
	if w != nil {
		w.workerStream.close()
	}
}

// workerStream is one lightweight worker's stream to the coordinator that welcomed it.
// send may be called from any goroutine; one goroutine receives.
type workerStream struct {
	conn    *grpc.ClientConn
	ctx     context.Context // done when the stream is closed
	cancel  context.CancelFunc
	stream  murphyv1.WorkerService_ConnectClient
	welcome *murphyv1.Welcome
	mu      sync.Mutex // serialises sends
}

// openWorkerStream connects like a worker: it says hello at addr, and at the leader a
// follower redirects it to, until a coordinator welcomes it.
func openWorkerStream(ctx context.Context, addr string, hello *murphyv1.Hello, creds credentials.TransportCredentials) (*workerStream, error) {
	for i := range 3 {
		s, redirect, err := dialWorkerStream(ctx, addr, hello, creds, i > 0)
		if err != nil || redirect == "" {
			return s, err
		}
		addr = redirect
	}
	return nil, fmt.Errorf("worker %s: redirected more than twice", hello.WorkerId)
}

// dialWorkerStream opens one stream; redirected marks it as a worker's does when it
// follows a redirect, so the node admits it whatever its share of the fleet.
func dialWorkerStream(ctx context.Context, addr string, hello *murphyv1.Hello, creds credentials.TransportCredentials, redirected bool) (s *workerStream, redirect string, err error) {
	conn, err := benchDial(addr, creds)
	if err != nil {
		return nil, "", err
	}
	sctx, cancel := context.WithCancel(ctx)
	octx := sctx
	if redirected {
		octx = metadata.AppendToOutgoingContext(sctx, worker.MetadataRedirected, "true")
	}
	stream, err := murphyv1.NewWorkerServiceClient(conn).Connect(octx)
	if err != nil {
		cancel()
		conn.Close()
		return nil, "", err
	}
	s = &workerStream{conn: conn, ctx: sctx, cancel: cancel, stream: stream}
	if err := s.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: hello}}); err != nil {
		s.close()
		return nil, "", err
	}
	first, err := stream.Recv()
	if r := first.GetRedirect(); err == nil && r != nil {
		s.close()
		return nil, r.LeaderAddr, nil
	}
	if err != nil || first.GetWelcome() == nil {
		s.close()
		return nil, "", fmt.Errorf("worker %s: no welcome (%v, %v)", hello.WorkerId, first, err)
	}
	s.welcome = first.GetWelcome()
	return s, "", nil
}

func (s *workerStream) send(m *murphyv1.ConnectRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(m)
}

func (s *workerStream) close() {
	s.cancel()
	s.conn.Close()
}
