package schedule

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/spec"
	"google.golang.org/protobuf/types/known/durationpb"
)

func mustPlan(t *testing.T, s *spec.Schedule) *Plan {
	t.Helper()
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func hel(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestCronNextInZone(t *testing.T) {
	loc := hel(t)
	p := mustPlan(t, &spec.Schedule{Cron: "*/30 9-15 * * MON-FRI", Timezone: "Europe/Helsinki"})
	tests := []struct{ after, want time.Time }{
		// Friday 15:40 local: next is Monday 09:00 local.
		{time.Date(2026, 11, 20, 15, 40, 0, 0, loc), time.Date(2026, 11, 23, 9, 0, 0, 0, loc)},
		{time.Date(2026, 11, 23, 9, 0, 0, 0, loc), time.Date(2026, 11, 23, 9, 30, 0, 0, loc)},
	}
	for _, tc := range tests {
		if got := p.Next(tc.after, 0); !got.Equal(tc.want) {
			t.Errorf("Next(%s) = %s, want %s", tc.after, got.In(loc), tc.want)
		}
	}
	s := mustPlan(t, &spec.Schedule{Cron: "*/5 * * * * *"})
	if got := s.Next(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC), 0); !got.Equal(time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC)) {
		t.Errorf("six-field cron: %s", got)
	}
}

// TestCronAcrossDST checks daily firings at 03:30 Helsinki time across both DST changes
// of 2026: local wall-clock time is kept, the UTC offset moves, the nonexistent 03:30 of
// the spring change is skipped, and the repeated 03:30 of the autumn change fires once.
func TestCronAcrossDST(t *testing.T) {
	loc := hel(t)
	p := mustPlan(t, &spec.Schedule{Cron: "30 3 * * *", Timezone: "Europe/Helsinki"})
	collect := func(from time.Time, n int) []time.Time {
		var out []time.Time
		at := from
		for range n {
			at = p.Next(at, 0)
			out = append(out, at)
		}
		return out
	}
	spring := collect(time.Date(2026, 3, 27, 12, 0, 0, 0, loc), 3)
	wantSpring := []string{"2026-03-28 03:30 EET", "2026-03-30 03:30 EEST", "2026-03-31 03:30 EEST"}
	for i, w := range wantSpring {
		if got := spring[i].In(loc).Format("2006-01-02 15:04 MST"); got != w {
			t.Errorf("spring %d: %s, want %s", i, got, w)
		}
	}
	autumn := collect(time.Date(2026, 10, 24, 12, 0, 0, 0, loc), 3)
	wantAutumn := []string{"2026-10-25 03:30 EEST", "2026-10-26 03:30 EET", "2026-10-27 03:30 EET"}
	for i, w := range wantAutumn {
		if got := autumn[i].In(loc).Format("2006-01-02 15:04 MST"); got != w {
			t.Errorf("autumn %d: %s, want %s", i, got, w)
		}
	}
}

func TestAllowed(t *testing.T) {
	loc := hel(t)
	p := mustPlan(t, &spec.Schedule{
		Cron: "0 * * * *", Timezone: "Europe/Helsinki",
		Windows:   []*spec.Window{{Days: []string{"MON", "TUE", "WED", "THU", "FRI"}, Start: "09:00", End: "15:00"}},
		Blackout:  []string{"2026-12-24", "2026-12-28..2026-12-31"},
		MaxPerDay: 2,
	})
	tests := []struct {
		name  string
		at    time.Time
		fired int
		ok    bool
		why   string
	}{
		{"weekday inside", time.Date(2026, 12, 22, 10, 0, 0, 0, loc), 0, true, ""},
		{"before the window", time.Date(2026, 12, 22, 8, 0, 0, 0, loc), 0, false, "outside the allowed windows"},
		{"end is exclusive", time.Date(2026, 12, 22, 15, 0, 0, 0, loc), 0, false, "outside the allowed windows"},
		{"weekend", time.Date(2026, 12, 26, 10, 0, 0, 0, loc), 0, false, "outside the allowed windows"},
		{"blackout date", time.Date(2026, 12, 24, 10, 0, 0, 0, loc), 0, false, "2026-12-24 is a blackout date"},
		{"blackout range", time.Date(2026, 12, 30, 10, 0, 0, 0, loc), 0, false, "2026-12-30 is a blackout date"},
		{"cap reached", time.Date(2026, 12, 22, 11, 0, 0, 0, loc), 2, false, "the cap of 2 firings on 2026-12-22 is reached"},
		// 23:30 UTC on the 23rd is 01:30 on the 24th in Helsinki: the local date counts.
		{"blackout in the schedule's zone", time.Date(2026, 12, 23, 23, 30, 0, 0, time.UTC), 0, false, "2026-12-24 is a blackout date"},
	}
	for _, tc := range tests {
		ok, why := p.Allowed(tc.at, tc.fired)
		if ok != tc.ok || why != tc.why {
			t.Errorf("%s: Allowed = %v %q, want %v %q", tc.name, ok, why, tc.ok, tc.why)
		}
	}
}

// TestRandomMode checks the statistics of the MTBF mode: gaps average the mean, and
// with windows every firing lands inside one, with the same mean counted in window time.
func TestRandomMode(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	draw := func() float64 { return 1 - rng.Float64() }
	p := mustPlan(t, &spec.Schedule{Mtbf: durationpb.New(time.Hour)})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 20000
	start := at
	for range n {
		at = p.Next(at, draw())
	}
	mean := at.Sub(start) / n
	if d := math.Abs(float64(mean-time.Hour)) / float64(time.Hour); d > 0.03 {
		t.Errorf("mean gap %s, want 1h ± 3%%", mean)
	}

	loc := hel(t)
	w := mustPlan(t, &spec.Schedule{Mtbf: durationpb.New(30 * time.Minute), Timezone: "Europe/Helsinki",
		Windows: []*spec.Window{{Days: []string{"MON", "TUE", "WED", "THU", "FRI"}, Start: "09:00", End: "15:00"}}})
	at = time.Date(2026, 1, 5, 0, 0, 0, 0, loc)
	fired := 0
	for range 5000 {
		at = w.Next(at, draw())
		if ok, why := w.Allowed(at, 0); !ok {
			t.Fatalf("random firing at %s outside the windows: %s", at.In(loc), why)
		}
		fired++
	}
	// 5000 firings at one per 30 window-minutes need about 2500 window-hours, i.e.
	// 2500/6 ≈ 417 weekdays ≈ 83 weeks.
	weeks := at.Sub(time.Date(2026, 1, 5, 0, 0, 0, 0, loc)).Hours() / (24 * 7)
	if weeks < 78 || weeks > 89 {
		t.Errorf("%d firings took %.1f weeks, want about 83", fired, weeks)
	}
}

// TestOneCronParser is defect 6 of issue 15: `murphy validate` (the spec check) and the
// leader (Compile) must accept the same expressions, descriptors included, and agree on
// what they mean.
func TestOneCronParser(t *testing.T) {
	from := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC) // a Saturday
	tests := []struct {
		cron string
		want time.Time
	}{
		{"0 0 9 * * 7", time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)},
		{"0 9 * * 5-7", time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)},
		{"@hourly", time.Date(2026, 12, 5, 11, 0, 0, 0, time.UTC)},
		{"@every 90s", from.Add(90 * time.Second)},
		{"0 9 * * SUN", time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.cron, func(t *testing.T) {
			doc := `apiVersion: murphy/v1
name: demo
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
schedule: {cron: "` + tc.cron + `", timezone: UTC}
`
			sp, err := spec.Parse([]byte(doc), "s.yaml", spec.Options{})
			if err != nil {
				t.Fatalf("validate refuses it: %v", err)
			}
			p, err := Compile(sp.Schedule)
			if err != nil {
				t.Fatalf("validate accepts it but the leader refuses it: %v", err)
			}
			if got := p.Next(from, 0); !got.Equal(tc.want) {
				t.Errorf("next after %s = %s, want %s", from, got, tc.want)
			}
		})
	}
	if _, err := spec.ParseCron("0 9 * * 8"); err == nil {
		t.Error("day-of-week 8 accepted")
	}
}

func TestUntil(t *testing.T) {
	day := func(h, m int) time.Time { return time.Date(2026, 12, 7, h, m, 0, 0, time.UTC) } // a Monday
	tests := []struct {
		name string
		s    *spec.Schedule
		at   time.Time
		want time.Time
	}{
		{"end of the window", &spec.Schedule{Cron: "@hourly", Windows: []*spec.Window{{Start: "09:00", End: "10:00"}}}, day(9, 30), day(10, 0)},
		{"windows that touch join", &spec.Schedule{Cron: "@hourly", Windows: []*spec.Window{{Start: "09:00", End: "10:00"}, {Start: "10:00", End: "11:30"}}}, day(9, 30), day(11, 30)},
		{"outside every window", &spec.Schedule{Cron: "@hourly", Windows: []*spec.Window{{Start: "09:00", End: "10:00"}}}, day(10, 30), day(10, 30)},
		{"a blackout ends the day before", &spec.Schedule{Cron: "@hourly", Blackout: []string{"2026-12-09"}}, day(9, 30), time.Date(2026, 12, 9, 0, 0, 0, 0, time.UTC)},
		{"nothing bounds it", &spec.Schedule{Cron: "@hourly"}, day(9, 30), time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustPlan(t, tc.s).Until(tc.at); !got.Equal(tc.want) {
				t.Errorf("Until(%s) = %s, want %s", tc.at, got, tc.want)
			}
		})
	}
}

func TestPreviewAppliesWindowsAndCap(t *testing.T) {
	p := mustPlan(t, &spec.Schedule{Cron: "0 */20 * * * *", MaxPerDay: 2, Windows: []*spec.Window{{Start: "09:00", End: "10:00"}}})
	from := time.Date(2026, 12, 7, 8, 50, 0, 0, time.UTC)
	got := p.Preview(from, 5, "", 0)
	want := []string{"09:00 fire", "09:20 fire", "09:40 cap", "10:00 window", "10:20 window"}
	for i, s := range got {
		kind := "fire"
		switch {
		case s.Skip == "":
		case strings.Contains(s.Skip, "cap"):
			kind = "cap"
		case strings.Contains(s.Skip, "window"):
			kind = "window"
		}
		if g := s.At.Format("15:04") + " " + kind; i >= len(want) || g != want[i] {
			t.Errorf("slot %d: %s (%s), want %v", i, g, s.Skip, want)
		}
	}
}
