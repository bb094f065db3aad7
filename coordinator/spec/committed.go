package spec

import "fmt"

// Committed is what the cluster stores a spec in: a run or a schedule.
type Committed interface {
	GetId() string
	GetSpec() *Experiment
	GetSpecJson() string
}

// Of returns the spec c was committed with. Runs and schedules committed before the spec
// was typed hold its canonical JSON instead, which is read here and nowhere else.
func Of(c Committed) (*Experiment, error) {
	if sp := c.GetSpec(); sp != nil {
		return sp, nil
	}
	if c.GetSpecJson() == "" {
		return nil, fmt.Errorf("spec: %s holds no spec", c.GetId())
	}
	sp, err := Parse([]byte(c.GetSpecJson()), c.GetId()+".json", Options{})
	if err != nil {
		return nil, fmt.Errorf("spec: stored spec of %s: %w", c.GetId(), err)
	}
	return sp, nil
}
