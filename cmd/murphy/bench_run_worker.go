package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/httpfault"
	"github.com/murphy-chaos/murphy/worker/probe"
)

// runWorker is the lightweight worker of murphy bench run. What the coordinator sees is
// a worker's: the real wire protocol on a stream of its own, samples taken by the
// worker's own probe code (worker/probe, buffered and batched as the agent does), and
// http.delay and http.abort injected and reverted on what its probes pass through (its
// in-memory target, or with --proxy a real HTTP fault proxy, worker/fault/httpfault,
// driven by the worker's own executors), so a fault really changes what the probes
// measure. What it leaves out is what a worker needs to survive crashes and lost
// coordinators: the journal, the dead-man's switch, reconnection and replay. Its faults
// still end at their deadlines.
type runWorker struct {
	id string
	// phase delays the worker's first probe of a run. On one machine, thousands of
	// probes started by the same fan-out would otherwise fire in the same millisecond
	// every interval and queue behind each other for the CPU, which hosts of a real fleet
	// do not; spread evenly over the interval, they arrive at the leader as a fleet's do.
	phase time.Duration
	s     *workerStream
	// The probes' {{proxy}} and transport: the worker's proxy and a shared transport, or
	// a name and the worker's in-memory target.
	probeAddr string
	tr        http.RoundTripper
	proxy     *httpfault.Proxy // nil with the in-memory target
	execs     map[string]fault.Executor

	mu     sync.Mutex // guards runs, faults, done, and orders the statuses sent
	runs   map[string]*runProbes
	faults map[string]*runFault
	done   map[string]*murphyv1.StepStatus // final statuses, by assignment

	// flushMu keeps a flush's batches together: batches sent out of order would make the
	// leader drop the earlier ones as already seen (it deduplicates by sequence number).
	flushMu  sync.Mutex
	sent     atomic.Int64 // samples sent on the stream
	injected atomic.Int64
	haltAt   atomic.Int64 // unix nanoseconds of the first halt acknowledged; 0 before
	failures atomic.Int64 // assignments refused
}

type runProbes struct {
	start   *time.Timer // starts the probes at the worker's phase
	set     *probe.Set  // nil before the start and once stopped
	buf     *probe.Buffer
	until   *time.Timer
	stopped bool
}

type runFault struct {
	f          fault.Fault
	exec       fault.Executor
	injectedAt *timestamppb.Timestamp
	timer      *time.Timer
}

// startProbeTarget serves the service every worker probes: one tiny HTTP server shared
// by all of them, behind each worker's own fault proxy. It answers at once, so a probe's
// latency is the cost of the path (client, proxy, server) plus what a fault adds.
func startProbeTarget() (url string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

// connectRunWorker connects worker i to addr. With an upstream, the worker's probes and
// faults go through a proxy of its own in front of it, over tr; without, through its
// in-memory target.
func connectRunWorker(ctx context.Context, addr string, i int, phase time.Duration, creds credentials.TransportCredentials, upstream string, tr http.RoundTripper) (*runWorker, error) {
	id := benchWorkerID(i)
	w := &runWorker{
		id: id, phase: phase, execs: map[string]fault.Executor{},
		runs: map[string]*runProbes{}, faults: map[string]*runFault{}, done: map[string]*murphyv1.StepStatus{},
	}
	var execs []fault.Executor
	if upstream != "" {
		p, err := httpfault.Listen(httpfault.Config{Listen: "127.0.0.1:0", Upstream: upstream})
		if err != nil {
			return nil, err
		}
		go func() { _ = p.Serve() }()
		w.proxy, w.probeAddr, w.tr = p, p.Addr(), tr
		execs = httpfault.Executors([]*httpfault.Proxy{p})
	} else {
		t := newMemTarget()
		w.probeAddr, w.tr = id+".bench.invalid", t
		execs = t.executors()
	}
	var caps []string
	for _, e := range execs {
		w.execs[e.Kind()] = e
		caps = append(caps, e.Kind())
	}
	var err error
	w.s, err = openWorkerStream(ctx, addr, &murphyv1.Hello{
		WorkerId:     id,
		Labels:       map[string]string{"region": "bench", "datacenter": "bench-1", "host": id, "service": "bench"},
		Capabilities: caps,
	}, creds)
	if err != nil {
		if w.proxy != nil {
			_ = w.proxy.Close()
		}
		return nil, err
	}
	go w.receive()
	return w, nil
}

func (w *runWorker) receive() {
	for {
		m, err := w.s.stream.Recv()
		if err != nil {
			return
		}
		switch msg := m.GetMsg().(type) {
		case *murphyv1.ConnectResponse_Assign:
			w.assign(msg.Assign)
		case *murphyv1.ConnectResponse_Revert:
			w.revertOrder(msg.Revert)
		case *murphyv1.ConnectResponse_Halt:
			w.halt(msg.Halt)
		case *murphyv1.ConnectResponse_StartProbes:
			w.startProbes(msg.StartProbes)
		case *murphyv1.ConnectResponse_StopProbes:
			w.stopProbes(msg.StopProbes.GetRunId(), true)
		}
	}
}

func (w *runWorker) status(id, run string, step int32, state murphyv1.FaultState, cause murphyv1.RevertCause, errText string) *murphyv1.StepStatus {
	return &murphyv1.StepStatus{AssignmentId: id, RunId: run, Step: step, State: state, Cause: cause, Error: errText, At: timestamppb.Now()}
}

// sendStatus sends a step status; w.mu held, so statuses leave in the order decided.
func (w *runWorker) sendStatus(st *murphyv1.StepStatus) {
	_ = w.s.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_StepStatus{StepStatus: st}})
}

// assign injects an assignment at once (an HTTP fault is a rule swapped into the proxy,
// microseconds) and answers it; a repeat is answered without a second inject.
func (w *runWorker) assign(as *murphyv1.Assign) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id, run, step := as.GetAssignmentId(), as.GetRunId(), as.GetStep()
	if st, ok := w.done[id]; ok {
		w.sendStatus(st)
		return
	}
	if _, ok := w.faults[id]; ok {
		w.sendStatus(w.status(id, run, step, murphyv1.FaultState_FAULT_STATE_INJECTED, 0, ""))
		return
	}
	fail := func(err error) {
		w.failures.Add(1)
		st := w.status(id, run, step, murphyv1.FaultState_FAULT_STATE_FAILED, 0, err.Error())
		w.done[id] = st
		w.sendStatus(st)
	}
	deadline := as.GetDeadline().AsTime()
	if as.GetDeadline() == nil {
		deadline = time.Now().Add(as.GetFault().GetDuration().AsDuration())
	}
	if !deadline.After(time.Now()) {
		fail(fmt.Errorf("deadline %s already passed", deadline.Format(time.RFC3339Nano)))
		return
	}
	f, err := fault.New(id, run, step, as.GetFault().GetKind(), as.GetFault().GetParams(), deadline)
	if err != nil {
		fail(err)
		return
	}
	exec, ok := w.execs[f.Kind]
	if !ok {
		fail(fmt.Errorf("fault kind %q is not available on this bench worker (it offers http.delay and http.abort)", f.Kind))
		return
	}
	if err := exec.Validate(f.Params); err != nil {
		fail(err)
		return
	}
	if err := exec.Inject(context.Background(), f); err != nil {
		_ = exec.Revert(context.Background(), f)
		fail(fmt.Errorf("inject: %w", err))
		return
	}
	rf := &runFault{f: f, exec: exec, injectedAt: timestamppb.Now()}
	rf.timer = time.AfterFunc(time.Until(deadline), func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if st := w.revert(id, murphyv1.RevertCause_REVERT_CAUSE_DEADLINE); st != nil {
			w.sendStatus(st)
		}
	})
	w.faults[id] = rf
	w.injected.Add(1)
	w.sendStatus(w.status(id, run, step, murphyv1.FaultState_FAULT_STATE_INJECTED, 0, ""))
}

// revert removes one fault in force and returns its final status, nil when it is not in
// force; w.mu held.
func (w *runWorker) revert(id string, cause murphyv1.RevertCause) *murphyv1.StepStatus {
	rf, ok := w.faults[id]
	if !ok {
		return nil
	}
	rf.timer.Stop()
	if err := rf.exec.Revert(context.Background(), rf.f); err != nil {
		// An HTTP fault's revert removes a map entry and cannot fail; say so if it did.
		return w.status(id, rf.f.RunID, rf.f.Step, murphyv1.FaultState_FAULT_STATE_FAILED, cause, "revert: "+err.Error())
	}
	delete(w.faults, id)
	st := w.status(id, rf.f.RunID, rf.f.Step, murphyv1.FaultState_FAULT_STATE_REVERTED, cause, "")
	st.InjectedAt = rf.injectedAt
	w.done[id] = st
	return st
}

// revertMatching reverts every fault of run (every run if empty); w.mu held.
func (w *runWorker) revertMatching(run string, cause murphyv1.RevertCause) []*murphyv1.StepStatus {
	var out []*murphyv1.StepStatus
	for id, rf := range w.faults {
		if run == "" || rf.f.RunID == run {
			if st := w.revert(id, cause); st != nil {
				out = append(out, st)
			}
		}
	}
	return out
}

func (w *runWorker) revertOrder(r *murphyv1.Revert) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(r.GetAssignmentIds()) == 0 {
		for _, st := range w.revertMatching(r.GetRunId(), r.GetCause()) {
			w.sendStatus(st)
		}
		return
	}
	for _, id := range r.GetAssignmentIds() {
		st := w.revert(id, r.GetCause())
		if st == nil {
			st = w.done[id]
		}
		if st == nil {
			st = w.status(id, r.GetRunId(), 0, murphyv1.FaultState_FAULT_STATE_REVERTED, r.GetCause(), "not known to this worker")
		}
		w.sendStatus(st)
	}
}

// halt reverts the run's faults, acknowledges, and stops the run's probes; their buffered
// samples still go, as a worker's do.
func (w *runWorker) halt(h *murphyv1.HaltOrder) {
	w.mu.Lock()
	ack := &murphyv1.HaltAck{RunId: h.GetRunId()}
	for _, st := range w.revertMatching(h.GetRunId(), murphyv1.RevertCause_REVERT_CAUSE_HALT) {
		w.sendStatus(st)
		if st.State == murphyv1.FaultState_FAULT_STATE_REVERTED {
			ack.Reverted = append(ack.Reverted, st.AssignmentId)
		}
	}
	now := time.Now()
	ack.At = timestamppb.New(now)
	_ = w.s.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_HaltAck{HaltAck: ack}})
	w.haltAt.CompareAndSwap(0, now.UnixNano())
	w.mu.Unlock()
	w.stopProbes(h.GetRunId(), false)
}

func (w *runWorker) startProbes(sp *murphyv1.StartProbes) {
	run := sp.GetRunId()
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.runs[run]
	if !ok {
		r = &runProbes{buf: probe.NewBuffer(run, 0)}
		w.runs[run] = r
		probes := sp.GetProbes()
		r.start = time.AfterFunc(w.phase, func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if r.stopped {
				return
			}
			set, err := probe.Start(probes, probe.Options{Proxy: w.probeAddr, Transport: w.tr},
				func(metric string, s *murphyv1.Sample) { r.buf.Add(metric, s) })
			if err != nil {
				// The contract has no message for a probe error; the run reports too few
				// samples.
				r.stopped = true
				return
			}
			r.set = set
		})
	}
	if u := sp.GetUntil(); u != nil {
		if r.until != nil {
			r.until.Stop()
		}
		r.until = time.AfterFunc(time.Until(u.AsTime()), func() { w.stopProbes(run, false) })
	}
}

// stopProbes stops a run's probes; forget also drops what they buffered (StopProbes).
func (w *runWorker) stopProbes(run string, forget bool) {
	w.mu.Lock()
	r, ok := w.runs[run]
	var set *probe.Set
	if ok {
		set, r.set, r.stopped = r.set, nil, true
		r.start.Stop()
		if forget {
			delete(w.runs, run)
			if r.until != nil {
				r.until.Stop()
			}
		}
	}
	w.mu.Unlock()
	if set != nil {
		set.Stop()
	}
}

// flush sends the buffered samples, in batches of at most worker.SampleBatch, as the
// agent does every worker.SampleFlushInterval.
func (w *runWorker) flush() {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	var batches []*murphyv1.Samples
	for _, r := range w.runs {
		batches = append(batches, r.buf.Next(worker.SampleBatch)...)
	}
	w.mu.Unlock()
	for _, b := range batches {
		if err := w.s.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Samples{Samples: b}}); err != nil {
			return
		}
		w.sent.Add(int64(len(b.Samples)))
	}
}

// probing reports whether any of the worker's runs still probes.
func (w *runWorker) probing() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.runs {
		if !r.stopped {
			return true
		}
	}
	return false
}

func (w *runWorker) close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	var sets []*probe.Set
	for _, r := range w.runs {
		r.stopped = true
		r.start.Stop()
		if r.set != nil {
			sets = append(sets, r.set)
		}
		if r.until != nil {
			r.until.Stop()
		}
	}
	for _, rf := range w.faults {
		rf.timer.Stop()
	}
	w.mu.Unlock()
	for _, s := range sets {
		s.Stop()
	}
	w.s.close()
	if w.proxy != nil {
		_ = w.proxy.Close()
	}
}

// runWorkerLoop sends every worker's samples each worker.SampleFlushInterval and a
// heartbeat each interval the coordinator asked for, from one goroutine for all of them:
// the bench's own cost stays small, and each stream carries what a worker's would.
func runWorkerLoop(ctx context.Context, workers []*runWorker) {
	hb := 5 * time.Second
	if len(workers) > 0 {
		if d := workers[0].s.welcome.GetHeartbeatInterval().AsDuration(); d > 0 {
			hb = d
		}
	}
	flush := time.NewTicker(worker.SampleFlushInterval)
	defer flush.Stop()
	beat := time.NewTicker(hb)
	defer beat.Stop()
	var seq uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			for _, w := range workers {
				w.flush()
			}
		case <-beat.C:
			seq++
			for _, w := range workers {
				w.mu.Lock()
				n := int32(len(w.faults))
				w.mu.Unlock()
				_ = w.s.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Heartbeat{Heartbeat: &murphyv1.Heartbeat{Seq: seq, ActiveFaults: n}}})
			}
		}
	}
}
