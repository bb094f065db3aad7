package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/murphy-chaos/murphy/coordinator/spec"
)

// Escalation levels, narrowest first.
const (
	LevelHost       = "host"
	LevelDatacenter = "datacenter"
	LevelRegion     = "region"
)

// minWaveControl is the smallest control group a wave takes when the fleet allows it.
const minWaveControl = 3

// PlanWave forms one wave of an escalation ladder: the experimental group is one host,
// or every selected worker of one data centre, or of one region, around anchor (a worker
// of the previous wave, so waves widen around the same spot; empty picks one at random).
// The control group has as many workers (at least minWaveControl where the fleet has
// them), taken as close as possible without overlap:
// the same data centre for a host, the same region for a data centre, other regions for
// a region. Blast-radius limits apply to every wave.
func PlanWave(t *spec.Targets, candidates []Candidate, level, anchor string, seed uint64) (Plan, error) {
	sel, pool, err := selectPool(t, candidates)
	if err != nil {
		return Plan{}, err
	}
	if len(pool) < 2 {
		return Plan{}, tooFew{fmt.Sprintf("%v: selector %s matches %d connected workers; a wave needs at least 2", ErrCannotPlan, selOrAll(sel), len(pool))}
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	at := pool[0]
	for _, c := range pool {
		if c.ID == anchor {
			at = c
		}
	}
	dc, region := at.Labels["datacenter"], at.Labels["region"]
	var exp, near, far []Candidate
	for _, c := range pool {
		switch level {
		case LevelHost:
			if c.ID == at.ID {
				exp = append(exp, c)
			} else if c.Labels["datacenter"] == dc {
				near = append(near, c)
			} else if c.Labels["region"] == region {
				far = append([]Candidate{c}, far...) // same region before other regions
			} else {
				far = append(far, c)
			}
		case LevelDatacenter:
			if c.Labels["datacenter"] == dc {
				exp = append(exp, c)
			} else if c.Labels["region"] == region {
				near = append(near, c)
			} else {
				far = append(far, c)
			}
		case LevelRegion:
			if c.Labels["region"] == region {
				exp = append(exp, c)
			} else {
				far = append(far, c)
			}
		default:
			return Plan{}, fmt.Errorf("%w: unknown escalation level %q", ErrCannotPlan, level)
		}
	}
	others := append(near, far...)
	if len(others) < len(exp) {
		return Plan{}, tooFew{fmt.Sprintf("%v: the %s wave takes %d workers but only %d others are left for its control group", ErrCannotPlan, level, len(exp), len(others))}
	}
	plan := Plan{Seed: seed}
	for _, c := range exp {
		plan.Experiment = append(plan.Experiment, c.ID)
	}
	// A wave's verdict compares targets, so a control group of one could not say how
	// targets vary: a one-host wave gets minWaveControl controls where the fleet has them.
	for _, c := range others[:min(len(others), max(len(exp), minWaveControl))] {
		plan.Control = append(plan.Control, c.ID)
	}
	slices.Sort(plan.Experiment)
	slices.Sort(plan.Control)
	if max := int(t.GetBlastRadius().GetMaxWorkers()); max > 0 && len(plan.Experiment) > max {
		return Plan{}, fmt.Errorf("%w: the %s wave's experimental group of %d exceeds blastRadius.maxWorkers %d", ErrCannotPlan, level, len(plan.Experiment), max)
	}
	if err := checkPerLabel("datacenter", "maxPercentPerDatacenter", t.BlastRadius.MaxPercentPerDatacenter, pool, plan.Experiment); err != nil {
		return Plan{}, err
	}
	if err := checkPerLabel("region", "maxPercentPerRegion", t.BlastRadius.MaxPercentPerRegion, pool, plan.Experiment); err != nil {
		return Plan{}, err
	}
	return plan, nil
}
