package httpfault

import (
	"context"
	"fmt"
	"strings"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
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

func (e *executor) Validate(p catalogue.Params) error {
	_, err := e.targets(p)
	return err
}

// targets are the proxies p acts on.
func (e *executor) targets(p catalogue.Params) ([]*Proxy, error) {
	if len(e.proxies) == 0 {
		return nil, fmt.Errorf("%s: this worker runs no HTTP fault proxy (start it with --proxy listen=...,upstream=...)", e.kind)
	}
	var name string
	switch p := p.(type) {
	case catalogue.HTTPDelay:
		name = p.Proxy
	case catalogue.HTTPAbort:
		name = p.Proxy
	default:
		return nil, fmt.Errorf("%s: params of type %T", e.kind, p)
	}
	if name == "" {
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

func (e *executor) rule(p catalogue.Params) Rule {
	switch p := p.(type) {
	case catalogue.HTTPDelay:
		return Rule{Kind: e.kind, Percent: p.Fraction, Delay: p.Delay, Jitter: p.Jitter}
	case catalogue.HTTPAbort:
		return Rule{Kind: e.kind, Percent: p.Fraction, Status: p.Status}
	}
	return Rule{Kind: e.kind}
}

func (e *executor) Inject(_ context.Context, f fault.Fault) error {
	targets, err := e.targets(f.Params)
	if err != nil {
		return err
	}
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
