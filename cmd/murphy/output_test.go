package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// TestReadCommandsJSON: every read command's -o json is the API's response message as
// protojson, so a program can parse it with the contract's own types; each output here
// is parsed strictly (unknown fields refused) and checked for the run or node it names.
func TestReadCommandsJSON(t *testing.T) {
	addr := startNode(t, nil)
	c, err := dial(&clientFlags{addr: addr, timeout: 10 * time.Second, insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := c.ctx(context.Background())
	defer cancel()
	resp, err := c.exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: demoSpec, Filename: "demo.yaml"})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	id := resp.Run.Id

	cases := []struct {
		args  []string
		into  proto.Message
		check func(proto.Message) bool
	}{
		{[]string{"ls"}, &murphyv1.ListRunsResponse{}, func(m proto.Message) bool {
			runs := m.(*murphyv1.ListRunsResponse).Runs
			return len(runs) == 1 && runs[0].Id == id
		}},
		{[]string{"status", id}, &murphyv1.Run{}, func(m proto.Message) bool { return m.(*murphyv1.Run).Id == id }},
		{[]string{"verdict", id}, &murphyv1.GetVerdictResponse{}, func(m proto.Message) bool { return m.(*murphyv1.GetVerdictResponse).RunId == id }},
		{[]string{"workers"}, &murphyv1.ListWorkersResponse{}, func(proto.Message) bool { return true }},
		{[]string{"cluster", "status"}, &murphyv1.StatusResponse{}, func(m proto.Message) bool {
			s := m.(*murphyv1.StatusResponse)
			return s.LeaderId == "n1" && len(s.Nodes) == 1 && s.Nodes[0].Id == "n1"
		}},
		{[]string{"schedules"}, &murphyv1.ListSchedulesResponse{}, func(proto.Message) bool { return true }},
		{[]string{"audit"}, &murphyv1.ListAuditResponse{}, func(m proto.Message) bool {
			for _, e := range m.(*murphyv1.ListAuditResponse).Entries {
				if e.Target == id {
					return true
				}
			}
			return false
		}},
	}
	for _, tc := range cases {
		name := strings.Join(tc.args, " ")
		t.Run(name, func(t *testing.T) {
			out, err := runCLI(t, append(tc.args, "-o", "json", "--addr", addr, "--insecure")...)
			if err != nil {
				t.Fatalf("murphy %s -o json: %v\n%s", name, err, out)
			}
			if err := protojson.Unmarshal([]byte(out), tc.into); err != nil {
				t.Fatalf("murphy %s -o json does not parse as %T: %v\n%s", name, tc.into, err, out)
			}
			if !tc.check(tc.into) {
				t.Errorf("murphy %s -o json parsed, but lacks what it should show:\n%s", name, out)
			}
		})
		t.Run(name+" refuses yaml", func(t *testing.T) {
			if _, err := runCLI(t, append(tc.args, "-o", "yaml", "--addr", addr, "--insecure")...); err == nil || !strings.Contains(err.Error(), `unknown output "yaml"`) {
				t.Errorf("murphy %s -o yaml: %v", name, err)
			}
		})
	}
}
