package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks that need real processes (halt fan-out, coordinator memory)",
	}
	var sizes string
	halt := &cobra.Command{
		Use:   "halt",
		Short: "Measure halt fan-out and coordinator memory per connected worker",
		Long: `Halt starts a coordinator as a separate process, connects N lightweight workers that
speak the real worker protocol over real gRPC on loopback (one TCP connection each),
presses halt --all, and measures for every worker the time from the committed halt to
its acknowledgement. It also reads the coordinator's heap before and after the workers
connect, for the memory each idle worker costs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ns []int
			for _, s := range splitList(sizes) {
				n, err := strconv.Atoi(s)
				if err != nil || n < 1 {
					return fmt.Errorf("--workers: %q is not a positive number", s)
				}
				ns = append(ns, n)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%8s %10s %10s %10s %10s %14s\n", "workers", "p50", "p99", "max", "connect", "heap/worker")
			for _, n := range ns {
				r, err := benchHalt(cmd.Context(), n)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "%8d %10s %10s %10s %10s %11.1f KiB\n", n, r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond),
					r.max.Round(100*time.Microsecond), r.connect.Round(100*time.Millisecond), r.heapPerWorker/1024)
			}
			return nil
		},
	}
	halt.Flags().StringVar(&sizes, "workers", "100,1000,10000", "comma-separated worker counts")
	cmd.AddCommand(halt)
	return cmd
}

type haltResult struct {
	p50, p99, max, connect time.Duration
	heapPerWorker          float64
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func benchHalt(ctx context.Context, n int) (haltResult, error) {
	var res haltResult
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp("", "murphy-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	grpcAddr, _ := freePort()
	raftAddr, _ := freePort()
	httpAddr, _ := freePort()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	coord := exec.CommandContext(cctx, self, "coordinator", "--node-id", "bench", "--data-dir", filepath.Join(dir, "n"), "--bootstrap",
		"--grpc-addr", grpcAddr, "--raft-addr", raftAddr, "--http-addr", httpAddr, "--log-level", "error",
		"--worker-lease", "30s", "--worker-lost-after", "5m", "--insecure")
	coord.Stderr = os.Stderr
	if err := coord.Start(); err != nil {
		return res, err
	}
	defer func() { cancel(); _ = coord.Wait() }()
	if err := waitFor(ctx, 20*time.Second, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}); err != nil {
		return res, fmt.Errorf("bench coordinator not ready: %w", err)
	}
	heapBefore, err := scrapeGauge(httpAddr, "go_memstats_heap_inuse_bytes")
	if err != nil {
		return res, err
	}

	// Connect the workers, a bounded number at a time (each hello commits a
	// registration).
	workers := make([]*benchWorker, n)
	start := time.Now()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w, err := connectBenchWorker(cctx, grpcAddr, fmt.Sprintf("bw-%05d", i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			workers[i] = w
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return res, fmt.Errorf("connect workers: %w", firstErr)
	}
	res.connect = time.Since(start)
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()
	time.Sleep(2 * time.Second) // let registrations settle before reading the heap
	heapAfter, err := scrapeGauge(httpAddr, "go_memstats_heap_inuse_bytes")
	if err != nil {
		return res, err
	}
	res.heapPerWorker = (heapAfter - heapBefore) / float64(n)

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return res, err
	}
	defer conn.Close()
	hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
	defer hcancel()
	resp, err := murphyv1.NewExperimentServiceClient(conn).HaltAll(hctx, &murphyv1.HaltAllRequest{Reason: "bench"})
	if err != nil {
		return res, fmt.Errorf("halt all: %w", err)
	}
	committed := resp.Halt.At.AsTime()
	var lat []time.Duration
	deadline := time.After(30 * time.Second)
	for _, w := range workers {
		select {
		case at := <-w.acked:
			lat = append(lat, at.Sub(committed))
		case <-deadline:
			return res, fmt.Errorf("only %d of %d workers acknowledged the halt within 30s", len(lat), n)
		}
	}
	slices.Sort(lat)
	res.p50 = lat[len(lat)/2]
	res.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	res.max = lat[len(lat)-1]
	return res, nil
}

// benchWorker is a minimal worker: hello, heartbeats, and an acknowledgement for halts.
type benchWorker struct {
	conn   *grpc.ClientConn
	cancel context.CancelFunc
	acked  chan time.Time
}

func connectBenchWorker(ctx context.Context, addr, id string) (*benchWorker, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := murphyv1.NewWorkerServiceClient(conn).Connect(sctx)
	if err != nil {
		cancel()
		conn.Close()
		return nil, err
	}
	w := &benchWorker{conn: conn, cancel: cancel, acked: make(chan time.Time, 1)}
	if err := stream.Send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: &murphyv1.Hello{
		WorkerId: id, Labels: map[string]string{"region": "bench", "datacenter": "bench-1", "host": id},
	}}}); err != nil {
		w.close()
		return nil, err
	}
	first, err := stream.Recv()
	if err != nil || first.GetWelcome() == nil {
		w.close()
		return nil, fmt.Errorf("worker %s: no welcome (%v, %v)", id, first, err)
	}
	var sendMu sync.Mutex
	send := func(m *murphyv1.ConnectRequest) {
		sendMu.Lock()
		defer sendMu.Unlock()
		_ = stream.Send(m)
	}
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for seq := uint64(1); ; seq++ {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Heartbeat{Heartbeat: &murphyv1.Heartbeat{Seq: seq}}})
			}
		}
	}()
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					return
				}
				return
			}
			if h := m.GetHalt(); h != nil {
				now := time.Now()
				send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_HaltAck{HaltAck: &murphyv1.HaltAck{RunId: h.RunId}}})
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
	if w == nil {
		return
	}
	w.cancel()
	w.conn.Close()
}

// scrapeGauge reads one unlabelled gauge from a Prometheus text endpoint.
func scrapeGauge(addr, name string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found at %s", name, addr)
}
