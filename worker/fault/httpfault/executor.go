package httpfault

import (
	"context"
	"fmt"
	"strings"

	"github.com/murphy-chaos/murphy/worker/fault"
)

// The fault kinds this package executes.
const (
	KindDelay = "http.delay"
	KindAbort = "http.abort"
)

// Executors returns the executors of http.delay and http.abort over the given proxies.
func Executors(proxies []*Proxy) []fault.Executor {
	return []fault.Executor{
		&executor{kind: KindDelay, proxies: proxies},
		&executor{kind: KindAbort, proxies: proxies},
	}
}

// executor applies one kind to the worker's proxies. A rule is keyed by assignment ID on
// each proxy, which makes Inject and Revert idempotent without state of its own.
type executor struct {
	kind    string
	proxies []*Proxy
}

var _ fault.Executor = (*executor)(nil)

func (e *executor) Kind() string { return e.kind }

func (e *executor) Validate(params map[string]string) error {
	if err := fault.Validate(e.kind, params); err != nil {
		return err
	}
	_, err := e.targets(params)
	return err
}

func (e *executor) targets(params map[string]string) ([]*Proxy, error) {
	if len(e.proxies) == 0 {
		return nil, fmt.Errorf("%s: this worker runs no HTTP fault proxy (start it with --proxy listen=...,upstream=...)", e.kind)
	}
	name, ok := params["proxy"]
	if !ok {
		return e.proxies, nil
	}
	addrs := make([]string, 0, len(e.proxies))
	for _, p := range e.proxies {
		if p.ConfiguredAddr() == name || p.Addr() == name {
			return []*Proxy{p}, nil
		}
		addrs = append(addrs, p.ConfiguredAddr())
	}
	return nil, fmt.Errorf("%s: params.proxy: no proxy of this worker listens on %q (proxies: %s)",
		e.kind, name, strings.Join(addrs, ", "))
}

func (e *executor) rule(params map[string]string) Rule {
	r := Rule{Kind: e.kind, Percent: fault.Percent(params, e.kind, "percent")}
	switch e.kind {
	case KindDelay:
		r.Delay = fault.Duration(params, e.kind, "delay")
		r.Jitter = fault.Duration(params, e.kind, "jitter")
	case KindAbort:
		r.Status = int(fault.Int(params, e.kind, "status"))
	}
	return r
}

func (e *executor) Inject(_ context.Context, f fault.Fault) error {
	if err := e.Validate(f.Params); err != nil {
		return err
	}
	targets, _ := e.targets(f.Params)
	r := e.rule(f.Params)
	for _, p := range targets {
		p.Apply(f.AssignmentID, r)
	}
	return nil
}

// Revert removes the assignment from every proxy, not only the one its params name, so
// it stays correct even if the params it is called with differ from the injected ones.
func (e *executor) Revert(_ context.Context, f fault.Fault) error {
	for _, p := range e.proxies {
		p.Remove(f.AssignmentID)
	}
	return nil
}

func (e *executor) Describe(params map[string]string) string {
	where := "every proxy"
	if p, ok := params["proxy"]; ok {
		where = "proxy " + p
	}
	pct := fault.Percent(params, e.kind, "percent") * 100
	switch e.kind {
	case KindDelay:
		s := fmt.Sprintf("delay %s", fault.Duration(params, e.kind, "delay"))
		if j := fault.Duration(params, e.kind, "jitter"); j > 0 {
			s += fmt.Sprintf(" ± %s", j)
		}
		return fmt.Sprintf("%s on %g%% of HTTP requests through %s", s, pct, where)
	default:
		return fmt.Sprintf("answer %d to %g%% of HTTP requests through %s", fault.Int(params, e.kind, "status"), pct, where)
	}
}
