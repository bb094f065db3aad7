package web

import (
	"fmt"
	"math"
	"strings"
)

// Unit is how a metric's values read on an axis.
type Unit int

const (
	// UnitPlain is a number without a known unit.
	UnitPlain Unit = iota
	// UnitSeconds is a duration in seconds, shown in µs, ms or s.
	UnitSeconds
	// UnitShare is a share between 0 and 1, shown as a percentage.
	UnitShare
)

// unitOf guesses a metric's unit from what the spec says of it: a probe's latency is in
// seconds, its success a share; a Prometheus metric is in seconds when its name says so.
func unitOf(name, measure string) Unit {
	switch measure {
	case "success":
		return UnitShare
	case "latency":
		return UnitSeconds
	}
	n := strings.ToLower(name)
	for _, w := range []string{"latency", "duration", "seconds"} {
		if strings.Contains(n, w) {
			return UnitSeconds
		}
	}
	return UnitPlain
}

// tickLabels formats ticks in unit, with the decimals their step needs and the unit
// scaled to the largest tick ("0", "10 ms", "20 ms"; "95%", "97.5%").
func tickLabels(u Unit, ticks []float64) []string {
	if len(ticks) == 0 {
		return nil
	}
	step := 1.0
	if len(ticks) > 1 {
		step = ticks[1] - ticks[0]
	}
	top := 0.0
	for _, v := range ticks {
		top = math.Max(top, math.Abs(v))
	}
	mult, suffix := 1.0, ""
	switch u {
	case UnitShare:
		mult, suffix = 100, "%"
	case UnitSeconds:
		switch {
		case top < 1e-3:
			mult, suffix = 1e6, " µs"
		case top < 1:
			mult, suffix = 1e3, " ms"
		default:
			suffix = " s"
		}
	}
	// As many decimals as the step needs to print exactly (0.25 ms needs two).
	dec := 0
	for x := step * mult; dec < 6 && math.Abs(x-math.Round(x)) > 1e-6*math.Max(1, math.Abs(x)); x *= 10 {
		dec++
	}
	out := make([]string, len(ticks))
	for i, v := range ticks {
		s := fmt.Sprintf("%.*f", dec, v*mult)
		if s == "-0" || strings.Trim(s, "-0.") == "" {
			s = "0"
		}
		if s != "0" || u == UnitShare {
			s += suffix
		}
		out[i] = s
	}
	return out
}

// formatValue prints one value in unit ("17.6 ms", "95.7%").
func formatValue(u Unit, v float64) string {
	switch u {
	case UnitShare:
		return fmt.Sprintf("%.3g%%", 100*v)
	case UnitSeconds:
		switch a := math.Abs(v); {
		case a == 0:
			return "0 s"
		case a < 1e-3:
			return fmt.Sprintf("%.3g µs", v*1e6)
		case a < 1:
			return fmt.Sprintf("%.3g ms", v*1e3)
		default:
			return fmt.Sprintf("%.3g s", v)
		}
	}
	return Num(v)
}
