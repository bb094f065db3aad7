package runner

import (
	"slices"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/scheduler"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestPoolOfPods: a run of pods is planned on the pods the selected workers offer that
// its kubernetes targets select; pods another run holds, and every pod of a worker a
// host-level run holds, are not free; a host-level run cannot take a worker whose pods
// another run holds.
func TestPoolOfPods(t *testing.T) {
	f := fsm.New()
	pod := func(ns, name, workload, app string) *murphyv1.Target {
		return &murphyv1.Target{Id: "pod/" + ns + "/" + name, Address: "10.0.0." + name[len(name)-1:],
			Labels: map[string]string{"namespace": ns, "pod": name, "workload": workload, "app": app}}
	}
	var idx uint64
	apply := func(c *murphyv1.Command) {
		t.Helper()
		idx++
		if c.At == nil {
			c.At = timestamppb.Now()
		}
		if err := f.ApplyCommand(idx, c); err != nil {
			t.Fatal(err)
		}
	}
	register := func(id, region string, ts ...*murphyv1.Target) {
		apply(&murphyv1.Command{Cmd: &murphyv1.Command_RegisterWorker{RegisterWorker: &murphyv1.RegisterWorker{
			WorkerId: id, Labels: map[string]string{"region": region}, Targets: ts}}})
	}
	register("node-1", "eu", pod("shop", "co-1", "deployment/checkout", "checkout"), pod("shop", "co-2", "deployment/checkout", "checkout"), pod("shop", "cart-1", "deployment/cart", "cart"))
	register("node-2", "eu", pod("shop", "co-3", "deployment/checkout", "checkout"), pod("dev", "co-4", "deployment/checkout", "checkout"))
	register("node-3", "us", pod("shop", "co-5", "deployment/checkout", "checkout"))
	register("host-1", "eu")

	parse := func(targets string) *spec.Experiment {
		t.Helper()
		sp, err := spec.Parse([]byte(`apiVersion: murphy/v1
name: t
targets:
`+targets+`
  experiment: {count: 1}
hypothesis:
  metrics:
    - name: up
      source: {probe: {tcp: {address: "127.0.0.1:1"}, measure: success}}
      direction: decrease
      tolerance: {absolute: 0.1}
steps:
  - fault: stress.cpu
    duration: 10s
`), "t.yaml", spec.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	ids := func(p Pool) []string {
		var out []string
		for _, c := range p.Candidates {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	fl := fleet.New(time.Now)
	pods := parse(`  kubernetes: {namespaces: [shop], workload: deployment/checkout}`)
	p := poolOf(f, fl, pods, nil, true)
	if got := ids(p); !slices.Equal(got, []string{"pod/shop/co-1", "pod/shop/co-2", "pod/shop/co-3", "pod/shop/co-5"}) {
		t.Errorf("pool %v", got)
	}
	if p.workers["pod/shop/co-3"] != "node-2" || p.addresses["pod/shop/co-3"] != "10.0.0.3" {
		t.Errorf("co-3 on %q at %q", p.workers["pod/shop/co-3"], p.addresses["pod/shop/co-3"])
	}
	// The worker selector narrows the nodes; the pod selector works on pod labels.
	if got := ids(poolOf(f, fl, parse("  selector: {region: eu}\n  kubernetes: {selector: \"app in (checkout)\"}"), nil, true)); !slices.Equal(got, []string{"pod/dev/co-4", "pod/shop/co-1", "pod/shop/co-2", "pod/shop/co-3"}) {
		t.Errorf("eu checkout pods %v", got)
	}
	// Not connected: nothing, unless planning on every registered worker.
	if got := poolOf(f, fl, pods, nil, false).Candidates; len(got) != 0 {
		t.Errorf("pods of unconnected workers offered: %v", got)
	}

	// Another run holds co-1; a host-level run holds node-2 itself.
	busy := map[string]string{"pod/shop/co-1": "other", "node-2": "hostrun"}
	if got := ids(poolOf(f, fl, pods, busy, true)); !slices.Equal(got, []string{"pod/shop/co-2", "pod/shop/co-5"}) {
		t.Errorf("pool beside other runs %v", got)
	}
	// A run of pods on node-1 keeps host-level runs off node-1.
	hosts := parse(`  selector: {region: eu}`)
	busy = map[string]string{"pod/shop/co-1": "podrun", nodePrefix + "node-1": "podrun"}
	if got := ids(poolOf(f, fl, hosts, busy, true)); !slices.Equal(got, []string{"host-1", "node-2", "node-3"}) {
		// node-3 is us: the selector is applied by the scheduler, not the pool.
		t.Errorf("host pool beside a run of pods %v", got)
	}
	g := p.groupsOf(scheduler.Plan{Experiment: []string{"pod/shop/co-1"}, Control: []string{"pod/shop/co-5"}})
	if g.Workers["pod/shop/co-1"] != "node-1" || g.Workers["pod/shop/co-5"] != "node-3" || len(g.Workers) != 2 || g.Addresses["pod/shop/co-5"] != "10.0.0.5" {
		t.Errorf("groups %v", g)
	}
	if f := unitFault(&murphyv1.FaultSpec{Kind: "stress.cpu"}, "pod/shop/co-1"); f.Params["pod"] != "shop/co-1" {
		t.Errorf("fault for a pod %v", f)
	}
	if f := unitFault(&murphyv1.FaultSpec{Kind: "stress.cpu"}, "host-1"); f.Params["pod"] != "" {
		t.Errorf("fault for a host %v", f)
	}
}
