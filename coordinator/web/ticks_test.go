package web

import (
	"slices"
	"testing"
)

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lo, hi float64
		unit   Unit
		want   []string
	}{
		{"milliseconds", 0.00176, 0.0176, UnitSeconds, []string{"0", "5 ms", "10 ms", "15 ms", "20 ms"}},
		{"breach", 0, 0.062, UnitSeconds, []string{"0", "20 ms", "40 ms", "60 ms", "80 ms"}},
		{"quarter ms", 0, 0.001, UnitSeconds, []string{"0", "0.25 ms", "0.50 ms", "0.75 ms", "1.00 ms"}},
		{"fractional ms", 0.0029, 0.0034, UnitSeconds, []string{"2.8 ms", "3.0 ms", "3.2 ms", "3.4 ms"}},
		{"share", 0.95, 1, UnitShare, []string{"94%", "96%", "98%", "100%"}},
		{"seconds", 0, 2.5, UnitSeconds, []string{"0", "1 s", "2 s", "3 s"}},
		{"plain", 0, 870, UnitPlain, []string{"0", "250", "500", "750", "1000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, ticks := niceTicks(tc.lo, tc.hi, 4)
			if got := tickLabels(tc.unit, ticks); !slices.Equal(got, tc.want) {
				t.Errorf("ticks %v..%v: %q, want %q", tc.lo, tc.hi, got, tc.want)
			}
		})
	}
	if got := PValue(0); got != "< 1e-300" {
		t.Errorf("PValue(0) = %q", got)
	}
	if got := PValue(0.0123); got != "0.0123" {
		t.Errorf("PValue(0.0123) = %q", got)
	}
	if got := formatValue(UnitSeconds, 0.0033); got != "3.3 ms" {
		t.Errorf("formatValue = %q", got)
	}
}
