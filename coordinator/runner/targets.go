package runner

import (
	"context"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// A worker reports its targets (a node's pods) in its hello and again, whole, whenever
// they change; the hello's list is committed with its registration, and later lists are
// filed here and committed once per tick, each as the worker's registration with the new
// list, so every node's record of the fleet names the same targets.

// fileTargets keeps worker's latest list for the next commit.
func (r *Runner) fileTargets(worker string, ts []*murphyv1.Target) {
	if r.targets == nil {
		r.targets = map[string][]*murphyv1.Target{}
	}
	r.targets[worker] = ts
}

// commitTargets commits each filed list that differs from the worker's record.
func (r *Runner) commitTargets(ctx context.Context) {
	for _, id := range slices.Sorted(maps.Keys(r.targets)) {
		ts := r.targets[id]
		delete(r.targets, id)
		w := r.cfg.FSM.Worker(id)
		if w == nil || SameTargets(w.Targets, ts) {
			continue
		}
		cmd := &murphyv1.Command{By: "worker:" + id, Cmd: &murphyv1.Command_RegisterWorker{RegisterWorker: &murphyv1.RegisterWorker{
			WorkerId: id, Labels: w.Labels, Capabilities: w.Capabilities, Limits: w.Limits, Targets: ts,
		}}}
		if err := r.apply(ctx, cmd); err != nil && ctx.Err() == nil {
			r.log.Error("record targets", "worker", id, "error", err)
		}
	}
}

// SameTargets reports whether two lists name the same targets with the same labels, in
// the same order.
func SameTargets(a, b []*murphyv1.Target) bool {
	return slices.EqualFunc(a, b, func(x, y *murphyv1.Target) bool { return proto.Equal(x, y) })
}
