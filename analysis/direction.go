package analysis

import (
	"fmt"
	"strings"
)

// Direction is the harmful direction of a metric: the way it must not move.
type Direction int

const (
	// DirectionIncrease: a rise is harmful (latency, error rate). One-sided test,
	// alternative "experiment greater".
	DirectionIncrease Direction = iota + 1
	// DirectionDecrease: a fall is harmful (throughput, success rate). One-sided test,
	// alternative "experiment less".
	DirectionDecrease
	// DirectionEither: any change is harmful. Two-sided test.
	DirectionEither
)

// ParseDirection accepts the spelling used in experiment specs.
func ParseDirection(s string) (Direction, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "increase":
		return DirectionIncrease, nil
	case "decrease":
		return DirectionDecrease, nil
	case "either":
		return DirectionEither, nil
	}
	return 0, fmt.Errorf("%w: direction %q: want increase, decrease or either", ErrInvalidArgument, s)
}

func (d Direction) String() string {
	switch d {
	case DirectionIncrease:
		return "increase"
	case DirectionDecrease:
		return "decrease"
	case DirectionEither:
		return "either"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

func (d Direction) valid() bool {
	return d == DirectionIncrease || d == DirectionDecrease || d == DirectionEither
}
