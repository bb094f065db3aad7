package web

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// nodeLive is a node's view of the leader: leading or not, and the progress it reports
// (nil: the leader could not be asked).
type nodeLive struct {
	leading  bool
	progress *murphyv1.WatchResponse
}

func (l nodeLive) Leading() (bool, string, string)                 { return l.leading, "n1", "" }
func (l nodeLive) Progress(*murphyv1.Run) *murphyv1.WatchResponse  { return l.progress }
func (l nodeLive) Health(*murphyv1.Worker) []*murphyv1.ActiveFault { return nil }

// TestNotSummarizedYet: early in a run no summary is committed while the leader holds
// samples; the charts say what the leader holds, or that it is unknown on this node,
// never that nothing was recorded.
func TestNotSummarizedYet(t *testing.T) {
	counts := &murphyv1.WatchResponse{Progress: []*murphyv1.MetricProgress{{Metric: "latency", Control: 120, Experiment: 118}}}
	for _, tc := range []struct {
		name string
		live nodeLive
		want string
	}{
		{"leader", nodeLive{leading: true, progress: counts}, "So far the leader holds 120 control and 118 experimental samples"},
		{"follower that asked the leader", nodeLive{progress: counts}, "So far the leader n1 holds 120 control and 118 experimental samples"},
		{"follower that could not ask", nodeLive{}, "The samples the leader n1 holds are unknown on this node."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(t, 1, 2)
			h.cfg.Live = tc.live
			cmd := func(idx uint64, c *murphyv1.Command) {
				c.At = timestamppb.New(t0.Add(time.Hour))
				if err := h.cfg.FSM.ApplyCommand(idx, c); err != nil {
					t.Fatal(err)
				}
			}
			cmd(1000, &murphyv1.Command{Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "early", Experiment: "checkout", Spec: testSpec(specJSON)}}})
			cmd(1001, &murphyv1.Command{Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "early", Groups: &murphyv1.Groups{Control: []string{"w0000"}, Experiment: []string{"w0001"}, Seed: 1}}}})
			for _, path := range []string{"/ui/runs/early", "/ui/runs/early/metrics"} {
				_, body := get(t, h, path)
				if !strings.Contains(body, "No summary of latency committed yet") || !strings.Contains(body, tc.want) || strings.Contains(body, "No summaries recorded") {
					t.Errorf("%s says neither %q nor that summaries come in batches:\n%s", path, tc.want, body)
				}
			}
		})
	}
}
