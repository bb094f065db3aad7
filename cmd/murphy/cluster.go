package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/murphy-chaos/murphy/coordinator/selector"
	"github.com/murphy-chaos/murphy/worker/targets"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func newWorkersCmd(cf *clientFlags) *cobra.Command {
	var expr string
	var flat, listTargets bool
	var output string
	cmd := &cobra.Command{
		Use:   "workers",
		Short: "List workers by region and data centre, with labels, state and last contact",
		Long: `Workers lists the workers the cluster knows, grouped by region and data centre with counts
and health. -l filters with a label selector: equality (region=eu-west, tier!=db) and
set-based expressions (region in (eu-west,us-east), region notin (ap-south), canary,
!canary), comma-separated, all required.

--targets lists instead what the workers can act on beyond their hosts: the pods that
node workers (murphy worker --node-name) found opted in on their nodes, with the worker
that acts on each, its workload, node and region.`,
		Example: "  murphy workers -l 'region in (eu-west,us-east), murphy.io/chaos=enabled'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", outputJSON); err != nil {
				return err
			}
			if _, err := selector.Parse(expr); err != nil {
				return fmt.Errorf("-l: %w", err)
			}
			return call(cmd, cf, func(ctx context.Context, c *client) error {
				resp, err := c.cluster.ListWorkers(ctx, &murphyv1.ListWorkersRequest{Expression: expr})
				if err != nil {
					return c.explain(err)
				}
				if output == outputJSON {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				out := cmd.OutOrStdout()
				if listTargets {
					return printTargets(out, resp.Workers)
				}
				if !flat {
					printTopology(out, resp.Workers)
					fmt.Fprintln(out)
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "WORKER\tSTATE\tLAST CONTACT\tFAULTS\tRUN\tLABELS")
				for _, w := range resp.Workers {
					last := "-"
					if w.LastContact != nil {
						last = time.Since(w.LastContact.AsTime()).Round(100*time.Millisecond).String() + " ago"
					}
					run := w.RunId
					if run == "" {
						run = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", w.Id, workerState(w), last, w.ActiveFaults, run, formatLabels(w.Labels))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVarP(&expr, "selector", "l", "", "label selector, e.g. 'region in (eu-west,us-east), tier=web'")
	cmd.Flags().BoolVar(&flat, "flat", false, "only the worker table, without the topology summary")
	cmd.Flags().BoolVar(&listTargets, "targets", false, "list the workers' targets (their nodes' opted-in pods) instead of the workers")
	outputFlag(cmd, &output, "text", outputJSON)
	return cmd
}

// printTargets lists every worker's targets, one line each, sorted by target.
func printTargets(out io.Writer, workers []*murphyv1.Worker) error {
	type row struct {
		t      *murphyv1.Target
		worker string
	}
	var rows []row
	for _, w := range workers {
		for _, t := range w.Targets {
			rows = append(rows, row{t, w.Id})
		}
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(out, "no targets: no worker runs with --node-name and Kubernetes credentials, or no pod on their nodes opted in (label murphy.io/chaos=enabled on the pod or its namespace)")
		return err
	}
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.t.Id, b.t.Id) })
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tWORKER\tWORKLOAD\tNODE\tREGION\tDATACENTER\tLABELS")
	for _, r := range rows {
		l := r.t.Labels
		own := maps.Clone(l)
		for _, k := range []string{targets.LabelNamespace, targets.LabelPod, targets.LabelWorkload, targets.LabelNode, targets.LabelRegion, targets.LabelDatacenter} {
			delete(own, k)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.t.Id, r.worker, orDash(l[targets.LabelWorkload]), orDash(l[targets.LabelNode]),
			orDash(l[targets.LabelRegion]), orDash(l[targets.LabelDatacenter]), orDash(formatLabels(own)))
	}
	return tw.Flush()
}

func workerState(w *murphyv1.Worker) string {
	return strings.ToLower(strings.TrimPrefix(w.State.String(), "WORKER_STATE_"))
}

// printTopology summarises workers per region and data centre: how many, how many
// connected, how many busy in a run.
func printTopology(w io.Writer, workers []*murphyv1.Worker) {
	type count struct{ total, connected, lost, busy int }
	byDC := map[[2]string]*count{}
	byRegion := map[string]*count{}
	for _, wk := range workers {
		key := [2]string{orDash(wk.Labels["region"]), orDash(wk.Labels["datacenter"])}
		for _, c := range []*count{at(byDC, key), at(byRegion, key[0])} {
			c.total++
			switch wk.State {
			case murphyv1.WorkerState_WORKER_STATE_CONNECTED:
				c.connected++
			case murphyv1.WorkerState_WORKER_STATE_LOST:
				c.lost++
			}
			if wk.RunId != "" {
				c.busy++
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tDATACENTER\tWORKERS\tCONNECTED\tLOST\tIN A RUN")
	for _, r := range slices.Sorted(maps.Keys(byRegion)) {
		c := byRegion[r]
		fmt.Fprintf(tw, "%s\t\t%d\t%d\t%d\t%d\n", r, c.total, c.connected, c.lost, c.busy)
		var dcs []string
		for k := range byDC {
			if k[0] == r {
				dcs = append(dcs, k[1])
			}
		}
		slices.Sort(dcs)
		for _, dc := range dcs {
			c := byDC[[2]string{r, dc}]
			fmt.Fprintf(tw, "\t%s\t%d\t%d\t%d\t%d\n", dc, c.total, c.connected, c.lost, c.busy)
		}
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func at[K comparable, V any](m map[K]*V, k K) *V {
	if m[k] == nil {
		m[k] = new(V)
	}
	return m[k]
}

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

func formatLabels(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

func newClusterCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect and change coordinator membership",
	}
	var statusOutput string
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the coordinators, their roles and the leader",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(statusOutput, "text", outputJSON); err != nil {
				return err
			}
			return call(cmd, cf, func(ctx context.Context, c *client) error {
				resp, err := c.cluster.Status(ctx, &murphyv1.StatusRequest{})
				if err != nil {
					return c.explain(err)
				}
				if statusOutput == outputJSON {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				leader := resp.LeaderId
				if leader == "" {
					leader = "none (election in progress or quorum lost)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "answered by %s (%s), term %d, commit index %d, applied %d\nleader: %s\n\n", resp.NodeId, strings.ToLower(resp.State), resp.Term, resp.CommitIndex, resp.AppliedIndex, leader)
				if h := resp.Halt; h != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "CLUSTER HALTED since %s by %s: %s (`murphy resume` lifts it)\n\n", ts(h.At), h.By, h.Reason)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NODE\tROLE\tRAFT\tGRPC\tHTTP")
				for _, n := range resp.Nodes {
					role := "follower"
					if n.Leader {
						role = "leader"
					}
					if !n.Voter {
						role += " (non-voter)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Id, role, n.RaftAddr, n.GrpcAddr, n.HttpAddr)
				}
				return tw.Flush()
			})
		},
	}
	outputFlag(status, &statusOutput, "text", outputJSON)
	var join murphyv1.Node
	joinCmd := &cobra.Command{
		Use:   "join",
		Short: "Add a coordinator to the cluster (normally done by `murphy coordinator --join`)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, cf, func(ctx context.Context, c *client) error {
				join.Voter = true
				resp, err := c.cluster.Join(ctx, &murphyv1.JoinRequest{Node: &join})
				if err != nil {
					return c.explain(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s joined; the cluster has %d nodes\n", join.Id, len(resp.Nodes))
				return nil
			})
		},
	}
	joinCmd.Flags().StringVar(&join.Id, "node-id", "", "ID of the node to add")
	joinCmd.Flags().StringVar(&join.RaftAddr, "raft-addr", "", "its Raft address")
	joinCmd.Flags().StringVar(&join.GrpcAddr, "grpc-addr", "", "its gRPC address")
	joinCmd.Flags().StringVar(&join.HttpAddr, "http-addr", "", "its HTTP address")
	remove := &cobra.Command{
		Use:   "remove NODE",
		Short: "Remove a coordinator from the cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, cf, func(ctx context.Context, c *client) error {
				resp, err := c.cluster.Remove(ctx, &murphyv1.RemoveRequest{NodeId: args[0]})
				if err != nil {
					return c.explain(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s removed; the cluster has %d nodes\n", args[0], len(resp.Nodes))
				return nil
			})
		},
	}
	cmd.AddCommand(status, joinCmd, remove)
	return cmd
}
