package runner

import (
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func TestProbes(t *testing.T) {
	data, err := os.ReadFile("../spec/testdata/probes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spec.Parse(data, "probes.yaml", spec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := durationpb.New
	want := []*murphyv1.Probe{
		{Metric: "health_class", Measure: "status_class", Interval: d(time.Second), Timeout: d(2 * time.Second),
			Kind: &murphyv1.Probe_Http{Http: &murphyv1.HTTPProbe{Url: "http://{{proxy}}/health", Method: "GET",
				ExpectStatus: []int32{200}, BodyMatch: `"status":\s*"ok"`}}},
		{Metric: "db_connect", Measure: "latency", Interval: d(500 * time.Millisecond), Timeout: d(2 * time.Second),
			Kind: &murphyv1.Probe_Tcp{Tcp: &murphyv1.TCPProbe{Address: "127.0.0.1:5432"}}},
		{Metric: "grpc_serving", Measure: "success", Interval: d(time.Second), Timeout: d(time.Second),
			Kind: &murphyv1.Probe_Grpc{Grpc: &murphyv1.GRPCHealthProbe{Address: "{{proxy}}", Service: "checkout.v1.Checkout"}}},
		{Metric: "queue_depth", Measure: "number", Interval: d(5 * time.Second), Timeout: d(3 * time.Second),
			Kind: &murphyv1.Probe_Command{Command: &murphyv1.CommandProbe{
				Argv: []string{"redis-cli", "-h", "127.0.0.1", "llen", "orders"},
				Env:  map[string]string{"REDISCLI_AUTH": "secret", "LANG": "C"}}}},
		{Metric: "check_exit", Measure: "exit_code", Interval: d(time.Second), Timeout: d(2 * time.Second),
			Kind: &murphyv1.Probe_Command{Command: &murphyv1.CommandProbe{Argv: []string{"/usr/local/bin/check-orders", "--quiet"}}}},
		{Metric: "orders_ready", Measure: "success", Interval: d(time.Second), Timeout: d(2 * time.Second),
			Kind: &murphyv1.Probe_Http{Http: &murphyv1.HTTPProbe{Url: "http://{{proxy}}/orders/search", Method: "POST",
				Headers:  map[string]string{"Content-Type": "application/json", "Authorization": "Bearer t0ken", "Host": "orders.internal"},
				Body:     `{"status": "ready"}`,
				JsonPath: &murphyv1.JSONPathCheck{Path: "$.items[*].id", Count: proto.Int32(2)}}}},
		{Metric: "queue_state", Measure: "success", Interval: d(time.Second), Timeout: d(2 * time.Second),
			Kind: &murphyv1.Probe_Command{Command: &murphyv1.CommandProbe{Argv: []string{"queue-stat", "--json"},
				JsonPath: &murphyv1.JSONPathCheck{Path: "$.queues[*].state", Expect: []*structpb.Value{
					structpb.NewStringValue("running"), structpb.NewNumberValue(3), structpb.NewNumberValue(2.5), structpb.NewBoolValue(true),
					structpb.NewNullValue(), structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"shard": structpb.NewStringValue("a")}}),
				}}}}},
	}
	got := Probes(sp)
	if len(got) != len(want) {
		t.Fatalf("%d probes, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("probe %d:\n got %s\nwant %s", i, prototext.Format(got[i]), prototext.Format(want[i]))
		}
	}
	// The wire form must not alias the spec: a worker-side edit cannot reach it.
	got[3].GetCommand().Argv[0] = "x"
	got[3].GetCommand().Env["LANG"] = "x"
	if c := sp.Hypothesis.Metrics[3].Source.Probe.GetCommand(); c.Argv[0] != "redis-cli" || c.Env["LANG"] != "C" {
		t.Errorf("Probes aliases the spec: %+v", c)
	}
	got[5].GetHttp().Headers["Host"] = "x"
	if h := sp.Hypothesis.Metrics[5].Source.Probe.GetHttp(); h.Headers["Host"] != "orders.internal" {
		t.Errorf("Probes aliases the spec's headers: %+v", h.Headers)
	}
}
