package scheduler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/murphy-chaos/murphy/coordinator/spec"
)

// fleet builds regions x datacenters x perDC workers labelled like murphy dev's.
func fleet(regions, dcs, perDC int) []Candidate {
	var out []Candidate
	for r := range regions {
		for d := range dcs {
			for h := range perDC {
				out = append(out, Candidate{
					ID:     fmt.Sprintf("w-r%d-d%d-%d", r, d, h),
					Labels: map[string]string{"service": "demo", "region": fmt.Sprintf("r%d", r), "datacenter": fmt.Sprintf("r%d-d%d", r, d)},
				})
			}
		}
	}
	return out
}

func targets(exp, ctl int32) *spec.Targets {
	return &spec.Targets{
		Selector:    map[string]string{"service": "demo"},
		Experiment:  &spec.GroupSize{Count: exp},
		Control:     &spec.GroupSize{Count: ctl},
		Stratify:    []string{"region", "datacenter"},
		BlastRadius: &spec.BlastRadius{MaxWorkers: 10, MaxPercentPerDatacenter: 50},
	}
}

func TestSplitStratified(t *testing.T) {
	plan, err := Split(targets(6, 6), fleet(3, 2, 2), 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Experiment) != 6 || len(plan.Control) != 6 {
		t.Fatalf("sizes %d/%d", len(plan.Experiment), len(plan.Control))
	}
	perDC := map[string][2]int{}
	labels := map[string]string{}
	for _, c := range fleet(3, 2, 2) {
		labels[c.ID] = c.Labels["datacenter"]
	}
	for _, id := range plan.Experiment {
		v := perDC[labels[id]]
		v[0]++
		perDC[labels[id]] = v
	}
	for _, id := range plan.Control {
		v := perDC[labels[id]]
		v[1]++
		perDC[labels[id]] = v
	}
	for dc, v := range perDC {
		if v != [2]int{1, 1} {
			t.Errorf("datacenter %s: %d experiment, %d control; want 1 and 1", dc, v[0], v[1])
		}
	}
	for _, id := range plan.Experiment {
		if slices.Contains(plan.Control, id) {
			t.Errorf("%s in both groups", id)
		}
	}
}

func TestSplitReproducible(t *testing.T) {
	a, _ := Split(targets(3, 3), fleet(3, 2, 2), 7)
	b, _ := Split(targets(3, 3), fleet(3, 2, 2), 7)
	c, _ := Split(targets(3, 3), fleet(3, 2, 2), 8)
	if !slices.Equal(a.Experiment, b.Experiment) || !slices.Equal(a.Control, b.Control) {
		t.Error("same seed gave different plans")
	}
	if slices.Equal(a.Experiment, c.Experiment) && slices.Equal(a.Control, c.Control) {
		t.Error("different seeds gave the same plan (possible, but not for these inputs)")
	}
}

func TestSplitRefusals(t *testing.T) {
	tests := []struct {
		name    string
		targets *spec.Targets
		fleet   []Candidate
		want    string
	}{
		{"too few workers", targets(4, 4), fleet(1, 1, 5),
			"scheduler: cannot form groups: selector {service=demo} matches 5 connected workers; the run needs 8 (experiment 4 + control 4)"},
		{"selector matches nothing", func() *spec.Targets { t := targets(1, 1); t.Selector = map[string]string{"service": "nope"}; return t }(), fleet(1, 1, 5),
			"scheduler: cannot form groups: selector {service=nope} matches 0 connected workers; the run needs 2 (experiment 1 + control 1)"},
		{"above max workers", targets(11, 1), fleet(3, 2, 4),
			"scheduler: cannot form groups: the experimental group of 11 exceeds blastRadius.maxWorkers 10"},
		{"above per-datacenter percent", targets(2, 0), fleet(1, 1, 3),
			"scheduler: cannot form groups: the experimental group takes 2 of 3 workers (67%) in datacenter r0-d0, above blastRadius.maxPercentPerDatacenter 50%"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Split(tc.targets, tc.fleet, 1)
			if !errors.Is(err, ErrCannotPlan) || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestAllocate(t *testing.T) {
	tests := []struct {
		total int
		caps  []int
		want  []int
	}{
		{6, []int{2, 2, 2, 2, 2, 2}, []int{1, 1, 1, 1, 1, 1}},
		{3, []int{4, 2}, []int{2, 1}},
		{5, []int{1, 10}, []int{0, 5}},
		{4, []int{1, 1, 2}, []int{1, 1, 2}},
		{0, []int{3}, []int{0}},
	}
	for _, tc := range tests {
		if got := allocate(tc.total, tc.caps); !slices.Equal(got, tc.want) {
			t.Errorf("allocate(%d, %v) = %v, want %v", tc.total, tc.caps, got, tc.want)
		}
	}
}

// TestSplitProperties checks, over many random topologies, what stratification promises:
// every stratum contributes to both groups within one worker of each other, the groups
// are disjoint and of the requested sizes, and the recorded seed reproduces the split.
func TestSplitProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	planned := 0
	for trial := range 500 {
		regions, dcs := 1+rng.IntN(3), 1+rng.IntN(3)
		var fl []Candidate
		for r := range regions {
			for d := range dcs {
				for h := range 2 + rng.IntN(5) {
					id := fmt.Sprintf("w%d-%d-%d", r, d, h)
					fl = append(fl, Candidate{ID: id, Labels: map[string]string{"service": "demo", "region": fmt.Sprintf("r%d", r), "datacenter": fmt.Sprintf("r%d-d%d", r, d)}})
				}
			}
		}
		size := int32(1 + rng.IntN(len(fl)/2))
		tg := targets(size, size)
		tg.BlastRadius = &spec.BlastRadius{MaxWorkers: 1000, MaxPercentPerDatacenter: 100, MaxPercentPerRegion: 100}
		seed := rng.Uint64()
		plan, err := Split(tg, fl, seed)
		if err != nil {
			t.Fatalf("trial %d (%d workers, %d per group): %v", trial, len(fl), size, err)
		}
		planned++
		if len(plan.Experiment) != int(size) || len(plan.Control) != int(size) {
			t.Fatalf("trial %d: sizes %d/%d, want %d", trial, len(plan.Experiment), len(plan.Control), size)
		}
		dcOf := map[string]string{}
		for _, c := range fl {
			dcOf[c.ID] = c.Labels["datacenter"]
		}
		perExp, perCtl := map[string]int{}, map[string]int{}
		seen := map[string]bool{}
		for _, id := range plan.Experiment {
			perExp[dcOf[id]]++
			seen[id] = true
		}
		for _, id := range plan.Control {
			if seen[id] {
				t.Fatalf("trial %d: %s in both groups", trial, id)
			}
			perCtl[dcOf[id]]++
		}
		for _, c := range fl {
			dc := c.Labels["datacenter"]
			if d := perExp[dc] - perCtl[dc]; d > 1 || d < -1 {
				t.Fatalf("trial %d: stratum %s has %d experimental and %d control workers", trial, dc, perExp[dc], perCtl[dc])
			}
		}
		again, _ := Split(tg, fl, plan.Seed)
		if !slices.Equal(again.Experiment, plan.Experiment) || !slices.Equal(again.Control, plan.Control) {
			t.Fatalf("trial %d: the recorded seed did not reproduce the split", trial)
		}
	}
	if planned != 500 {
		t.Fatalf("planned %d", planned)
	}
}

func TestSplitMoreRefusals(t *testing.T) {
	lone := append(fleet(1, 1, 2), Candidate{ID: "alone", Labels: map[string]string{"service": "demo", "region": "r9", "datacenter": "r9-d0"}})
	tests := []struct {
		name    string
		targets *spec.Targets
		fleet   []Candidate
		want    string
	}{
		{"stratum with one worker", targets(1, 1), lone,
			"scheduler: cannot form groups: stratum region=r9;datacenter=r9-d0 has a single worker (alone), so control and experiment cannot share its mix; add workers there, narrow the selector, or stratify by fewer labels"},
		{"above per-region percent", func() *spec.Targets {
			t := targets(3, 0)
			t.Stratify = nil
			t.BlastRadius = &spec.BlastRadius{MaxWorkers: 10, MaxPercentPerDatacenter: 100, MaxPercentPerRegion: 50}
			return t
		}(), fleet(1, 2, 2),
			"scheduler: cannot form groups: the experimental group takes 3 of 4 workers (75%) in region r0, above blastRadius.maxPercentPerRegion 50%"},
		{"set-based selector matching too few", func() *spec.Targets {
			t := targets(2, 2)
			t.Selector = nil
			t.Match = "region in (r1,r2)"
			return t
		}(), fleet(2, 1, 2),
			"scheduler: cannot form groups: selector {region in (r1,r2)} matches 2 connected workers; the run needs 4 (experiment 2 + control 2)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Split(tc.targets, tc.fleet, 1)
			if !errors.Is(err, ErrCannotPlan) || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant %s", err, tc.want)
			}
		})
	}
}
