package fsm

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Audit actions, the vocabulary of AuditEntry.action.
const (
	AuditSubmit          = "run.submit"
	AuditHalt            = "run.halt"
	AuditHaltAll         = "cluster.halt"
	AuditResume          = "cluster.resume"
	AuditScheduleCreate  = "schedule.create"
	AuditScheduleFire    = "schedule.fire"
	AuditScheduleDelete  = "schedule.delete"
	AuditScheduleSkip    = "schedule.skip"
	AuditScheduleUpdate  = "schedule.update"
	AuditSchedulesPause  = "schedules.pause"
	AuditSchedulesResume = "schedules.unpause"
	AuditNodeJoin        = "node.join"
	AuditNodeRemove      = "node.remove"
)

// maxAuditText bounds each free-text field of an entry (a halt reason), so one command
// cannot make the trail, which is never trimmed, carry a large blob forever.
const maxAuditText = 1024

// applyAudited applies cmd and, when it is accepted, appends its audit entry. The entry is
// drawn before the apply, so it can tell a node joining from a leader re-registering
// itself with the same addresses (which is not audited); it is kept only if the command
// was applied. Everything in it comes from the command and the state before it, so every
// node writes the same trail.
func (f *FSM) applyAudited(index uint64, cmd *murphyv1.Command) (Change, error) {
	entry := f.auditEntry(cmd)
	ch, err := f.apply(cmd)
	if err == nil && entry != nil {
		entry.Index = index
		f.audit = append(f.audit, entry)
	}
	return ch, err
}

// auditEntry returns the entry cmd would add, or nil for commands the trail does not
// record (the runner's bookkeeping: steps, verdicts, summaries, worker registrations).
func (f *FSM) auditEntry(cmd *murphyv1.Command) *murphyv1.AuditEntry {
	by, from := splitBy(cmd.GetBy())
	e := &murphyv1.AuditEntry{At: cmd.GetAt(), By: by, From: from}
	switch c := cmd.Cmd.(type) {
	case *murphyv1.Command_CreateRun:
		e.Action, e.Target = AuditSubmit, c.CreateRun.GetRunId()
		e.Experiment, e.SpecDigest = c.CreateRun.GetExperiment(), c.CreateRun.GetSpecDigest()
	case *murphyv1.Command_HaltRun:
		e.Action, e.Target, e.Reason = AuditHalt, c.HaltRun.GetRunId(), c.HaltRun.GetReason()
		if g := c.HaltRun.GetGuardrail(); g != "" {
			e.Detail = "guardrail " + c.HaltRun.GetMetric() + " " + g
		}
	case *murphyv1.Command_HaltAll:
		e.Action, e.Reason = AuditHaltAll, c.HaltAll.GetReason()
	case *murphyv1.Command_Resume:
		e.Action = AuditResume
	case *murphyv1.Command_CreateSchedule:
		e.Action, e.Target = AuditScheduleCreate, c.CreateSchedule.GetScheduleId()
		e.Experiment, e.SpecDigest = c.CreateSchedule.GetName(), c.CreateSchedule.GetSpecDigest()
		if c.CreateSchedule.GetUpdate() {
			e.Action = AuditScheduleUpdate
			if s := f.schedules[c.CreateSchedule.GetScheduleId()]; s != nil && s.SpecDigest != c.CreateSchedule.GetSpecDigest() {
				e.Detail = "spec " + s.SpecDigest + " -> " + c.CreateSchedule.GetSpecDigest()
			}
		}
	case *murphyv1.Command_SkipSchedule:
		// The trail is never trimmed, so it records where a streak of skips starts, not
		// every slot of it: a skip for the same reason as the schedule's previous decision
		// (a night outside the windows, a paused week) adds no line. A leader that finds
		// many slots passed skips them in one command, one line. Every slot is still a
		// decision in the schedule's state and its counts.
		sk := c.SkipSchedule
		e.Action, e.Target, e.Reason = AuditScheduleSkip, sk.GetScheduleId(), sk.GetReason()
		if s := f.schedules[sk.GetScheduleId()]; s != nil {
			if n := len(s.Recent); n > 0 && s.Recent[n-1].RunId == "" && s.Recent[n-1].Reason == sk.GetReason() {
				return nil
			}
			e.Experiment, e.SpecDigest = s.Name, s.SpecDigest
		}
		e.Detail = "slot " + stamp(sk.GetSlot())
		if n := len(sk.GetMoreSlots()); n > 0 {
			e.Detail = fmt.Sprintf("%d slots %s .. %s", n+1, stamp(sk.GetSlot()), stamp(sk.GetMoreSlots()[n-1]))
		}
	case *murphyv1.Command_FireSchedule:
		e.Action, e.Target = AuditScheduleFire, c.FireSchedule.GetRunId()
		if s := f.schedules[c.FireSchedule.GetScheduleId()]; s != nil {
			e.Experiment, e.SpecDigest = s.Name, s.SpecDigest
		}
		e.Detail = "schedule " + c.FireSchedule.GetScheduleId()
	case *murphyv1.Command_DeleteSchedule:
		e.Action, e.Target = AuditScheduleDelete, c.DeleteSchedule.GetScheduleId()
		if s := f.schedules[c.DeleteSchedule.GetScheduleId()]; s != nil {
			e.Experiment, e.SpecDigest = s.Name, s.SpecDigest
		}
	case *murphyv1.Command_PauseSchedules:
		e.Action, e.Target = AuditSchedulesPause, c.PauseSchedules.GetScheduleId()
		if !c.PauseSchedules.GetPaused() {
			e.Action = AuditSchedulesResume
		}
	case *murphyv1.Command_RegisterNode:
		n := c.RegisterNode.GetNode()
		if old := f.nodes[n.GetId()]; old != nil && old.RaftAddr == n.GetRaftAddr() && old.GrpcAddr == n.GetGrpcAddr() && old.HttpAddr == n.GetHttpAddr() {
			return nil // a leader refreshing its own record
		}
		e.Action, e.Target = AuditNodeJoin, n.GetId()
		e.Detail = "raft " + n.GetRaftAddr() + ", grpc " + n.GetGrpcAddr()
		if n.GetHttpAddr() != "" {
			e.Detail += ", http " + n.GetHttpAddr()
		}
	case *murphyv1.Command_RemoveNode:
		e.Action, e.Target = AuditNodeRemove, c.RemoveNode.GetNodeId()
	default:
		return nil
	}
	e.Reason = clip(e.Reason)
	e.Detail = clip(e.Detail)
	e.Target = clip(e.Target)
	e.Experiment = clip(e.Experiment)
	return e
}

// splitBy separates the proposer's identity from the address it called from: Command.by
// is "who@address" for calls from clients ("operator@10.0.0.7:51234",
// "operator:alice@10.0.0.7:51234") and a bare identity for the cluster's own commands
// ("monitor", "node:n1"). The address is after the last '@', so a name may contain one.
func splitBy(by string) (who, from string) {
	by = clip(by)
	i := strings.LastIndexByte(by, '@')
	if i < 0 {
		return by, ""
	}
	return by[:i], by[i+1:]
}

func clip(s string) string {
	if len(s) <= maxAuditText {
		return s
	}
	return strings.ToValidUTF8(s[:maxAuditText], "") + "…"
}

// Audit returns copies of the audit entries at or after since (every entry when since is
// nil) whose index is above afterIndex, oldest first, at most limit of them (0: no
// limit), and whether more matched.
func (f *FSM) Audit(since *timestamppb.Timestamp, afterIndex uint64, limit int) ([]*murphyv1.AuditEntry, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	// Entries are in index order; skip what the caller has already read at once.
	start := sort.Search(len(f.audit), func(i int) bool { return f.audit[i].Index > afterIndex })
	var out []*murphyv1.AuditEntry
	for _, e := range f.audit[start:] {
		if since != nil && e.GetAt().AsTime().Before(since.AsTime()) {
			continue
		}
		if limit > 0 && len(out) == limit {
			return out, true
		}
		out = append(out, proto.CloneOf(e))
	}
	return out, false
}
