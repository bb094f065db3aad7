package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"github.com/murphy-chaos/murphy/worker/fault/httpfault"
)

// memTarget is a bench worker's probe target in memory: an http.RoundTripper that
// answers every request with 200 "ok" after memServiceTime, plus what the HTTP faults in
// force on the worker add, as the worker's fault proxy in front of a service would. The worker's
// probes run the real probe code over it, so a fault injected here really delays (or
// fails) what they measure, and reverting it really ends that.
//
// It exists because on a small machine the network path costs more than the leader
// under test: through a real proxy to a real server on loopback, a probe costs eight
// socket reads and writes, and at 2,000 targets a second that took more CPU than this
// 2-core machine gave the bench, so the probes fell behind and timed out. --proxy runs
// that path for smaller sizes.
// memServiceTime is how long the in-memory service takes to answer: a quick health
// endpoint's time. Answering at once (microseconds) would make the normal run's fault,
// 1 ms on 1% of requests, a large share of the latency instead of a negligible one.
const memServiceTime = 2 * time.Millisecond

type memTarget struct {
	mu    sync.Mutex
	rules map[string]httpfault.Rule // by assignment
}

var _ http.RoundTripper = (*memTarget)(nil)

func newMemTarget() *memTarget { return &memTarget{rules: map[string]httpfault.Rule{}} }

func (t *memTarget) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	delay := memServiceTime
	status := http.StatusOK
	t.mu.Lock()
	for _, r := range t.rules {
		if rand.Float64() >= r.Percent {
			continue
		}
		switch r.Kind {
		case httpfault.KindDelay:
			d := r.Delay
			if r.Jitter > 0 {
				d += time.Duration((rand.Float64()*2 - 1) * float64(r.Jitter))
			}
			delay += max(d, 0)
		case httpfault.KindAbort:
			status = r.Status
		}
	}
	t.mu.Unlock()
	timer := time.NewTimer(delay)
	select {
	case <-timer.C:
	case <-req.Context().Done():
		timer.Stop()
		return nil, req.Context().Err()
	}
	body := "ok\n"
	if status != http.StatusOK {
		body = "murphy bench: aborted\n"
	}
	return &http.Response{
		Status: strconv.Itoa(status) + " " + http.StatusText(status), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Length": {strconv.Itoa(len(body))}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: req,
	}, nil
}

// executors returns the target's http.delay and http.abort executors.
func (t *memTarget) executors() []fault.Executor {
	return []fault.Executor{&memExecutor{kind: httpfault.KindDelay, t: t}, &memExecutor{kind: httpfault.KindAbort, t: t}}
}

// memExecutor carries out one HTTP fault kind on a memTarget; like the proxy's executor,
// it keys rules by assignment, which makes Inject and Revert idempotent.
type memExecutor struct {
	kind string
	t    *memTarget
}

var _ fault.Executor = (*memExecutor)(nil)

func (e *memExecutor) Kind() string { return e.kind }

func (e *memExecutor) Validate(p catalogue.Params) error {
	_, err := e.rule(p)
	return err
}

func (e *memExecutor) rule(p catalogue.Params) (httpfault.Rule, error) {
	switch p := p.(type) {
	case catalogue.HTTPDelay:
		if e.kind == httpfault.KindDelay && p.Proxy == "" {
			return httpfault.Rule{Kind: e.kind, Delay: p.Delay, Jitter: p.Jitter, Percent: p.Fraction}, nil
		}
	case catalogue.HTTPAbort:
		if e.kind == httpfault.KindAbort && p.Proxy == "" {
			return httpfault.Rule{Kind: e.kind, Status: p.Status, Percent: p.Fraction}, nil
		}
	}
	return httpfault.Rule{}, fmt.Errorf("%s: the bench's in-memory target takes the kind's params without a proxy, not %v", e.kind, p)
}

func (e *memExecutor) Inject(_ context.Context, f fault.Fault) error {
	r, err := e.rule(f.Params)
	if err != nil {
		return err
	}
	e.t.mu.Lock()
	defer e.t.mu.Unlock()
	e.t.rules[f.AssignmentID] = r
	return nil
}

func (e *memExecutor) Revert(_ context.Context, f fault.Fault) error {
	e.t.mu.Lock()
	defer e.t.mu.Unlock()
	delete(e.t.rules, f.AssignmentID)
	return nil
}
