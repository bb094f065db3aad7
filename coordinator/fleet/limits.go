package fleet

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Bounds on what a worker may send, below gRPC's 4 MiB per message: a broken or hostile
// worker can neither bloat the leader's memory nor, through the runner, the log.
const (
	// MaxSamplesPerBatch is four times what a worker sends (worker.SampleBatch).
	MaxSamplesPerBatch = 4000
	// MaxIDBytes bounds run IDs, assignment IDs, metric names and capabilities.
	MaxIDBytes = 256
	// MaxErrorBytes bounds a step status's error text; longer text is cut.
	MaxErrorBytes = 4096
	// MaxListLen bounds a hello's capabilities, active faults and probing runs, and a
	// halt ack's reverted assignments.
	MaxListLen = 4096
)

// Membership tells whether a worker belongs to a run (either group, any wave), so a
// worker cannot report for a run it is not in. The leader asks it for every message on
// a worker's stream: it must be fast and must not block. *fsm.FSM implements it.
type Membership interface {
	Member(run, worker string) bool
	// Unit returns the unit of run that worker acts on: unit itself, checked, or, when
	// assignment is set, the one the assignment is named after; false when the worker
	// does not act on it.
	Unit(run, worker, unit, assignment string) (string, bool)
}

// SetMembership installs the check, and onReject (may be nil), called with the reason
// whenever a worker's message is dropped. Without a check every report about a run is
// accepted (tests that drive the fleet alone); the coordinator sets one before serving
// workers.
func (f *Fleet) SetMembership(m Membership, onReject func(worker string, err error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.member, f.onReject = m, onReject
}

// admitted runs admit and counts and reports a rejection.
func (f *Fleet) admitted(worker string, msg *murphyv1.ConnectRequest, member bool) bool {
	err := f.admit(worker, msg, member)
	if err == nil {
		return true
	}
	f.rejected.Add(1)
	f.mu.Lock()
	onReject := f.onReject
	f.mu.Unlock()
	if onReject != nil {
		onReject(worker, err)
	}
	return false
}

// Rejected is how many worker messages the fleet has dropped as malformed, oversized,
// or about a run or an assignment that is not the worker's.
func (f *Fleet) Rejected() uint64 { return f.rejected.Load() }

// admit checks one message from worker c against the limits and the membership. It
// returns why the message is dropped, or nil. A step status's error text is cut to
// MaxErrorBytes in place. Without checkMember the membership is not asked.
func (f *Fleet) admit(worker string, msg *murphyv1.ConnectRequest, checkMember bool) error {
	f.mu.Lock()
	member := f.member
	f.mu.Unlock()
	if !checkMember {
		member = nil
	}
	isMember := func(run string) bool { return member == nil || member.Member(run, worker) }
	switch m := msg.Msg.(type) {
	case *murphyv1.ConnectRequest_Heartbeat:
		return nil
	case *murphyv1.ConnectRequest_Samples:
		b := m.Samples
		if err := checkID("run_id", b.RunId); err != nil {
			return err
		}
		if err := checkID("metric", b.Metric); err != nil {
			return err
		}
		if len(b.Samples) > MaxSamplesPerBatch {
			return fmt.Errorf("%d samples in one batch, at most %d", len(b.Samples), MaxSamplesPerBatch)
		}
		for i, s := range b.Samples {
			if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
				return fmt.Errorf("sample %d: value %v is not a finite number", i, s.Value)
			}
			if err := s.GetAt().CheckValid(); err != nil {
				return fmt.Errorf("sample %d: time: %v", i, err)
			}
		}
		if b.Unit != "" {
			if err := checkID("unit", b.Unit); err != nil {
				return err
			}
			if member != nil {
				if _, ok := member.Unit(b.RunId, worker, b.Unit, ""); !ok {
					return fmt.Errorf("samples of %q in run %q, which the worker does not act on", b.Unit, b.RunId)
				}
			}
		} else if !isMember(b.RunId) {
			return fmt.Errorf("samples for run %q, which the worker is not in", b.RunId)
		}
	case *murphyv1.ConnectRequest_StepStatus:
		st := m.StepStatus
		if err := checkID("run_id", st.RunId); err != nil {
			return err
		}
		if err := checkID("assignment_id", st.AssignmentId); err != nil {
			return err
		}
		if _, ok := murphyv1.FaultState_name[int32(st.State)]; !ok || st.State == murphyv1.FaultState_FAULT_STATE_UNSPECIFIED {
			return fmt.Errorf("step status in unknown state %d", st.State)
		}
		if _, ok := murphyv1.RevertCause_name[int32(st.Cause)]; !ok {
			return fmt.Errorf("step status with unknown cause %d", st.Cause)
		}
		if st.At != nil && st.At.CheckValid() != nil {
			return errors.New("step status with an invalid time")
		}
		// Every assignment is named run/.../unit (runner.assignmentID, rollbackID), where
		// the unit is the worker or a pod recorded as the worker's: a worker can only speak
		// for its own part of a run it is in.
		if !strings.HasPrefix(st.AssignmentId, st.RunId+"/") {
			return fmt.Errorf("status of assignment %q, which is not the worker's part of run %q", st.AssignmentId, st.RunId)
		}
		if member == nil {
			break
		}
		if _, ok := member.Unit(st.RunId, worker, "", st.AssignmentId); !ok {
			if !member.Member(st.RunId, worker) {
				return fmt.Errorf("step status for run %q, which the worker is not in", st.RunId)
			}
			return fmt.Errorf("status of assignment %q, which is not the worker's part of run %q", st.AssignmentId, st.RunId)
		}
		if len(st.Error) > MaxErrorBytes {
			st.Error = strings.ToValidUTF8(st.Error[:MaxErrorBytes], "") + "…"
		}
	case *murphyv1.ConnectRequest_HaltAck:
		a := m.HaltAck
		if len(a.Reverted) > MaxListLen {
			return fmt.Errorf("halt ack lists %d assignments, at most %d", len(a.Reverted), MaxListLen)
		}
		if a.At != nil && a.At.CheckValid() != nil {
			return errors.New("halt ack with an invalid time")
		}
		// An empty run acknowledges a halt of everything; the runner files it under the
		// worker's own runs.
		if a.RunId != "" && !isMember(a.RunId) {
			return fmt.Errorf("halt ack for run %q, which the worker is not in", a.RunId)
		}
	case *murphyv1.ConnectRequest_Targets:
		return checkTargets(m.Targets.GetTargets())
	case *murphyv1.ConnectRequest_Hello:
		return errors.New("a second hello on the same stream")
	default:
		return errors.New("a message of a kind this coordinator does not know")
	}
	return nil
}

// CheckHello bounds a hello's lists (labels are checked by the Connect handler).
func CheckHello(h *murphyv1.Hello) error {
	if len(h.Capabilities) > MaxListLen || len(h.ActiveFaults) > MaxListLen || len(h.ProbingRuns) > MaxListLen {
		return fmt.Errorf("worker hello: at most %d capabilities, active faults and probing runs", MaxListLen)
	}
	if len(h.Version) > MaxIDBytes {
		return fmt.Errorf("worker hello: version is %d bytes, at most %d", len(h.Version), MaxIDBytes)
	}
	for _, c := range h.Capabilities {
		if err := checkID("capability", c); err != nil {
			return fmt.Errorf("worker hello: %w", err)
		}
	}
	for _, r := range h.ProbingRuns {
		if err := checkID("probing run", r); err != nil {
			return fmt.Errorf("worker hello: %w", err)
		}
	}
	for _, af := range h.ActiveFaults {
		if err := checkID("active fault assignment_id", af.AssignmentId); err != nil {
			return fmt.Errorf("worker hello: %w", err)
		}
	}
	if err := checkTargets(h.Targets); err != nil {
		return fmt.Errorf("worker hello: %w", err)
	}
	return nil
}

// MaxTargets bounds the targets one worker reports: a node runs at most a few hundred
// pods (110 by default). MaxTargetLabels bounds each target's labels, whose keys may be
// as long as Kubernetes allows (a 253-byte prefix, a slash and 63 bytes).
const (
	MaxTargets         = 1024
	MaxTargetLabels    = 64
	maxTargetLabelKey  = 317
	maxTargetLabelText = 256
)

// checkTargets bounds a worker's list of targets and every ID and label in it.
func checkTargets(ts []*murphyv1.Target) error {
	if len(ts) > MaxTargets {
		return fmt.Errorf("%d targets, at most %d", len(ts), MaxTargets)
	}
	for _, t := range ts {
		if err := checkID("target id", t.Id); err != nil {
			return err
		}
		if len(t.Uid) > MaxIDBytes {
			return fmt.Errorf("target %s: uid is %d bytes, at most %d", t.Id, len(t.Uid), MaxIDBytes)
		}
		if len(t.Labels) > MaxTargetLabels {
			return fmt.Errorf("target %s: %d labels, at most %d", t.Id, len(t.Labels), MaxTargetLabels)
		}
		for k, v := range t.Labels {
			if k == "" || len(k) > maxTargetLabelKey || len(v) > maxTargetLabelText {
				return fmt.Errorf("target %s: label %q: keys must be 1 to %d bytes and values at most %d", t.Id, k, maxTargetLabelKey, maxTargetLabelText)
			}
		}
	}
	return nil
}

func checkID(field, s string) error {
	if s == "" || len(s) > MaxIDBytes || !utf8.ValidString(s) {
		return fmt.Errorf("%s must be 1 to %d bytes of UTF-8", field, MaxIDBytes)
	}
	return nil
}
