package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/runner"
	"github.com/murphy-chaos/murphy/coordinator/schedule"
	"github.com/murphy-chaos/murphy/coordinator/scheduler"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

type experimentService struct {
	murphyv1.UnimplementedExperimentServiceServer
	s *Server
}

var _ murphyv1.ExperimentServiceServer = (*experimentService)(nil)

// parseSpec validates a submitted spec, including the checks that need the cluster's
// capabilities (fault catalogue, supported sources).
func (s *Server) parseSpec(data []byte, filename string) (*spec.Experiment, error) {
	if filename == "" {
		filename = "spec"
	}
	sp, err := spec.Parse(data, filename, specOptions(s.cfg))
	if err != nil {
		return nil, err
	}
	var problems []spec.Problem
	for i, m := range sp.Hypothesis.Metrics {
		if m.Source.Prometheus != nil && s.prom == nil {
			problems = append(problems, spec.Problem{
				Field:   fmt.Sprintf("hypothesis.metrics[%d].source.prometheus", i),
				Message: "this cluster has no Prometheus configured; start the coordinators with --prometheus-url, or use a probe source",
			})
		}
	}
	problems = append(problems, workerLimitProblems(sp, s.fsm)...)
	if len(problems) > 0 {
		return nil, &spec.Error{File: filename, Problems: problems}
	}
	return sp, nil
}

// CatalogueSpecOptions are the checks a spec passes without a cluster: every step's fault
// kind and parameters against the fault catalogue, the one declaration of every kind that
// workers decode assignments with too.
func CatalogueSpecOptions() spec.Options {
	return spec.Options{ValidateFault: catalogue.Validate, FaultIsInstant: catalogue.IsInstant}
}

// specOptions are the submission checks of a cluster configured by cfg: the catalogue,
// then the fleet limits, which judge only steps the catalogue accepted (their messages
// assume well-formed params), and the longest fault a step may ask for.
func specOptions(cfg Config) spec.Options {
	opts := CatalogueSpecOptions()
	opts.ValidateFault = func(kind string, params map[string]string) error {
		decoded, err := catalogue.Decode(kind, params)
		if err != nil {
			return err
		}
		if param, err := cfg.FleetLimits.Judge(decoded, params); err != nil {
			return &spec.ParamError{Param: param, Err: err}
		}
		return nil
	}
	opts.MaxFaultDuration = cfg.MaxFaultDuration
	return opts
}

func (e *experimentService) Validate(_ context.Context, req *murphyv1.ValidateRequest) (*murphyv1.ValidateResponse, error) {
	sp, err := e.s.parseSpec(req.Spec, req.Filename)
	if err != nil {
		var se *spec.Error
		if errors.As(err, &se) {
			return &murphyv1.ValidateResponse{Valid: false, Problems: se.Lines()}, nil
		}
		return &murphyv1.ValidateResponse{Valid: false, Problems: []string{err.Error()}}, nil
	}
	plan, perr := scheduler.Split(runner.PlanTargets(sp.Targets), runner.Candidates(e.s.fsm, e.s.fleet, sp, nil), 1)
	return &murphyv1.ValidateResponse{Valid: true, Spec: sp, Digest: sp.GetOrigin().GetDigest(), Warnings: specWarnings(sp, plan, perr)}, nil
}

func (e *experimentService) Submit(ctx context.Context, req *murphyv1.SubmitRequest) (*murphyv1.SubmitResponse, error) {
	sp, err := e.s.parseSpec(req.Spec, req.Filename)
	if err != nil {
		return nil, fail(errInvalid, "%s", err.Error())
	}
	// Plan it now against the connected workers: a blast radius it would exceed, or a
	// stratum it cannot split, is refused before anything is committed. Too few workers
	// is not refused here: after a failover workers are still reconnecting.
	plan, err := scheduler.Split(runner.PlanTargets(sp.Targets), runner.Candidates(e.s.fsm, e.s.fleet, sp, nil), 1)
	if err != nil && !errors.Is(err, scheduler.ErrTooFewWorkers) {
		return nil, fail(errPrecondition, "%s: %v", req.Filename, err)
	}
	warnings := specWarnings(sp, plan, err)
	if sp.Schedule != nil {
		resp, err := e.createSchedule(ctx, sp, req)
		if resp != nil {
			resp.Warnings = append(warnings, resp.Warnings...)
		}
		return resp, err
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	id := sp.Name + "-" + hex.EncodeToString(b[:])
	cmd := &murphyv1.Command{
		By: caller(ctx),
		Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{
			RunId: id, Experiment: sp.Name, Spec: sp, SpecDigest: sp.GetOrigin().GetDigest(),
		}},
	}
	if err := e.s.propose(ctx, cmd); err != nil {
		return nil, err
	}
	return &murphyv1.SubmitResponse{Run: e.s.fsm.Run(id), Warnings: warnings}, nil
}

// specWarnings sizes the groups as the connected workers would split them now, or from
// the spec's counts when they are too few yet.
func specWarnings(sp *spec.Experiment, plan scheduler.Plan, planErr error) []string {
	if planErr == nil {
		return runner.SpecWarnings(sp, len(plan.Control), len(plan.Experiment))
	}
	if c, x := sp.Targets.GetControl().GetCount(), sp.Targets.GetExperiment().GetCount(); c > 0 && x > 0 {
		return runner.SpecWarnings(sp, int(c), int(x))
	}
	return runner.QueryWarnings(sp)
}

// createSchedule registers a spec with a schedule instead of running it now, or updates
// the schedule of the same name in place (unless the request asks for a new one): a team
// that edits its spec and submits it again means the same schedule, not a second one
// beside it with its own daily cap.
func (e *experimentService) createSchedule(ctx context.Context, sp *spec.Experiment, req *murphyv1.SubmitRequest) (*murphyv1.SubmitResponse, error) {
	plan, err := schedule.Compile(sp.Schedule)
	if err != nil {
		return nil, fail(errInvalid, "%s", err.Error())
	}
	var warnings []string
	if msg := e.poolShortfall(sp); msg != "" {
		if !req.Force {
			return nil, fail(errPrecondition, "%s; every slot would fire a run that fails. Opt more workers in, lower the counts, or submit with --force to create it anyway", msg)
		}
		warnings = append(warnings, msg+" (created anyway: --force)")
	}
	var existing *murphyv1.Schedule
	if !req.NewSchedule {
		ss, _ := e.s.fsm.Schedules()
		var same []string
		for _, s := range ss {
			if s.Name == sp.Name {
				existing = s
				same = append(same, s.Id)
			}
		}
		if len(same) > 1 {
			return nil, fail(errPrecondition, "%d schedules are named %s (%s): delete all but one to update it, or submit with --new to add another", len(same), sp.Name, strings.Join(same, ", "))
		}
	}
	from := e.s.cfg.Now()
	if existing != nil && existing.LastSlot != nil && existing.LastSlot.AsTime().After(from) {
		from = existing.LastSlot.AsTime()
	}
	first := plan.Next(from, 1-mrand.Float64())
	if first.IsZero() {
		return nil, fail(errInvalid, "schedule of %s never fires: its windows and blackout dates leave no time", sp.Name)
	}
	id := ""
	if existing != nil {
		id = existing.Id
	} else {
		var b [3]byte
		_, _ = rand.Read(b[:])
		id = sp.Name + "-" + hex.EncodeToString(b[:])
	}
	cmd := &murphyv1.Command{By: caller(ctx), Cmd: &murphyv1.Command_CreateSchedule{CreateSchedule: &murphyv1.CreateSchedule{
		ScheduleId: id, Name: sp.Name, Spec: sp, SpecDigest: sp.GetOrigin().GetDigest(), NextAt: timestampNow(first), Update: existing != nil,
	}}}
	if err := e.s.propose(ctx, cmd); err != nil {
		return nil, err
	}
	ss, _ := e.s.fsm.Schedules()
	for _, s := range ss {
		if s.Id == id {
			return &murphyv1.SubmitResponse{Schedule: s, Warnings: warnings, Updated: existing != nil}, nil
		}
	}
	return nil, fail(errInternal, "schedule %s vanished after it was created", id)
}

// poolShortfall says why the workers a schedule may target cannot form its groups, or
// returns "". It counts every registered worker not lost, connected or not: a schedule
// outlives a failover, and workers reconnect.
func (e *experimentService) poolShortfall(sp *spec.Experiment) string {
	targets, err := runner.RunTargets(sp)
	if err != nil {
		return err.Error()
	}
	if _, err := scheduler.Split(runner.PlanTargets(targets), runner.Registered(e.s.fsm, sp), 1); err != nil {
		pool := "the workers it targets"
		switch {
		case targets.GetKubernetes() != nil:
			pool = "the opted-in pods it targets"
		case sp.Schedule.OptedIn():
			pool = "the opted-in workers it targets (label " + spec.OptInLabel + "=enabled)"
		}
		return fmt.Sprintf("schedule of %s: %s cannot form its groups: %v", sp.Name, pool, err)
	}
	return ""
}

func (e *experimentService) ListSchedules(context.Context, *murphyv1.ListSchedulesRequest) (*murphyv1.ListSchedulesResponse, error) {
	ss, paused := e.s.fsm.Schedules()
	resp := &murphyv1.ListSchedulesResponse{Schedules: ss, Paused: paused, MaxActiveRuns: int32(e.s.cfg.ScheduleLimits.MaxActive)}
	for _, r := range e.s.fsm.ActiveRuns() {
		if r.ScheduleId != "" {
			resp.ActiveRuns++
		}
	}
	return resp, nil
}

func (e *experimentService) DeleteSchedule(ctx context.Context, req *murphyv1.DeleteScheduleRequest) (*murphyv1.DeleteScheduleResponse, error) {
	cmd := &murphyv1.Command{By: caller(ctx), Cmd: &murphyv1.Command_DeleteSchedule{DeleteSchedule: &murphyv1.DeleteSchedule{ScheduleId: req.ScheduleId}}}
	if err := e.s.propose(ctx, cmd); err != nil {
		return nil, err
	}
	return &murphyv1.DeleteScheduleResponse{}, nil
}

func (e *experimentService) PauseSchedules(ctx context.Context, req *murphyv1.PauseSchedulesRequest) (*murphyv1.PauseSchedulesResponse, error) {
	cmd := &murphyv1.Command{By: caller(ctx), Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: true, ScheduleId: req.ScheduleId}}}
	if err := e.s.propose(ctx, cmd); err != nil {
		return nil, err
	}
	return &murphyv1.PauseSchedulesResponse{}, nil
}

func (e *experimentService) ResumeSchedules(ctx context.Context, req *murphyv1.ResumeSchedulesRequest) (*murphyv1.ResumeSchedulesResponse, error) {
	if req.ScheduleId == "" && e.s.fsm.ClusterHalt() != nil {
		return nil, fail(errPrecondition, "the cluster is halted: lift the halt with `murphy resume` first, then resume schedules")
	}
	cmd := &murphyv1.Command{By: caller(ctx), Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: false, ScheduleId: req.ScheduleId}}}
	if err := e.s.propose(ctx, cmd); err != nil {
		return nil, err
	}
	return &murphyv1.ResumeSchedulesResponse{}, nil
}

// propose stamps a command with the leader's clock and applies it.
func (s *Server) propose(ctx context.Context, cmd *murphyv1.Command) error {
	cmd.At = timestampNow(s.cfg.Now())
	return s.apply(ctx, cmd)
}

// caller names who made a call, for the record: "role:name@address". A call a follower
// forwarded carries the original caller, which the leader trusts only from a coordinator.
func caller(ctx context.Context) string {
	id, _ := identityFrom(ctx)
	if id.Role == tlsutil.RoleCoordinator {
		md, _ := metadata.FromIncomingContext(ctx)
		if f := first(md, metadataForwardedFor); f != "" {
			return f
		}
	}
	who := "unknown"
	if id.Role != "" {
		who = id.Role + ":" + id.Name
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		who += "@" + p.Addr.String()
	}
	return who
}

func (e *experimentService) GetRun(_ context.Context, req *murphyv1.GetRunRequest) (*murphyv1.GetRunResponse, error) {
	run, err := e.s.fsm.FindRun(req.RunId)
	if err != nil {
		return nil, err
	}
	return &murphyv1.GetRunResponse{Run: run}, nil
}

func (e *experimentService) ListRuns(_ context.Context, req *murphyv1.ListRunsRequest) (*murphyv1.ListRunsResponse, error) {
	var out []*murphyv1.Run
	for _, r := range e.s.fsm.Runs() {
		if len(req.Phases) > 0 && !slices.Contains(req.Phases, r.Phase) {
			continue
		}
		if req.ScheduleId != "" && r.ScheduleId != req.ScheduleId {
			continue
		}
		out = append(out, r)
		if req.Limit > 0 && len(out) >= int(req.Limit) {
			break
		}
	}
	return &murphyv1.ListRunsResponse{Runs: out}, nil
}

func (e *experimentService) GetVerdict(_ context.Context, req *murphyv1.GetVerdictRequest) (*murphyv1.GetVerdictResponse, error) {
	run, err := e.s.fsm.FindRun(req.RunId)
	if err != nil {
		return nil, err
	}
	return &murphyv1.GetVerdictResponse{RunId: run.Id, Phase: run.Phase, Verdict: run.Verdict}, nil
}

func (e *experimentService) Halt(ctx context.Context, req *murphyv1.HaltRequest) (*murphyv1.HaltResponse, error) {
	run, err := e.s.fsm.FindRun(req.RunId)
	if err != nil {
		return nil, err
	}
	reason := req.Reason
	if reason == "" {
		reason = "halted by operator"
	}
	cmd := &murphyv1.Command{By: caller(ctx), Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{RunId: run.Id, Reason: reason}}}
	if err := e.s.propose(ctx, cmd); err != nil {
		return nil, err
	}
	e.s.metrics.runner.Halts.WithLabelValues("operator").Inc()
	return &murphyv1.HaltResponse{Run: e.s.fsm.Run(run.Id)}, nil
}

func (e *experimentService) HaltAll(ctx context.Context, req *murphyv1.HaltAllRequest) (*murphyv1.HaltAllResponse, error) {
	if strings.TrimSpace(req.Reason) == "" {
		return nil, fail(errInvalid, "halt all: give a reason (--reason); it is recorded on every run it halts")
	}
	var active []string
	for _, r := range e.s.fsm.ActiveRuns() {
		active = append(active, r.Id)
	}
	cmd := &murphyv1.Command{By: caller(ctx), Cmd: &murphyv1.Command_HaltAll{HaltAll: &murphyv1.HaltAll{Reason: req.Reason}}}
	if err := e.s.propose(ctx, cmd); err != nil {
		return nil, err
	}
	e.s.metrics.runner.Halts.WithLabelValues("all").Add(float64(len(active)))
	var halted []string
	for _, id := range active {
		if r := e.s.fsm.Run(id); r != nil && r.Phase == murphyv1.RunPhase_RUN_PHASE_HALTED {
			halted = append(halted, id)
		}
	}
	return &murphyv1.HaltAllResponse{RunIds: halted, Halt: e.s.fsm.ClusterHalt()}, nil
}

func (e *experimentService) Resume(ctx context.Context, _ *murphyv1.ResumeRequest) (*murphyv1.ResumeResponse, error) {
	// A halt pauses schedules too; lifting it leaves them paused until ResumeSchedules.
	cmd := &murphyv1.Command{By: caller(ctx), Cmd: &murphyv1.Command_Resume{Resume: &murphyv1.Resume{HaltOnly: true}}}
	if err := e.s.propose(ctx, cmd); err != nil {
		return nil, err
	}
	return &murphyv1.ResumeResponse{}, nil
}

// watchInterval is how often Watch sends live progress between state changes.
const watchInterval = 500 * time.Millisecond

func (e *experimentService) Watch(req *murphyv1.WatchRequest, stream murphyv1.ExperimentService_WatchServer) error {
	run, err := e.s.fsm.FindRun(req.RunId)
	if err != nil {
		return err
	}
	changed, cancel := e.s.watchers.subscribe(run.Id)
	defer cancel()
	sp, err := spec.Of(run)
	if err != nil {
		return err
	}
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		run = e.s.fsm.Run(run.Id)
		resp := &murphyv1.WatchResponse{Run: run}
		if r := e.s.currentRunner(); r != nil && run.Groups != nil {
			resp.Progress = runner.Progress(run, sp, e.s.fleet.Samples())
			resp.Guardrails = r.Guardrails(run.Id)
		}
		phase, total := runner.Remaining(run, sp, e.s.cfg.Now())
		resp.PhaseLeft, resp.RunLeft = durationpb.New(phase), durationpb.New(total)
		if err := stream.Send(resp); err != nil {
			return err
		}
		if fsm.Terminal(run.Phase) {
			return nil
		}
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-e.s.stop:
			return fail(errUnavailable, "coordinator shutting down; watch again")
		case <-changed:
		case <-t.C:
		}
	}
}
