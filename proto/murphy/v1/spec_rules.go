package murphyv1

// Readings of the experiment model that every reader must agree on, kept beside the
// generated messages so no reader spells them out again.

// OptInLabel is the label a worker carries to be eligible for scheduled runs.
const OptInLabel = "murphy.io/chaos"

// OptedIn reports whether scheduled runs are restricted to opted-in workers (the default).
func (s *ScheduleSpec) OptedIn() bool { return s.OptIn == nil || *s.OptIn }

// OverlapOrDefault is the overlap policy, "skip" when unset.
func (s *ScheduleSpec) OverlapOrDefault() string {
	if s.GetOverlap() == "" {
		return "skip"
	}
	return s.Overlap
}

// QueueLimit is how many runs may wait behind an active one under overlap: queue.
func (s *ScheduleSpec) QueueLimit() int {
	if s.GetMaxQueued() == 0 {
		return 1
	}
	return int(s.MaxQueued)
}

// Meets reports whether one sample meets a Chaos Toolkit tolerance.
func (t *CTKTolerance) Meets(value float64, ok bool) bool {
	switch {
	case len(t.Values) > 0:
		for _, v := range t.Values {
			if v == value {
				return true
			}
		}
		return false
	case len(t.Range) == 2:
		return value >= t.Range[0] && value <= t.Range[1]
	}
	return ok
}
