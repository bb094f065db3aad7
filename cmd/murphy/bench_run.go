package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// runOpts configures one murphy bench run.
type runOpts struct {
	benchOpts
	targets   int
	interval  time.Duration
	baseline  time.Duration
	fault     time.Duration
	degrade   bool
	proxy     bool
	progress  io.Writer // progress lines; nil for none
	tolerance float64   // the hypothesis's relative tolerance
	guardrail float64   // the deviation guardrail's relative tolerance
}

// The fault of the run. The normal form injects a fault too small to move the steady
// state (1 ms on 1% of the experimental group's requests): it exercises the whole fault
// path (assign, inject, revert, windows) while the guardrail must stay quiet. --degrade
// slows every request of the experimental group by 50 ms, which the guardrail must halt.
const (
	runFaultNormal  = "{delay: 1ms, percent: 1}"
	runFaultDegrade = "{delay: 50ms}"
)

func newBenchRunCmd() *cobra.Command {
	o := runOpts{tolerance: 0.10, guardrail: 0.5}
	var (
		output string
		repeat int
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Measure a whole experiment on many targets: sample ingestion, leader CPU and memory, verdict time",
		Long: `Run starts a cluster of --nodes coordinators as separate processes on loopback (mutual TLS
with a throwaway CA with --tls), connects --targets lightweight workers in this process
(one real gRPC stream each, the real worker protocol), submits a real experiment and
waits for its verdict.

Each worker probes its target every --interval with the worker's own probe code; its
samples are buffered and batched as a worker's are, and judged by the leader's runner
like any run's. The target answers from memory after 2 ms, and the worker's http.delay
and http.abort act on it, so a fault really changes what the probes measure. With
--proxy each worker instead has its own HTTP fault proxy (the worker's own,
worker/fault/httpfault) in front of one tiny HTTP server on loopback shared by all, and
probes through it: the path users run, but at eight socket calls a probe it costs the
bench more CPU than a small machine has for 2,000 targets a second. The experiment splits
the targets in two halves, observes both for --baseline, then injects http.delay on the
experimental half for --fault under a deviation guardrail (relative 0.5). The fault is
1 ms on 1% of requests: real, but too small to move the steady state, so the guardrail
must not halt. With --degrade it is 50 ms on every request, and the guardrail must halt
the run; the bench then reports the halt's times from the fault's start.

Reported: samples the leader ingested per second while every target probed (its
murphy_samples_ingested_total), and in all against what the workers sent; the leader's
CPU (user and system, /proc) from the submission to the verdict, as seconds and as a
share of one core; its peak heap in use and live heap (scraped every 2 s) and peak RSS
(VmHWM, over the process's life); the time from the end of the fault to the verdict; the
verdict; and the guardrail's looks (distinct tested looks seen on the run's watch
stream), how close it came to a halt, and the monitor's evaluations.`,
		Example: `  murphy bench run
  murphy bench run --targets 2000 --nodes 3 --tls
  murphy bench run --targets 2000 --degrade
  murphy bench run --targets 50 --baseline 5s --fault 5s -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", outputJSON); err != nil {
				return err
			}
			switch {
			case o.nodes < 1:
				return fmt.Errorf("--nodes: %d; a cluster needs at least 1", o.nodes)
			case o.targets < 8:
				return fmt.Errorf("--targets: %d; the guardrail needs at least 4 targets per group, so at least 8", o.targets)
			case o.interval <= 0 || o.baseline <= 0 || o.fault <= 0:
				return errors.New("--interval, --baseline and --fault must be positive")
			case repeat < 1:
				return fmt.Errorf("--repeat: %d; at least 1", repeat)
			}
			dir, err := o.workdir("murphy-bench-run-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			out := cmd.OutOrStdout()
			if output == "text" {
				o.progress = cmd.ErrOrStderr()
			}
			return benchSeries(out, output, repeat, func(i int) (runResult, error) {
				return benchRun(cmd.Context(), fmt.Sprintf("%s/run%d", dir, i), o)
			}, printRunResult)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.targets, "targets", 2000, "lightweight workers, split into two equal groups")
	f.IntVar(&o.nodes, "nodes", 1, "coordinators in the cluster (a Raft cluster on loopback)")
	f.BoolVar(&o.tls, "tls", false, "mutual TLS everywhere, with a throwaway CA (default: --insecure)")
	f.DurationVar(&o.interval, "interval", time.Second, "probe interval")
	f.DurationVar(&o.baseline, "baseline", 30*time.Second, "baseline before the fault")
	f.DurationVar(&o.fault, "fault", time.Minute, "the fault's duration")
	f.BoolVar(&o.degrade, "degrade", false, "the fault slows the experimental group's probes by 50 ms, so the guardrail must halt the run")
	f.BoolVar(&o.proxy, "proxy", false, "probe through a real HTTP fault proxy per worker to a shared HTTP server on loopback (eight socket calls per probe: more than a small machine has for 2,000 targets)")
	f.IntVar(&repeat, "repeat", 1, "runs, each on a fresh cluster")
	f.StringVarP(&output, "output", "o", "text", "text or json (json: an array, one object per run)")
	return cmd
}

// runResult is one run's figures; the JSON names are what -o json prints.
type runResult struct {
	Targets   int     `json:"targets"`
	Nodes     int     `json:"nodes"`
	TLS       bool    `json:"tls"`
	IntervalS float64 `json:"interval_s"`
	BaselineS float64 `json:"baseline_s"`
	FaultS    float64 `json:"fault_s"`
	Degrade   bool    `json:"degrade"`
	Proxy     bool    `json:"proxy"`
	ConnectS  float64 `json:"connect_s"`
	RunID     string  `json:"run_id"`
	// completed or halted (failed ends the bench with an error).
	Phase   string `json:"phase"`
	Verdict string `json:"verdict"`
	Reason  string `json:"verdict_reason"`
	// From the end of the fault (the step's committed end) to the verdict's decision, and
	// the part of it spent analysing (from the committed start of that phase). The fault's
	// overrun is how much longer than planned the step lasted, start to end as committed:
	// the leader's loop ends it at the first tick past its deadline.
	VerdictAfterFaultS float64 `json:"verdict_after_fault_s"`
	AnalysingS         float64 `json:"analysing_s"`
	FaultOverrunS      float64 `json:"fault_overrun_s"`
	// Samples: the leader's rate while every target probed, its total over the run, what
	// the workers sent, and what the probes should have taken (targets × probing time).
	SamplesPerS     float64 `json:"samples_per_s"`
	SamplesIngested int64   `json:"samples_ingested"`
	SamplesSent     int64   `json:"samples_sent"`
	ProbingS        float64 `json:"probing_s"`
	// The leader's process from the submission to the verdict.
	RunS          float64 `json:"run_s"`
	LeaderCPUS    float64 `json:"leader_cpu_s"`
	LeaderCPUPct  float64 `json:"leader_cpu_pct"`
	PeakHeapBytes float64 `json:"leader_peak_heap_bytes"`
	PeakLiveBytes float64 `json:"leader_peak_live_heap_bytes"`
	PeakRSSBytes  float64 `json:"leader_peak_rss_bytes"`
	// The deviation guardrail.
	GuardrailLooks       int     `json:"guardrail_looks"`
	GuardrailCloseness   float64 `json:"guardrail_max_closeness"`
	GuardrailLast        string  `json:"guardrail_last"`
	GuardrailEvaluations int64   `json:"guardrail_evaluations"`
	// Faults injected by the workers, and assignments they refused.
	Injected int64 `json:"faults_injected"`
	Failed   int64 `json:"assignments_failed"`
	// --degrade: from the fault's start (the committed step) to the committed halt, and
	// to the last worker's acknowledgement of it.
	HaltAfterS       float64 `json:"halt_after_fault_start_s,omitempty"`
	HaltAckedAfterS  float64 `json:"halt_acked_after_fault_start_s,omitempty"`
	HaltFanoutMS     float64 `json:"halt_fanout_ms,omitempty"`
	HaltAcknowledged int     `json:"halt_acknowledged,omitempty"`
}

func printRunResult(out io.Writer, r runResult) {
	sec := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + "s" }
	mib := func(v float64) string { return strconv.FormatFloat(v/(1<<20), 'f', 0, 64) + " MiB" }
	tls := "insecure"
	if r.TLS {
		tls = "mutual TLS"
	}
	fault := "http.delay " + runFaultNormal
	if r.Degrade {
		fault = "http.delay " + runFaultDegrade
	}
	fmt.Fprintf(out, "run %s: %d targets, %d node(s), %s; probes every %s, baseline %s, fault %s (%s); workers connected in %s\n",
		r.RunID, r.Targets, r.Nodes, tls, sec(r.IntervalS), sec(r.BaselineS), sec(r.FaultS), fault, sec(r.ConnectS))
	if r.Verdict != "" {
		fmt.Fprintf(out, "  verdict    %s (%s), %s after the fault ended (%s analysing; the fault ended %s late): %s\n",
			r.Verdict, r.Phase, sec(r.VerdictAfterFaultS), sec(r.AnalysingS), sec(r.FaultOverrunS), r.Reason)
	} else {
		fmt.Fprintf(out, "  verdict    none (%s): %s\n", r.Phase, r.Reason)
	}
	fmt.Fprintf(out, "  samples    %.0f/s ingested by the leader while every target probed; %d in all, %d sent by the workers over %s of probing\n",
		r.SamplesPerS, r.SamplesIngested, r.SamplesSent, sec(r.ProbingS))
	fmt.Fprintf(out, "  leader     CPU %s over %s (%.1f%% of one core); peak heap in use %s (live %s), peak RSS %s\n",
		sec(r.LeaderCPUS), sec(r.RunS), r.LeaderCPUPct, mib(r.PeakHeapBytes), mib(r.PeakLiveBytes), mib(r.PeakRSSBytes))
	fmt.Fprintf(out, "  guardrail  %d looks, at most %.0f%% of the way to a halt, %d evaluations; last: %s\n",
		r.GuardrailLooks, 100*r.GuardrailCloseness, r.GuardrailEvaluations, r.GuardrailLast)
	fmt.Fprintf(out, "  faults     %d injected, %d assignments refused\n", r.Injected, r.Failed)
	if r.Degrade {
		fmt.Fprintf(out, "  halt       committed %s after the fault started, %d workers acknowledged by %s (fan-out %.0fms)\n",
			sec(r.HaltAfterS), r.HaltAcknowledged, sec(r.HaltAckedAfterS), r.HaltFanoutMS)
	}
}

// runSpec is the experiment the bench submits. It allows underpowered runs: the bench
// measures the whole path, fault included, at any size, and a small run that could not
// settle the question says so in its verdict (inconclusive) instead of ending before the
// fault.
func runSpec(o runOpts) string {
	half := o.targets / 2
	fault := runFaultNormal
	if o.degrade {
		fault = runFaultDegrade
	}
	return fmt.Sprintf(`apiVersion: murphy/v1
name: bench-run
description: The bench's targets keep their probe latency under an HTTP fault on half of them.
targets:
  selector: {service: bench}
  experiment: {count: %[1]d}
  control: {count: %[1]d}
  blastRadius: {maxWorkers: %[1]d, maxPercentPerDatacenter: 50}
hypothesis:
  metrics:
    - name: latency
      source: {probe: {http: {url: "http://{{proxy}}/", interval: %[2]s, timeout: 2s}, measure: latency}}
      direction: increase
      tolerance: {relative: %[3]g}
  confidence: 0.95
  allowUnderpowered: true
abort:
  - metric: latency
    deviation: {relative: %[4]g}
baseline: %[5]s
steps:
  - fault: http.delay
    params: %[6]s
    duration: %[7]s
`, half, o.interval, o.tolerance, o.guardrail, o.baseline, fault, o.fault)
}

// leaderPoint is one scrape of the leader.
type leaderPoint struct {
	at                   time.Time
	ingested, heap, live float64
	evaluations          float64
}

func benchRun(ctx context.Context, dir string, o runOpts) (runResult, error) {
	res := runResult{Targets: o.targets, Nodes: o.nodes, TLS: o.tls, IntervalS: o.interval.Seconds(),
		BaselineS: o.baseline.Seconds(), FaultS: o.fault.Seconds(), Degrade: o.degrade, Proxy: o.proxy}
	say := func(format string, args ...any) {
		if o.progress != nil {
			fmt.Fprintf(o.progress, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
		}
	}
	creds := func(int) credentials.TransportCredentials { return insecure.NewCredentials() }
	if o.pki != nil {
		if err := o.pki.issueWorkers(o.targets); err != nil {
			return res, fmt.Errorf("issue worker certificates: %w", err)
		}
		creds = func(i int) credentials.TransportCredentials { return o.pki.workers[i] }
	}
	upstream := "" // the in-memory targets
	if o.proxy {
		var stop func()
		var err error
		if upstream, stop, err = startProbeTarget(); err != nil {
			return res, err
		}
		defer stop()
	}
	c, err := startBenchCluster(ctx, dir, o.nodes, o.pki)
	if err != nil {
		return res, err
	}
	defer c.stop()
	leader := c.leader

	// With --proxy, one transport for every worker's probes: each proxy is a host of its
	// own, so each worker still gets its own keep-alive connection, as with a private
	// transport.
	tr := &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	say("connecting %d workers", o.targets)
	start := time.Now()
	workers, err := connectEach(0, o.targets, func(i int) (*runWorker, error) {
		return connectRunWorker(ctx, c.nodes[i%len(c.nodes)].grpc, i, o.interval*time.Duration(i)/time.Duration(o.targets), creds(i), upstream, tr)
	})
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()
	if err != nil {
		return res, err
	}
	res.ConnectS = time.Since(start).Seconds()
	lctx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	go runWorkerLoop(lctx, workers)

	admin, err := c.adminCreds()
	if err != nil {
		return res, err
	}
	conn, err := benchDial(leader.grpc, admin)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	exp := murphyv1.NewExperimentServiceClient(conn)

	scrape := func() (leaderPoint, error) {
		m, err := c.scrape(leader)
		return leaderPoint{at: time.Now(), ingested: m["murphy_samples_ingested_total"], heap: m["go_memstats_heap_inuse_bytes"],
			live: m["go_gc_heap_live_bytes"], evaluations: m["murphy_guardrail_evaluations_total"]}, err
	}
	first, err := scrape()
	if err != nil {
		return res, err
	}
	var (
		mu     sync.Mutex
		points = []leaderPoint{first}
	)
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				if p, err := scrape(); err == nil {
					mu.Lock()
					points = append(points, p)
					mu.Unlock()
				}
			}
		}
	}()

	cpu0, t0 := leader.cpuTime(), time.Now()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	sub, err := exp.Submit(sctx, &murphyv1.SubmitRequest{Spec: []byte(runSpec(o)), Filename: "bench-run.yaml"})
	cancel()
	if err != nil {
		return res, fmt.Errorf("submit: %w", err)
	}
	res.RunID = sub.GetRun().GetId()
	say("submitted run %s", res.RunID)
	run, g, err := watchBenchRun(ctx, exp, res.RunID, o.baseline+o.fault+3*time.Minute, say)
	if err != nil {
		return res, err
	}
	cpu1, t1 := leader.cpuTime(), time.Now()
	res.RunS = t1.Sub(t0).Seconds()
	res.LeaderCPUS = (cpu1 - cpu0).Seconds()
	res.LeaderCPUPct = 100 * res.LeaderCPUS / res.RunS
	res.PeakRSSBytes = leader.peakRSS()
	res.GuardrailLooks, res.GuardrailCloseness, res.GuardrailLast = g.looks, g.closeness, g.last
	res.Phase = fsm.PhaseName(run.Phase)
	if run.Phase == murphyv1.RunPhase_RUN_PHASE_FAILED {
		return res, fmt.Errorf("run %s failed: %s", run.Id, run.Error)
	}
	if v := run.GetVerdict(); v != nil {
		res.Verdict = strings.ToLower(strings.TrimPrefix(v.Outcome.String(), "VERDICT_OUTCOME_"))
		res.Reason = v.Reason
	}
	if len(run.Steps) == 0 {
		return res, fmt.Errorf("run %s ended without a fault step (%s: %s)", run.Id, res.Phase, res.Reason)
	}
	step := run.Steps[len(run.Steps)-1]
	faultStart, faultEnd := run.Steps[0].GetStartedAt().AsTime(), step.GetEndedAt().AsTime()
	if v := run.GetVerdict(); v != nil && step.GetEndedAt() != nil {
		res.VerdictAfterFaultS = v.GetDecidedAt().AsTime().Sub(faultEnd).Seconds()
		if !g.analysingSince.IsZero() {
			res.AnalysingS = v.GetDecidedAt().AsTime().Sub(g.analysingSince).Seconds()
		}
		res.FaultOverrunS = faultEnd.Sub(faultStart).Seconds() - o.fault.Seconds()
	}
	probingEnd := faultEnd
	if h := run.GetHalt(); h != nil {
		probingEnd = h.GetAt().AsTime()
		res.HaltAfterS = probingEnd.Sub(faultStart).Seconds()
		// A deviation halt's reason names every target beyond the tolerance: thousands.
		res.Reason = h.GetReason()
		if len(res.Reason) > 300 {
			res.Reason = res.Reason[:300] + "…"
		}
		// The run is halted once the halt is committed; the fan-out may still be going.
		_ = waitFor(ctx, 30*time.Second, func() bool {
			return !slices.ContainsFunc(workers, func(w *runWorker) bool { return w.haltAt.Load() == 0 })
		})
		var last time.Time
		for _, w := range workers {
			if at := w.haltAt.Load(); at != 0 {
				res.HaltAcknowledged++
				if t := time.Unix(0, at); t.After(last) {
					last = t
				}
			}
		}
		if !last.IsZero() {
			res.HaltAckedAfterS = last.Sub(faultStart).Seconds()
			res.HaltFanoutMS = float64(last.Sub(probingEnd).Microseconds()) / 1000
		}
	}

	// Everything the workers took goes to the leader before the books are closed: the
	// probes stop (StopProbes after the verdict, or the halt), the buffers are flushed, and
	// the leader's count catches up with what was sent.
	_ = waitFor(ctx, 15*time.Second, func() bool {
		return !slices.ContainsFunc(workers, (*runWorker).probing)
	})
	for _, w := range workers {
		w.flush()
		res.SamplesSent += w.sent.Load()
		res.Injected += w.injected.Load()
		res.Failed += w.failures.Load()
	}
	var last leaderPoint
	_ = waitFor(ctx, 15*time.Second, func() bool {
		p, err := scrape()
		if err == nil {
			last = p
		}
		return err == nil && int64(p.ingested-first.ingested) >= res.SamplesSent
	})
	stopLoop()
	<-pollDone
	res.SamplesIngested = int64(last.ingested - first.ingested)
	res.GuardrailEvaluations = int64(last.evaluations - first.evaluations)
	points = append(points, last)
	for _, p := range points {
		res.PeakHeapBytes = max(res.PeakHeapBytes, p.heap)
		res.PeakLiveBytes = max(res.PeakLiveBytes, p.live)
	}
	// The rate while every target probed: from a few seconds into the baseline (the probes
	// start as StartProbes reaches each worker) to the end of the fault or the halt.
	from, to := g.baselineSince.Add(3*o.interval), probingEnd
	res.ProbingS = probingEnd.Sub(g.baselineSince).Seconds()
	var in []leaderPoint
	for _, p := range points {
		if !p.at.Before(from) && !p.at.After(to) {
			in = append(in, p)
		}
	}
	if len(in) >= 2 {
		a, b := in[0], in[len(in)-1]
		res.SamplesPerS = (b.ingested - a.ingested) / b.at.Sub(a.at).Seconds()
	}
	return res, nil
}

// guardWatch is what the watch stream showed of the deviation guardrail.
type guardWatch struct {
	looks         int
	closeness     float64
	last          string
	baselineSince time.Time
	// analysingSince stays zero when the watch missed the phase (it sends the latest
	// state, and a short phase may pass between two updates).
	analysingSince time.Time
}

// watchBenchRun follows the run to its end and returns it as it ended.
func watchBenchRun(ctx context.Context, exp murphyv1.ExperimentServiceClient, id string, timeout time.Duration, say func(string, ...any)) (*murphyv1.Run, guardWatch, error) {
	var g guardWatch
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stream, err := exp.Watch(wctx, &murphyv1.WatchRequest{RunId: id})
	if err != nil {
		return nil, g, fmt.Errorf("watch %s: %w", id, err)
	}
	var last *murphyv1.Run
	phase := murphyv1.RunPhase_RUN_PHASE_UNSPECIFIED
	seen := map[string]bool{}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, g, fmt.Errorf("watch %s: %w", id, err)
		}
		last = resp.Run
		if last.Phase != phase {
			phase = last.Phase
			switch phase {
			case murphyv1.RunPhase_RUN_PHASE_BASELINE:
				g.baselineSince = last.GetPhaseSince().AsTime()
			case murphyv1.RunPhase_RUN_PHASE_ANALYSING:
				g.analysingSince = last.GetPhaseSince().AsTime()
			}
			say("%s", progressLine(resp))
		}
		for _, st := range resp.Guardrails {
			if !strings.HasPrefix(st.Guardrail, "deviation") {
				continue
			}
			if st.Threshold != 0 || st.RelChange != 0 {
				// A look that tested: each has its own statistic.
				key := fmt.Sprint(st.Value, st.Threshold, st.RelChange, st.Note)
				if !seen[key] {
					seen[key] = true
					g.looks++
				}
			}
			g.closeness = max(g.closeness, st.Closeness)
			g.last = st.Note
			if st.Threshold != 0 {
				g.last = fmt.Sprintf("experiment %s vs control, t %.2f against %.2f", pct(st.RelChange), st.Value, st.Threshold)
				if st.Note != "" {
					g.last += " (" + st.Note + ")"
				}
			}
		}
	}
	if last == nil || !fsm.Terminal(last.Phase) {
		return nil, g, fmt.Errorf("watch of %s ended before the run did", id)
	}
	if g.baselineSince.IsZero() {
		g.baselineSince = last.GetCreatedAt().AsTime()
	}
	return last, g, nil
}

// peakRSS is the node's peak resident set (VmHWM) in bytes; zero where there is no /proc.
func (n *benchNode) peakRSS() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}
