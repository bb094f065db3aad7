package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
)

// demoService is the small HTTP service murphy dev puts behind each worker: it answers
// after a short, slightly variable pause, like a real backend.
type demoService struct {
	srv *http.Server
	lis net.Listener
}

func startDemoService(addr string, base time.Duration) (*demoService, error) {
	return startDemoServiceWork(addr, base, 0)
}

// startDemoServiceWork also burns work of CPU per request, to stand in for a service that
// computes its answers (proxy benchmarks measure against it).
func startDemoServiceWork(addr string, base, work time.Duration) (*demoService, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo service: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		if work > 0 {
			spin(work)
		}
		if base > 0 {
			// Exponential jitter on top of a floor: a right-skewed latency distribution.
			time.Sleep(base + time.Duration(rand.ExpFloat64()*float64(base)/4))
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	d := &demoService{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, lis: lis}
	go func() { _ = d.srv.Serve(lis) }()
	return d, nil
}

// spin keeps the CPU busy for d.
func spin(d time.Duration) {
	x := uint64(1)
	for end := time.Now().Add(d); time.Now().Before(end); {
		for range 64 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	// Publish the result so the compiler cannot drop the loop.
	spinResult.Store(x)
}

var spinResult atomic.Uint64

func (d *demoService) URL() string { return "http://" + d.lis.Addr().String() }

func (d *demoService) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = d.srv.Shutdown(ctx)
}

func newDemoServiceCmd() *cobra.Command {
	var addr string
	var base, work time.Duration
	cmd := &cobra.Command{
		Use:    "demo-service",
		Short:  "Serve the demo HTTP service used by murphy dev and the compose deployment",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := startDemoServiceWork(addr, base, work)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "demo service on %s\n", d.URL())
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			<-ctx.Done()
			d.Close()
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil
			}
			return ctx.Err()
		},
	}
	cmd.Flags().StringVar(&addr, "listen", "127.0.0.1:9000", "address to serve on")
	cmd.Flags().DurationVar(&base, "latency", 2*time.Millisecond, "base response time (sleep)")
	cmd.Flags().DurationVar(&work, "work", 0, "CPU time burnt per request")
	return cmd
}
