// Package scheduler is Murphy's pure planning: from a spec and the workers available it
// decides the control and experimental groups. It does no I/O and reads no clock; the
// leader passes the random seed in and commits the plan, so a run can be explained and
// reproduced from the log.
package scheduler

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/murphy-chaos/murphy/coordinator/selector"
	"github.com/murphy-chaos/murphy/coordinator/spec"
)

// ErrCannotPlan wraps every reason a spec cannot be planned on the available workers.
var ErrCannotPlan = errors.New("scheduler: cannot form groups")

// ErrTooFewWorkers marks the one reason that may go away by itself (workers connecting,
// other runs ending); errors.Is(err, ErrCannotPlan) holds for it too.
var ErrTooFewWorkers = fmt.Errorf("%w: too few workers", ErrCannotPlan)

type tooFew struct{ msg string }

func (e tooFew) Error() string        { return e.msg }
func (e tooFew) Is(target error) bool { return target == ErrTooFewWorkers || target == ErrCannotPlan }

// Candidate is a worker available for a run.
type Candidate struct {
	ID     string
	Labels map[string]string
}

// Plan is the split. Both groups are sorted by worker ID.
type Plan struct {
	Control    []string
	Experiment []string
	Seed       uint64
}

// Matches reports whether labels satisfy an equality selector.
func Matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TargetSelector is the spec's selector in either form it may be written in.
func TargetSelector(t *spec.Targets) (selector.Selector, error) {
	if t.Match != "" {
		return selector.Parse(t.Match)
	}
	return selector.FromMap(t.Selector), nil
}

// Split selects the candidates matching the spec's selector and deals them into an
// experimental and a control group of the requested sizes, stratified so each stratum
// (a combination of the stratify labels) contributes to both groups in proportion to its
// size. It refuses plans that exceed the blast radius.
func Split(t *spec.Targets, candidates []Candidate, seed uint64) (Plan, error) {
	sel, pool, err := selectPool(t, candidates)
	if err != nil {
		return Plan{}, err
	}
	n := len(pool)
	nExp, nCtl := size(t.Experiment, n), size(t.Control, n)
	if nExp < 1 {
		return Plan{}, tooFew{fmt.Sprintf("%v: selector %s matches %d connected workers; the experimental group needs at least 1", ErrCannotPlan, selOrAll(sel), n)}
	}
	if nExp+nCtl > n {
		return Plan{}, tooFew{fmt.Sprintf("%v: selector %s matches %d connected workers; the run needs %d (experiment %d + control %d)", ErrCannotPlan, selOrAll(sel), n, nExp+nCtl, nExp, nCtl)}
	}
	if max := int(t.GetBlastRadius().GetMaxWorkers()); max > 0 && nExp > max {
		return Plan{}, fmt.Errorf("%w: the experimental group of %d exceeds blastRadius.maxWorkers %d", ErrCannotPlan, nExp, max)
	}

	strata := map[string][]Candidate{}
	for _, c := range pool {
		k := stratumKey(t.Stratify, c.Labels)
		strata[k] = append(strata[k], c)
	}
	keys := slices.Sorted(maps.Keys(strata))
	// A stratum of one worker can only ever be on one side, so the groups could not share
	// its mix; refuse rather than split lopsidedly.
	if nCtl > 0 && len(t.Stratify) > 0 {
		for _, k := range keys {
			if len(strata[k]) == 1 {
				return Plan{}, fmt.Errorf("%w: stratum %s has a single worker (%s), so control and experiment cannot share its mix; add workers there, narrow the selector, or stratify by fewer labels", ErrCannotPlan, strings.TrimSuffix(k, ";"), strata[k][0].ID)
			}
		}
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	sizes := make([]int, len(keys))
	for i, k := range keys {
		rng.Shuffle(len(strata[k]), func(a, b int) { strata[k][a], strata[k][b] = strata[k][b], strata[k][a] })
		sizes[i] = len(strata[k])
	}
	expAlloc := allocate(nExp, sizes)
	left := make([]int, len(sizes))
	for i := range sizes {
		left[i] = sizes[i] - expAlloc[i]
	}
	ctlAlloc := allocate(nCtl, left)

	var plan Plan
	plan.Seed = seed
	for i, k := range keys {
		members := strata[k]
		for _, c := range members[:expAlloc[i]] {
			plan.Experiment = append(plan.Experiment, c.ID)
		}
		for _, c := range members[expAlloc[i] : expAlloc[i]+ctlAlloc[i]] {
			plan.Control = append(plan.Control, c.ID)
		}
	}
	slices.Sort(plan.Experiment)
	slices.Sort(plan.Control)
	if err := checkPerLabel("datacenter", "maxPercentPerDatacenter", t.BlastRadius.MaxPercentPerDatacenter, pool, plan.Experiment); err != nil {
		return Plan{}, err
	}
	if err := checkPerLabel("region", "maxPercentPerRegion", t.BlastRadius.MaxPercentPerRegion, pool, plan.Experiment); err != nil {
		return Plan{}, err
	}
	return plan, nil
}

func selOrAll(s selector.Selector) string {
	if len(s) == 0 {
		return "{}"
	}
	return "{" + s.String() + "}"
}

// selectPool is the candidates the targets' selector matches, in ID order so a seed
// always yields the same plan.
func selectPool(t *spec.Targets, candidates []Candidate) (selector.Selector, []Candidate, error) {
	sel, err := TargetSelector(t)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCannotPlan, err)
	}
	var pool []Candidate
	for _, c := range candidates {
		if sel.Matches(c.Labels) {
			pool = append(pool, c)
		}
	}
	slices.SortFunc(pool, func(a, b Candidate) int { return strings.Compare(a.ID, b.ID) })
	return sel, pool, nil
}

func size(g *spec.GroupSize, n int) int {
	if g.GetCount() > 0 {
		return int(g.GetCount())
	}
	return int(math.Ceil(g.GetPercent() / 100 * float64(n)))
}

func stratumKey(labels []string, l map[string]string) string {
	var b strings.Builder
	for _, k := range labels {
		b.WriteString(k + "=" + l[k] + ";")
	}
	return b.String()
}

// allocate splits total across buckets in proportion to their capacity (largest remainder,
// ties to the earlier bucket), never exceeding a bucket's capacity.
func allocate(total int, capacity []int) []int {
	out := make([]int, len(capacity))
	sum := 0
	for _, c := range capacity {
		sum += c
	}
	if sum == 0 || total == 0 {
		return out
	}
	type rem struct {
		i    int
		frac float64
	}
	var rems []rem
	given := 0
	for i, c := range capacity {
		exact := float64(total) * float64(c) / float64(sum)
		out[i] = min(int(exact), c)
		given += out[i]
		rems = append(rems, rem{i, exact - float64(out[i])})
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return cmp.Compare(b.frac, a.frac) })
	for given < total {
		progressed := false
		for _, r := range rems {
			if given == total {
				break
			}
			if out[r.i] < capacity[r.i] {
				out[r.i]++
				given++
				progressed = true
			}
		}
		if !progressed {
			break
		}
	}
	return out
}

// checkPerLabel refuses an experimental group that takes more than maxPct of the
// selected workers sharing one value of label (a data centre, a region).
func checkPerLabel(label, field string, maxPct float64, pool []Candidate, experiment []string) error {
	if maxPct <= 0 {
		return nil
	}
	total, hit := map[string]int{}, map[string]int{}
	inExp := map[string]bool{}
	for _, id := range experiment {
		inExp[id] = true
	}
	for _, c := range pool {
		v := c.Labels[label]
		total[v]++
		if inExp[c.ID] {
			hit[v]++
		}
	}
	for _, v := range slices.Sorted(maps.Keys(hit)) {
		if pct := 100 * float64(hit[v]) / float64(total[v]); pct > maxPct+1e-9 {
			name := v
			if name == "" {
				name = "(no " + label + " label)"
			}
			return fmt.Errorf("%w: the experimental group takes %d of %d workers (%.0f%%) in %s %s, above blastRadius.%s %.0f%%", ErrCannotPlan, hit[v], total[v], pct, label, name, field, maxPct)
		}
	}
	return nil
}
