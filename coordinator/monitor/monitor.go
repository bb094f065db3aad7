// Package monitor decides, while faults are active, whether a run must halt. It evaluates
// the spec's guardrails on the samples the leader receives: absolute thresholds (above or
// below, held for a duration) on the experimental group; deviation of the experimental
// group from the control group, target by target against each target's own baseline, at
// planned looks whose chances of a false halt add up to at most the halt budget (so
// looking again and again does not inflate false halts, and hosts that differ from each
// other do not look like a fault); and missing data. It is pure: the runner feeds it
// points and the time, and commits what it decides.
package monitor

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/analysis"
	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// HaltAlpha is the budget for false halts per run, split across deviation guardrails.
const HaltAlpha = 0.01

// Deviation guardrails look every LookInterval at each target's level over the last
// LookWindow (or since faults began, when that is shorter) against its baseline. Ten
// seconds keeps a halt quick while the number of planned looks, over which the budget is
// split, stays small; a minute of samples per target makes each look's estimate steady.
const (
	LookInterval = 10 * time.Second
	LookWindow   = time.Minute
	// extraLooks allows for steps that end a little after their planned durations.
	extraLooks = 3
	// The looks of a fault's first two minutes share half the guardrail's level: harm is
	// cheapest to stop early, and a long fault's many looks would otherwise leave each
	// early look a level too small to catch even a doubling (analysis.HaltConfig).
	earlyLooks = int(2 * time.Minute / LookInterval)
	earlyShare = 0.5
)

// Group is the side of the comparison a point came from.
type Group int

const (
	Control Group = iota
	Experiment
)

// Decision is a halt the monitor asks for, with its evidence.
type Decision struct {
	Reason      string
	Metric      string
	Guardrail   string
	Values      []float64
	Threshold   float64
	FirstBreach time.Time
	// Targets is every target's change at the halting look of a deviation guardrail.
	Targets []analysis.TargetSummary
	// Scale is how those changes were taken: ratios on the log scale, differences on
	// the linear one.
	Scale analysis.Scale
	// Samples are an absolute guardrail's recent experimental samples with the target
	// each came from, oldest first (the same points as Values): the evidence by host.
	Samples []Sample
}

// Sample is one experimental sample behind an absolute guardrail's halt.
type Sample struct {
	Source string
	At     time.Time
	Value  float64
}

type guard struct {
	cond      *spec.AbortCondition
	dir       spec.Direction
	text      string
	window    time.Duration // absolute guardrails aggregate the experimental points in it
	missing   time.Duration // silence that counts as missing data
	recentExp []fleet.Point // experimental points in the window, oldest first
	recentSrc []string      // the source of each of recentExp's points
	breach    time.Time     // first breaching sample of the current breach, zero when none
	aggregate float64

	dev     *deviation // nil without a deviation condition
	lastExp time.Time
	lastCtl time.Time
}

// deviation is a deviation guardrail's per-target state.
type deviation struct {
	test       *analysis.TargetHalt
	proportion bool
	okOnly     bool
	group      map[string]Group
	baseline   map[string][]float64     // before any fault, per target
	recent     map[string][]fleet.Point // during faults, the last LookWindow, per target
	nextLook   time.Time
	last       analysis.HaltLook
	looked     bool
	// cfg and interval calibrate the levels at the first look, when the baseline is
	// complete and the targets are known; planned is the spec's baseline.
	cfg      analysis.HaltConfig
	interval time.Duration
	planned  time.Duration
}

// Monitor holds one run's guardrail state. Not safe for concurrent use.
type Monitor struct {
	guards  []*guard
	started time.Time // when faults became active; zero before
	first   time.Time // this monitor's first evaluation
	evals   int64
	inline  bool // calibrate at the first look, waiting for it (CalibrateInline)
}

// CalibrateInline makes the first look of each deviation guardrail wait for its
// calibrated levels instead of falling back to the Bonferroni split when they are not
// ready. For simulations, whose clock does not wait for the background: a leader never
// blocks its loop on a calibration.
func (m *Monitor) CalibrateInline() { m.inline = true }

// New prepares the guardrails of sp. The deviation test learns the groups from the
// sources it is fed.
func New(sp *spec.Experiment) (*Monitor, error) {
	m := &Monitor{}
	looks := PlannedLooks(sp)
	metrics := map[string]*spec.Metric{}
	for _, mt := range sp.Hypothesis.Metrics {
		metrics[mt.Name] = mt
	}
	nDev := 0
	for _, a := range sp.Abort {
		if a.Deviation != nil {
			nDev++
		}
	}
	for _, a := range sp.Abort {
		mt, ok := metrics[a.Metric]
		if !ok {
			return nil, fmt.Errorf("monitor: guardrail on unknown metric %q", a.Metric)
		}
		interval := sourceInterval(mt)
		g := &guard{
			cond:    a,
			dir:     mt.Direction,
			text:    spec.GuardrailText(a),
			window:  max(2*interval, time.Second),
			missing: max(3*interval, 3*time.Second),
		}
		if a.Deviation != nil {
			dir, err := analysis.ParseDirection(mt.Direction)
			if err != nil {
				return nil, fmt.Errorf("monitor: %s: %w", a.Metric, err)
			}
			cfg := analysis.HaltConfig{
				Direction: dir, Tolerance: spec.ForAnalysis(a.Deviation), Proportion: spec.Proportion(mt),
				Alpha: HaltAlpha / float64(nDev), Looks: looks,
				EarlyLooks: earlyLooks, EarlyShare: earlyShare,
			}
			test, err := analysis.NewTargetHalt(cfg)
			if err != nil {
				return nil, fmt.Errorf("monitor: %s: %w", a.Metric, err)
			}
			g.dev = &deviation{
				test: test, cfg: cfg, interval: interval, planned: sp.GetBaseline().AsDuration(),
				proportion: spec.Proportion(mt), okOnly: spec.SuccessesOnly(mt),
				group: map[string]Group{}, baseline: map[string][]float64{}, recent: map[string][]fleet.Point{},
			}
		}
		m.guards = append(m.guards, g)
	}
	return m, nil
}

// PlannedLooks is the number of looks a deviation guardrail plans over the spec's fault
// window, over which its share of HaltAlpha is spent (analysis.HaltConfig).
func PlannedLooks(sp *spec.Experiment) int {
	return int(spec.FaultDuration(sp)/LookInterval) + extraLooks
}

// DeviationWarning says, before a run starts, when a deviation guardrail cannot test
// with groups of the given sizes; empty when it can.
func DeviationWarning(metric string, nControl, nExperiment int) string {
	if nControl >= analysis.MinHaltTargets && nExperiment >= analysis.MinHaltTargets {
		return ""
	}
	return fmt.Sprintf("the deviation guardrail on %s needs at least %d targets per group to test (this run has %d control and %d experimental); "+
		"it will not halt the run, so only absolute guardrails (above, below) can", metric, analysis.MinHaltTargets, nControl, nExperiment)
}

func sourceInterval(mt *spec.Metric) time.Duration {
	switch src := mt.GetSource(); {
	case src.GetProbe() != nil:
		return src.GetProbe().GetInterval().AsDuration()
	case src.GetPrometheus() != nil:
		return src.GetPrometheus().GetInterval().AsDuration()
	}
	return time.Second
}

// Evaluations is how many guardrail evaluations the monitor has made.
func (m *Monitor) Evaluations() int64 { return m.evals }

// Observe feeds new points of one metric from one source (a worker, or a group's
// pseudo-source for leader-side queries) of the given group. active says whether faults
// are active: before they are, points only build each target's baseline.
func (m *Monitor) Observe(metric string, g Group, source string, pts []fleet.Point, active bool) {
	if len(pts) == 0 {
		return
	}
	for _, gd := range m.guards {
		if gd.cond.Metric != metric {
			continue
		}
		if d := gd.dev; d != nil {
			d.group[source] = g
			if !active {
				for _, p := range pts {
					if (!d.okOnly || p.OK) && len(d.baseline[source]) < 100_000 {
						d.baseline[source] = append(d.baseline[source], p.Value)
					}
				}
			} else {
				for _, p := range pts {
					if !d.okOnly || p.OK {
						d.recent[source] = append(d.recent[source], p)
					}
				}
			}
		}
		if !active {
			continue
		}
		last := pts[len(pts)-1].At
		if g == Experiment {
			gd.recentExp = append(gd.recentExp, pts...)
			for range pts {
				gd.recentSrc = append(gd.recentSrc, source)
			}
			if last.After(gd.lastExp) {
				gd.lastExp = last
			}
		} else if last.After(gd.lastCtl) {
			gd.lastCtl = last
		}
	}
}

// lookDeviation takes the deviation guardrail's next planned look when it is due, and
// reports the latest look's status.
func (m *Monitor) lookDeviation(gd *guard, now time.Time) (*murphyv1.GuardrailStatus, *Decision) {
	d := gd.dev
	st := &murphyv1.GuardrailStatus{Metric: gd.cond.Metric, Guardrail: "deviation " + spec.ToleranceText(gd.cond.Deviation)}
	if m.started.IsZero() {
		st.Note = "waiting for faults"
		return st, nil
	}
	if d.nextLook.IsZero() {
		d.nextLook = m.started.Add(LookInterval)
	}
	var halt *Decision
	if !now.Before(d.nextLook) {
		for !now.Before(d.nextLook) {
			d.nextLook = d.nextLook.Add(LookInterval)
		}
		td := d.targets(now, m.started)
		if !d.looked {
			d.plan(td, m.inline)
		}
		d.last, d.looked = d.test.Look(td), true
		if d.last.Halt {
			halt = m.deviationHalt(gd, now)
		}
	}
	if !d.looked {
		st.Note = "first look at " + d.nextLook.Format(time.RFC3339)
		return st, halt
	}
	l := d.last
	st.Note = l.Reason
	st.RelChange = l.RelChange
	if l.Tested {
		st.Value, st.Threshold = l.T, l.Critical
		st.Closeness = max(0, math.Min(1, l.T/l.Critical))
	}
	return st, halt
}

// plan fixes the test before the first look, when the baselines are complete and the
// targets known: ANCOVA or change scores (analysis.ChooseHaltMethod, from the baselines
// alone), and the early looks' level calibrated to how those looks share their data
// (analysis.NewLookLevels). Calibrating costs 0.1-1.5 s of one core, too long for the
// leader's loop, which carries every run's halt path: it starts in the background when
// the faults begin (Start), and a run whose calibration is not ready at its first look
// keeps the Bonferroni split for its whole fault window (valid whatever the dependence,
// only more conservative; switching levels after a look would not be). Proportions keep
// the Bonferroni split: their calibration would rest on normal samples that shares of
// rare failures are not.
func (d *deviation) plan(td analysis.TargetData, inline bool) {
	lo, ok := d.design(td.Control, td.Experiment, true)
	if !ok {
		return
	}
	var change, ancova analysis.LookLevels
	if inline {
		var err1, err2 error
		change, err1 = lookLevels(lo.key(analysis.HaltChangeScores))
		ancova, err2 = lookLevels(lo.key(analysis.HaltANCOVA))
		if err1 != nil || err2 != nil {
			return
		}
	} else {
		var ready1, ready2 bool
		change, ready1 = cachedLevels(lo.key(analysis.HaltChangeScores))
		ancova, ready2 = cachedLevels(lo.key(analysis.HaltANCOVA))
		if !ready1 || !ready2 {
			// The next run of this design finds them ready.
			calibrateAsync(lo.key(analysis.HaltChangeScores))
			calibrateAsync(lo.key(analysis.HaltANCOVA))
			change, ancova = d.test.Levels(), d.test.Levels()
			change.Method, ancova.Method = analysis.HaltChangeScores, analysis.HaltANCOVA
		}
	}
	lv := change
	if analysis.ChooseHaltMethod(td, d.cfg.Tolerance, lo.baselineOverWindow, change, ancova) == analysis.HaltANCOVA {
		lv = ancova
	}
	_ = d.test.SetLevels(lv) // a plan for this guardrail's own config: cannot be refused
}

// prefetch starts calibrating, in the background, the levels the first look will most
// likely need: the targets that hold a baseline when the faults begin.
func (d *deviation) prefetch() {
	var c, e []analysis.Target
	for src, g := range d.group {
		t := analysis.Target{ID: src, Baseline: d.baseline[src]}
		if g == Experiment {
			e = append(e, t)
		} else {
			c = append(c, t)
		}
	}
	if lo, ok := d.design(c, e, false); ok {
		calibrateAsync(lo.key(analysis.HaltChangeScores))
		calibrateAsync(lo.key(analysis.HaltANCOVA))
	}
}

// layout is what a calibration depends on besides the method.
type layout struct {
	cfg                analysis.HaltConfig
	design             analysis.LookDesign
	nC, nE             int
	baselineOverWindow float64
}

func (lo layout) key(m analysis.HaltMethod) levelKey {
	cfg := lo.cfg
	cfg.Tolerance = analysis.Tolerance{} // the levels do not depend on it
	return levelKey{cfg, m, lo.design, lo.nC, lo.nE}
}

// design counts the targets that can be tested (a baseline, and a window when
// windowed) and the look design they imply. The baseline credited is the longest any
// target holds and never shorter than the spec's: a longer baseline shares less noise
// between looks, so erring long errs towards the Bonferroni levels.
func (d *deviation) design(control, experiment []analysis.Target, windowed bool) (layout, bool) {
	count := func(ts []analysis.Target) (n int, longest int) {
		for _, t := range ts {
			if len(t.Baseline) > 0 && (!windowed || len(t.Window) > 0) {
				n++
				longest = max(longest, len(t.Baseline))
			}
		}
		return n, longest
	}
	nC, bC := count(control)
	nE, bE := count(experiment)
	if d.proportion || nC < analysis.MinHaltTargets || nE < analysis.MinHaltTargets || d.interval <= 0 {
		return layout{}, false
	}
	base := max(d.planned, time.Duration(max(bC, bE))*d.interval)
	// Rounded up to half a look interval, so that runs of one design share a calibration.
	halves := math.Ceil(2 * float64(base) / float64(LookInterval))
	return layout{
		cfg:                d.cfg,
		design:             analysis.LookDesign{Window: int(LookWindow / LookInterval), Baseline: halves / 2},
		nC:                 nC,
		nE:                 nE,
		baselineOverWindow: float64(base) / float64(LookWindow),
	}, true
}

type levelKey struct {
	cfg    analysis.HaltConfig
	method analysis.HaltMethod
	design analysis.LookDesign
	nC, nE int
}

// levels holds calibrated levels by design. A calibration simulates 100,000 null paths
// (0.1-1.5 s on one core); a fleet runs the same few designs again and again, and the
// result is a fixed function of its key, which leaves out what the levels do not depend
// on (the tolerance), so the map stays at a few entries per design a fleet uses. One
// calibration runs at a time (busy), so that many runs starting together take one core,
// not every core the leader has.
var levels = struct {
	sync.Mutex
	done     map[levelKey]analysis.LookLevels
	failed   map[levelKey]error
	inflight map[levelKey]bool
	busy     chan struct{}
}{
	done: map[levelKey]analysis.LookLevels{}, failed: map[levelKey]error{},
	inflight: map[levelKey]bool{}, busy: make(chan struct{}, 1),
}

func cachedLevels(k levelKey) (analysis.LookLevels, bool) {
	levels.Lock()
	defer levels.Unlock()
	lv, ok := levels.done[k]
	return lv, ok
}

// calibrateAsync starts calibrating k unless it is done, failed or under way.
func calibrateAsync(k levelKey) {
	levels.Lock()
	_, done := levels.done[k]
	_, failed := levels.failed[k]
	if done || failed || levels.inflight[k] {
		levels.Unlock()
		return
	}
	levels.inflight[k] = true
	levels.Unlock()
	go func() {
		levels.busy <- struct{}{}
		defer func() { <-levels.busy }()
		_, _ = lookLevels(k)
	}()
}

// lookLevels calibrates k, or returns it from the cache.
func lookLevels(k levelKey) (analysis.LookLevels, error) {
	levels.Lock()
	if lv, ok := levels.done[k]; ok {
		levels.Unlock()
		return lv, nil
	}
	if err, ok := levels.failed[k]; ok {
		levels.Unlock()
		return analysis.LookLevels{}, err
	}
	levels.Unlock()
	lv, err := analysis.NewLookLevels(k.cfg, k.method, k.design, k.nC, k.nE)
	levels.Lock()
	defer levels.Unlock()
	delete(levels.inflight, k)
	if err != nil {
		levels.failed[k] = err
		return lv, err
	}
	levels.done[k] = lv
	return lv, nil
}

// targets assembles each target's baseline and its points in the last LookWindow since
// faults began, dropping older points for good.
func (d *deviation) targets(now, started time.Time) analysis.TargetData {
	cut := now.Add(-LookWindow)
	if cut.Before(started) {
		cut = started
	}
	td := analysis.TargetData{Proportion: d.proportion}
	for _, src := range slices.Sorted(maps.Keys(d.group)) {
		pts := d.recent[src]
		i := 0
		for i < len(pts) && pts[i].At.Before(cut) {
			i++
		}
		pts = pts[i:]
		d.recent[src] = pts
		t := analysis.Target{ID: src, Baseline: d.baseline[src], Window: values(pts)}
		if d.group[src] == Experiment {
			td.Experiment = append(td.Experiment, t)
		} else {
			td.Control = append(td.Control, t)
		}
	}
	return td
}

func (m *Monitor) deviationHalt(gd *guard, now time.Time) *Decision {
	l := gd.dev.last
	var drivers []string
	var changes []float64
	for _, t := range l.Targets {
		if t.Experiment {
			changes = append(changes, t.Change)
			if t.Beyond {
				drivers = append(drivers, t.ID)
			}
		}
	}
	driven := ""
	if len(drivers) > 0 {
		driven = "; beyond it on their own: " + strings.Join(drivers, ", ")
	}
	worse := "worse"
	if l.RelChange < 0 {
		worse = "lower"
	}
	return &Decision{
		Reason: fmt.Sprintf("%s: the experimental group is %.0f%% %s than control relative to their baselines, beyond the deviation tolerance %s (t = %.2f > %.2f at look %d, %d vs %d targets)%s",
			gd.cond.Metric, 100*math.Abs(l.RelChange), worse, spec.ToleranceText(gd.cond.Deviation), l.T, l.Critical, l.Look, l.NExperiment, l.NControl, driven),
		Metric: gd.cond.Metric, Guardrail: "deviation " + spec.ToleranceText(gd.cond.Deviation),
		Values: changes, Threshold: l.Critical, FirstBreach: now.Add(-min(LookWindow, now.Sub(m.started))),
		Targets: l.Targets, Scale: l.Scale,
	}
}

// Start marks when faults became active; missing-data clocks start there.
func (m *Monitor) Start(at time.Time) {
	if m.started.IsZero() {
		m.started = at
		for _, gd := range m.guards {
			if gd.dev != nil && !m.inline {
				gd.dev.prefetch()
			}
		}
	}
}

// Evaluate checks every guardrail at now and returns the first halt decision, if any,
// with the status of every guardrail.
func (m *Monitor) Evaluate(now time.Time) (*Decision, []*murphyv1.GuardrailStatus) {
	var halt *Decision
	var status []*murphyv1.GuardrailStatus
	if m.first.IsZero() {
		m.first = now
	}
	for _, gd := range m.guards {
		m.evals++
		d, st := m.evaluate(gd, now)
		status = append(status, st...)
		if halt == nil && d != nil {
			halt = d
		}
	}
	return halt, status
}

func (m *Monitor) evaluate(gd *guard, now time.Time) (*Decision, []*murphyv1.GuardrailStatus) {
	var out []*murphyv1.GuardrailStatus
	var halt *Decision
	// Absolute thresholds on the experimental group's recent points.
	cut := now.Add(-gd.window)
	i := 0
	for i < len(gd.recentExp) && gd.recentExp[i].At.Before(cut) {
		i++
	}
	gd.recentExp, gd.recentSrc = gd.recentExp[i:], gd.recentSrc[i:]
	if gd.cond.Above != nil || gd.cond.Below != nil {
		st := &murphyv1.GuardrailStatus{Metric: gd.cond.Metric, Guardrail: gd.absText()}
		if len(gd.recentExp) > 0 {
			gd.aggregate = mean(gd.recentExp)
			th, breaching := gd.threshold(gd.aggregate)
			st.Value, st.Threshold = gd.aggregate, th
			st.Closeness = closeness(gd.aggregate, th, gd.cond.Above != nil && th == *gd.cond.Above)
			if breaching {
				if gd.breach.IsZero() {
					gd.breach = firstBreach(gd)
				}
				st.BreachingSince = tsOrNil(gd.breach)
				held := now.Sub(gd.breach)
				if held >= gd.cond.GetFor().AsDuration() {
					halt = &Decision{
						Reason: fmt.Sprintf("%s: experimental group at %.4g for %s, guardrail %s", gd.cond.Metric, gd.aggregate, held.Round(time.Millisecond), gd.absText()),
						Metric: gd.cond.Metric, Guardrail: gd.absText(), Values: tail(values(gd.recentExp), 20),
						Threshold: th, FirstBreach: gd.breach, Samples: gd.samples(20),
					}
					st.Closeness = 1
				} else if gd.cond.GetFor().AsDuration() > 0 {
					st.Closeness = max(st.Closeness, float64(held)/float64(gd.cond.GetFor().AsDuration()))
				}
			} else {
				gd.breach = time.Time{}
			}
		}
		out = append(out, st)
	}
	if gd.dev != nil {
		st, d := m.lookDeviation(gd, now)
		if halt == nil {
			halt = d
		}
		out = append(out, st)
	}
	// Missing data, once faults have been active long enough to expect points. The clock
	// starts no earlier than this monitor's first look: a leader that took over mid-run
	// has not yet received the samples workers replay to it.
	since := latest(m.started, m.first)
	if !m.started.IsZero() && now.Sub(since) > gd.missing {
		expSilent := now.Sub(latest(gd.lastExp, since)) > gd.missing
		ctlSilent := now.Sub(latest(gd.lastCtl, since)) > gd.missing
		switch {
		case expSilent && !ctlSilent:
			out = append(out, &murphyv1.GuardrailStatus{Metric: gd.cond.Metric, Guardrail: "missing data", Closeness: 1})
			if halt == nil {
				halt = &Decision{
					Reason:    fmt.Sprintf("%s: the experimental group stopped reporting (last sample %s ago) while the control group still reports", gd.cond.Metric, now.Sub(latest(gd.lastExp, since)).Round(time.Millisecond)),
					Metric:    gd.cond.Metric,
					Guardrail: "missing data", FirstBreach: latest(gd.lastExp, since),
				}
			}
		case expSilent && ctlSilent:
			out = append(out, &murphyv1.GuardrailStatus{Metric: gd.cond.Metric, Guardrail: "missing data (" + string(gd.cond.OnMissing) + ")", Closeness: 1})
			if halt == nil && gd.cond.OnMissing != spec.MissingHold {
				halt = &Decision{
					Reason:    fmt.Sprintf("%s: no samples from either group for %s (onMissing: halt)", gd.cond.Metric, now.Sub(latest(latest(gd.lastExp, gd.lastCtl), since)).Round(time.Millisecond)),
					Metric:    gd.cond.Metric,
					Guardrail: "missing data", FirstBreach: latest(latest(gd.lastExp, gd.lastCtl), since),
				}
			}
		}
	}
	return halt, out
}

func (gd *guard) absText() string {
	var s string
	if gd.cond.Above != nil {
		s = fmt.Sprintf("above %g", *gd.cond.Above)
	}
	if gd.cond.Below != nil {
		if s != "" {
			s += " or "
		}
		s += fmt.Sprintf("below %g", *gd.cond.Below)
	}
	if gd.cond.GetFor().AsDuration() > 0 {
		s += " for " + spec.DurationText(gd.cond.GetFor().AsDuration())
	}
	return s
}

// threshold returns the relevant threshold for v and whether v breaches it.
func (gd *guard) threshold(v float64) (float64, bool) {
	if gd.cond.Above != nil && v > *gd.cond.Above {
		return *gd.cond.Above, true
	}
	if gd.cond.Below != nil && v < *gd.cond.Below {
		return *gd.cond.Below, true
	}
	if gd.cond.Above != nil {
		return *gd.cond.Above, false
	}
	return *gd.cond.Below, false
}

// closeness maps a value to [0,1] against a threshold it approaches from below (above
// guardrails) or from above (below guardrails).
func closeness(v, th float64, above bool) float64 {
	if th == 0 {
		if (above && v > 0) || (!above && v < 0) {
			return 1
		}
		return 0
	}
	c := v / th
	if !above {
		if v <= 0 {
			return 1
		}
		c = th / v
	}
	return max(0, math.Min(1, c))
}

// firstBreach is the time of the oldest point in the window that is itself beyond the
// threshold: detection is measured from the first bad sample, not from the evaluation.
func firstBreach(gd *guard) time.Time {
	for _, p := range gd.recentExp {
		if _, b := gd.threshold(p.Value); b {
			return p.At
		}
	}
	return gd.recentExp[len(gd.recentExp)-1].At
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func tsOrNil(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func values(pts []fleet.Point) []float64 {
	out := make([]float64, len(pts))
	for i, p := range pts {
		out[i] = p.Value
	}
	return out
}

func mean(pts []fleet.Point) float64 {
	s := 0.0
	for _, p := range pts {
		s += p.Value
	}
	return s / float64(len(pts))
}

func tail(xs []float64, n int) []float64 {
	if len(xs) > n {
		return xs[len(xs)-n:]
	}
	return xs
}

// samples are the last n experimental points with their sources, oldest first.
func (gd *guard) samples(n int) []Sample {
	from := max(0, len(gd.recentExp)-n)
	out := make([]Sample, 0, len(gd.recentExp)-from)
	for i := from; i < len(gd.recentExp); i++ {
		p := gd.recentExp[i]
		out = append(out, Sample{Source: gd.recentSrc[i], At: p.At, Value: p.Value})
	}
	return out
}
