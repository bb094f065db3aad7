package main

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// TestSchedulesCommands drives `murphy schedules` against one node with no workers: a
// plan from a file (no cluster needed), creation with --force, an update in place by
// submitting again, show, pause and resume of one schedule, the plan of a stored schedule,
// ls --schedule and delete, each with -o json where a program would read it.
func TestSchedulesCommands(t *testing.T) {
	file := writeFile(t, "sched.yaml", strings.Replace(string(demoSpec), "\nsteps:", `
schedule:
  cron: "0 */20 * * * *"
  timezone: Europe/Helsinki
  optIn: false
  maxPerDay: 2
  windows: [{start: "09:00", end: "10:00"}]
steps:`, 1))

	// 80 slots of 20 minutes hold a whole day's window, whatever the time now.
	out, err := runCLI(t, "schedules", "plan", file, "--next", "80", "-o", "json")
	if err != nil {
		t.Fatalf("plan FILE: %v\n%s", err, out)
	}
	var plan []planSlot
	if err := json.Unmarshal([]byte(out), &plan); err != nil || len(plan) != 80 {
		t.Fatalf("plan FILE -o json: %v\n%s", err, out)
	}
	fired, capped := 0, 0
	for _, s := range plan {
		switch {
		case s.Skip == "":
			fired++
			if s.Until == nil || s.Until.Sub(s.Slot) > 60*60e9 {
				t.Errorf("slot %s fires with until %v", s.Slot, s.Until)
			}
		case strings.Contains(s.Skip, "cap"):
			capped++
		}
	}
	if fired == 0 || capped == 0 {
		t.Errorf("the plan applies neither the window nor the cap:\n%s", out)
	}

	addr := startNode(t, nil)
	flags := []string{"--addr", addr, "--insecure"}
	if out, err := runCLI(t, append([]string{"run", file}, flags...)...); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("a schedule no worker can run was created: %v\n%s", err, out)
	}
	out, err = runCLI(t, append([]string{"run", file, "--force"}, flags...)...)
	if err != nil || !strings.Contains(out, "created") {
		t.Fatalf("run --force: %v\n%s", err, out)
	}
	out, err = runCLI(t, append([]string{"run", file, "--force"}, flags...)...)
	if err != nil || !strings.Contains(out, "updated in place") {
		t.Fatalf("submitting again: %v\n%s", err, out)
	}
	list := &murphyv1.ListSchedulesResponse{}
	out, _ = runCLI(t, append([]string{"schedules", "-o", "json"}, flags...)...)
	if err := protojson.Unmarshal([]byte(out), list); err != nil || len(list.Schedules) != 1 {
		t.Fatalf("schedules -o json: %v\n%s", err, out)
	}
	id := list.Schedules[0].Id

	out, err = runCLI(t, append([]string{"schedules", "pause", id[:len(id)-2], "-o", "json"}, flags...)...)
	s := &murphyv1.Schedule{}
	if err != nil || protojson.Unmarshal([]byte(out), s) != nil || !s.Paused || s.Id != id {
		t.Fatalf("pause by prefix: %v\n%s", err, out)
	}
	out, _ = runCLI(t, append([]string{"schedules"}, flags...)...)
	if !strings.Contains(out, "paused") {
		t.Errorf("a paused schedule shows a next slot:\n%s", out)
	}
	out, err = runCLI(t, append([]string{"schedules", "resume", id}, flags...)...)
	if err != nil || !strings.Contains(out, "resumed") {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	out, err = runCLI(t, append([]string{"schedules", "show", id}, flags...)...)
	if err != nil || !strings.Contains(out, "EET") || !strings.Contains(out, "Updated") {
		t.Errorf("show (times in the schedule's zone, the update): %v\n%s", err, out)
	}
	out, err = runCLI(t, append([]string{"schedules", "plan", id, "--next", "3"}, flags...)...)
	if err != nil || strings.Count(out, "\n") != 4 || !strings.Contains(out, "EET") {
		t.Errorf("plan SCHEDULE: %v\n%s", err, out)
	}
	runs := &murphyv1.ListRunsResponse{}
	out, err = runCLI(t, append([]string{"ls", "--schedule", id, "-o", "json"}, flags...)...)
	if err != nil || protojson.Unmarshal([]byte(out), runs) != nil || len(runs.Runs) != 0 {
		t.Errorf("ls --schedule: %v\n%s", err, out)
	}
	out, err = runCLI(t, append([]string{"schedules", "delete", id}, flags...)...)
	if err != nil || !strings.Contains(out, "deleted") {
		t.Errorf("delete: %v\n%s", err, out)
	}
}
