package scheduler

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/murphy-chaos/murphy/coordinator/spec"
)

func TestPlanWaves(t *testing.T) {
	fl := fleet(2, 2, 2) // regions r0 r1, datacenters r?-d0 r?-d1, 2 hosts each
	tg := targets(1, 1)
	tg.BlastRadius = &spec.BlastRadius{MaxWorkers: 10, MaxPercentPerDatacenter: 100, MaxPercentPerRegion: 100}
	dcOf, regionOf := map[string]string{}, map[string]string{}
	for _, c := range fl {
		dcOf[c.ID], regionOf[c.ID] = c.Labels["datacenter"], c.Labels["region"]
	}
	host, err := PlanWave(tg, fl, LevelHost, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	anchor := host.Experiment[0]
	// A one-host wave takes three controls, nearest first: its data centre's other host.
	mate := slices.ContainsFunc(host.Control, func(id string) bool { return dcOf[id] == dcOf[anchor] })
	if len(host.Experiment) != 1 || len(host.Control) != minWaveControl || !mate {
		t.Fatalf("host wave %+v: control must be %d hosts including the same data centre's other host", host, minWaveControl)
	}
	dc, err := PlanWave(tg, fl, LevelDatacenter, anchor, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(dc.Experiment) != 2 || !slices.Contains(dc.Experiment, anchor) {
		t.Fatalf("datacenter wave %+v does not take the anchor's whole data centre", dc)
	}
	// Three controls: the region's other data centre (two hosts) first, then one farther.
	sameRegion := 0
	for _, id := range dc.Control {
		if dcOf[id] == dcOf[anchor] {
			t.Errorf("datacenter wave control %s is in the faulted data centre", id)
		}
		if regionOf[id] == regionOf[anchor] {
			sameRegion++
		}
	}
	if len(dc.Control) != minWaveControl || sameRegion != 2 {
		t.Errorf("datacenter wave control %v: want %d hosts, the 2 of the region's other data centre among them", dc.Control, minWaveControl)
	}
	region, err := PlanWave(tg, fl, LevelRegion, anchor, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(region.Experiment) != 4 || len(region.Control) != 4 {
		t.Fatalf("region wave %+v", region)
	}
	for _, id := range region.Control {
		if regionOf[id] == regionOf[anchor] {
			t.Errorf("region wave control %s is in the anchor's region", id)
		}
	}
	// The default per-datacenter limit stops a datacenter wave.
	tg.BlastRadius.MaxPercentPerDatacenter = 50
	_, err = PlanWave(tg, fl, LevelDatacenter, anchor, 4)
	if !errors.Is(err, ErrCannotPlan) || !strings.Contains(err.Error(), "above blastRadius.maxPercentPerDatacenter 50%") {
		t.Errorf("blast radius: %v", err)
	}
	// A single region cannot provide a control group for a region wave.
	_, err = PlanWave(tg, fleet(1, 2, 2), LevelRegion, "", 1)
	if !errors.Is(err, ErrTooFewWorkers) {
		t.Errorf("region wave on one region: %v", err)
	}
}
