package network

import (
	"context"
	"errors"
	"fmt"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/murphy-chaos/murphy/worker/fault"
)

// Config configures the family.
type Config struct {
	// Protected returns the peers never affected: every rule set accepts them first, and
	// a fault whose peers all lie inside one is refused. It is asked at every Validate and
	// Inject, because the coordinators a worker follows change at run time; an error
	// (a coordinator name that does not resolve) refuses the fault, since it could cut
	// the worker off from a coordinator it cannot see. Nil protects nothing (tests).
	Protected func() ([]netip.Prefix, error)
	// Probe, when set, replaces probing the kernel (tests use it to force a mechanism).
	Probe *Probe
	// Containers finds the network namespaces of the container a fault names
	// (catalogue.Network's Container or ContainerLabels), found again at every inject and
	// revert rather than remembered, so a fault follows the container's life: at inject
	// exactly one running container must match; at revert every matching container
	// whose process lives is returned (none means nothing is left: a namespace, and its
	// rules, goes with its container). Nil refuses such faults.
	Containers func(ctx context.Context, place catalogue.Place, revert bool) ([]string, error)
}

// containerTimeout bounds asking the container engine where a container's namespace is.
const containerTimeout = 10 * time.Second

// netnsPaths is where a fault acts: its netns ("" for the worker's own), or its
// container's namespaces.
func (f *Family) netnsPaths(ctx context.Context, s catalogue.Network, revert bool) ([]string, error) {
	if !s.InContainer() {
		return []string{s.Netns}, nil
	}
	if f.cfg.Containers == nil {
		return nil, fmt.Errorf("a fault in a container needs the worker's Docker engine (--docker-host) or, in a pod, its CRI runtime (--cri-socket), and none answers")
	}
	ctx, cancel := context.WithTimeout(ctx, containerTimeout)
	defer cancel()
	paths, err := f.cfg.Containers(ctx, s.Place, revert)
	if err != nil {
		return nil, err
	}
	if !revert && len(paths) != 1 {
		return nil, fmt.Errorf("the fault's container has %d network namespaces here, want one", len(paths))
	}
	return paths, nil
}

// Family carries out the network kinds on this host. Faults are serialised: each is a
// few netlink round trips, and one lock makes a duplicate Inject and a concurrent Revert
// of the same assignment trivially safe.
type Family struct {
	cfg   Config
	probe Probe

	mu     sync.Mutex
	active map[string]*active
}

type active struct {
	delayer *delayer // nfqueue delay only
}

// New probes the kernel (unless cfg.Probe is set) and returns the family.
func New(cfg Config) *Family {
	f := &Family{cfg: cfg, active: map[string]*active{}}
	if cfg.Probe != nil {
		f.probe = *cfg.Probe
	} else {
		f.probe = RunProbe()
	}
	return f
}

// Probe returns what the kernel offered.
func (f *Family) Probe() Probe { return f.probe }

// Mechanisms maps each kind this host can carry out to its mechanism (netem, nfqueue,
// nftables, htb); kinds it cannot carry out are absent.
func (f *Family) Mechanisms() map[string]string {
	out := map[string]string{}
	for _, k := range Kinds {
		if m, _ := f.probe.mechanism(k); m != "" {
			out[k] = m
		}
	}
	return out
}

// Executors returns one executor per kind. A kind this host cannot carry out still gets
// one, whose Mechanism is "" and which refuses every assignment with the reason, so a
// step sent to the wrong worker fails with "corrupt needs tc netem..." rather than a bare
// "unknown kind".
func (f *Family) Executors() []fault.Executor {
	out := make([]fault.Executor, 0, len(Kinds))
	for _, k := range Kinds {
		m, why := f.probe.mechanism(k)
		out = append(out, &executor{fam: f, kind: k, mech: m, why: why})
	}
	return out
}

// Close reverts nothing (the worker reverts through its journal) but stops the delay
// lines of faults still active, releasing their packets. For shutdown paths that skipped
// Revert.
func (f *Family) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, a := range f.active {
		if a.delayer != nil {
			_ = a.delayer.close()
		}
		delete(f.active, id)
	}
}

type executor struct {
	fam  *Family
	kind string
	mech string
	why  string
}

var _ fault.Executor = (*executor)(nil)

func (e *executor) Kind() string { return e.kind }

// Mechanism names how this host carries the kind out; "" means it cannot.
func (e *executor) Mechanism() string { return e.mech }

func (e *executor) Validate(p catalogue.Params) error {
	_, _, err := e.validate(context.Background(), p)
	return err
}

// validate checks the host's ability and the target (namespace, interface) without
// changing anything. A fault in a container comes back with the container's namespace
// as its Netns.
func (e *executor) validate(ctx context.Context, p catalogue.Params) (s catalogue.Network, protected []netip.Prefix, err error) {
	s, ok := p.(catalogue.Network)
	if !ok {
		return s, nil, fmt.Errorf("%s: params of type %T", e.kind, p)
	}
	if e.mech == "" {
		return s, nil, fmt.Errorf("%s is not available on this worker: %s", e.kind, e.why)
	}
	if e.fam.cfg.Protected != nil {
		if protected, err = e.fam.cfg.Protected(); err != nil {
			return s, nil, fmt.Errorf("%s refused: %w", e.kind, err)
		}
	}
	if err := checkProtected(s, protected); err != nil {
		return s, nil, err
	}
	if s.InContainer() {
		paths, err := e.fam.netnsPaths(ctx, s, false)
		if err != nil {
			return s, nil, fmt.Errorf("%s: %w", e.kind, err)
		}
		s.Netns = paths[0]
	}
	fd, closeNS, _, err := openNetns(s.Netns)
	if err != nil {
		return s, nil, fmt.Errorf("%s: %w", e.kind, err)
	}
	defer closeNS()
	if s.Interface != "" {
		where := "the worker's network namespace"
		if s.Netns != "" {
			where = s.Netns
		}
		if _, err := lookupLink(fd, s.Interface, where); err != nil {
			return s, nil, fmt.Errorf("%s: %w", e.kind, err)
		}
	}
	return s, protected, nil
}

func (e *executor) Inject(ctx context.Context, f fault.Fault) error {
	s, protected, err := e.validate(ctx, f.Params)
	if err != nil {
		return err
	}
	// The deadline goes into the kernel (see gate), so a fault without one is refused
	// rather than left for ever to a worker that may never come back.
	if f.Deadline.IsZero() {
		return fmt.Errorf("%s: the assignment has no deadline; network faults need one the kernel can enforce", e.kind)
	}
	e.fam.mu.Lock()
	defer e.fam.mu.Unlock()
	if _, ok := e.fam.active[f.AssignmentID]; ok {
		return nil
	}
	fd, closeNS, _, err := openNetns(s.Netns)
	if err != nil {
		return fmt.Errorf("%s: %w", e.kind, err)
	}
	defer closeNS()
	a := &active{}
	g := gate{until: time.Until(f.Deadline)}
	if g.until <= 0 {
		return fmt.Errorf("%s: the deadline %s has passed", e.kind, f.Deadline.Format(time.RFC3339Nano))
	}
	if err := e.inject(fd, f.AssignmentID, s, protected, a, g); err != nil {
		return fmt.Errorf("%s: %w", e.kind, err)
	}
	e.fam.active[f.AssignmentID] = a
	return nil
}

func (e *executor) inject(fd int, id string, s catalogue.Network, protected []netip.Prefix, a *active, g gate) error {
	switch e.mech {
	case "nftables":
		return installTable(fd, id, s, protected, action{drop: true, lossPct: s.Percent}, g)
	case "nfqueue":
		d, err := startDelayer(fd, queueNum(id), s.Delay, s.Jitter)
		if err != nil {
			return err
		}
		act := action{queue: &d.num, queueXT: !e.fam.probe.QueueNative}
		g.lease = leaseTTL
		if err := installTable(fd, id, s, protected, act, g); err != nil {
			_ = d.close()
			return err
		}
		if err := d.startLease(fd, id); err != nil {
			_ = removeTable(fd, id)
			_ = d.close()
			return err
		}
		a.delayer = d
		return nil
	case "htb", "netem":
		major := QdiscMajor(id)
		sc := shapeConfig{rateBits: s.RateBits}
		if e.mech == "netem" {
			sc.netem = netemAttrs(s)
		}
		if err := installQdisc(fd, s.Interface, major, sc); err != nil {
			return err
		}
		// The qdisc has no timeout of its own; the gated rule steering packets into the
		// fault's class does, so at the deadline traffic falls back to the unshaped
		// default class and the qdisc is left inert until revert removes it.
		if err := installTable(fd, id, s, protected, action{priority: netlink.MakeHandle(major, 2)}, g); err != nil {
			_ = removeQdisc(fd, s.Interface, major)
			return err
		}
		return nil
	}
	return fmt.Errorf("no mechanism")
}

func netemAttrs(s catalogue.Network) *netlink.NetemQdiscAttrs {
	a := &netlink.NetemQdiscAttrs{Limit: 100000}
	switch s.Kind {
	case KindDelay:
		a.Latency = uint32(s.Delay.Microseconds())
		a.Jitter = uint32(s.Jitter.Microseconds())
	case KindLoss:
		a.Loss = float32(s.Percent)
	case KindCorrupt:
		a.CorruptProb = float32(s.Percent)
	case KindDuplicate:
		a.Duplicate = float32(s.Percent)
	}
	return a
}

// Revert removes everything the assignment could have created, found by the names its ID
// gives: the nftables table, the HTB root qdisc, the delay line. It reads nothing but
// the assignment, so it works the same for a fault this process injected and for one a
// crashed predecessor left behind. A namespace that no longer exists has nothing left to
// revert; a fault in a container looks for the container again, in every namespace its
// selector now finds (removing a table that is not there is no error), never by the
// process or namespace it was injected into, which a restart replaces.
func (e *executor) Revert(ctx context.Context, f fault.Fault) error {
	e.fam.mu.Lock()
	defer e.fam.mu.Unlock()
	a := e.fam.active[f.AssignmentID]
	// Without params (never the case from the agent) the zero value still removes what
	// the ID names in the worker's own namespace.
	p, _ := f.Params.(catalogue.Network)
	paths, err := e.fam.netnsPaths(ctx, p, true)
	if err != nil {
		return fmt.Errorf("%s revert: %w", e.kind, err)
	}
	var errs []error
	present := false
	for _, path := range paths {
		fd, closeNS, gone, err := openNetns(path)
		if gone {
			continue
		}
		present = true
		if err != nil {
			return fmt.Errorf("%s revert: %w", e.kind, err)
		}
		// The table goes first: no new packets are queued or steered once it is gone.
		if err := removeTable(fd, f.AssignmentID); err != nil {
			errs = append(errs, err)
		}
		if iface := p.Interface; iface != "" {
			if err := removeQdisc(fd, iface, QdiscMajor(f.AssignmentID)); err != nil {
				errs = append(errs, err)
			}
		}
		closeNS()
	}
	if a != nil && a.delayer != nil {
		// With its namespace gone the delay line has nothing left to release.
		if err := a.delayer.close(); err != nil && present {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s revert: %w", e.kind, err)
	}
	delete(e.fam.active, f.AssignmentID)
	return nil
}
