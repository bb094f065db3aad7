// Package schedule computes when continuous-chaos schedules fire: cron expressions in a
// time zone, or a random mode with a mean time between faults, restricted to allowed
// windows, outside blackout dates, and under a daily cap. It is pure: the leader passes
// the time and the random draws, and commits every decision it takes from it.
package schedule

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/murphy-chaos/murphy/coordinator/spec"
)

// Plan is a compiled schedule.
type Plan struct {
	loc       *time.Location
	cron      cron.Schedule // nil in the random mode
	mtbf      time.Duration
	windows   []window
	blackouts [][2]time.Time // inclusive dates at midnight UTC
	maxPerDay int
}

type window struct {
	days       []time.Weekday // empty: every day
	start, end int            // minutes after midnight
}

var dayNames = map[string]time.Weekday{"SUN": time.Sunday, "MON": time.Monday, "TUE": time.Tuesday, "WED": time.Wednesday, "THU": time.Thursday, "FRI": time.Friday, "SAT": time.Saturday}

// Compile prepares a validated spec schedule.
func Compile(s *spec.Schedule) (*Plan, error) {
	tz := s.Timezone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	p := &Plan{loc: loc, mtbf: s.GetMtbf().AsDuration(), maxPerDay: int(s.MaxPerDay)}
	if s.Cron != "" {
		if p.cron, err = spec.ParseCron(s.Cron); err != nil {
			return nil, fmt.Errorf("schedule: %w", err)
		}
	} else if p.mtbf <= 0 {
		return nil, fmt.Errorf("schedule: neither cron nor mtbf")
	}
	for _, w := range s.Windows {
		win := window{start: spec.ClockMinutes(w.Start), end: spec.ClockMinutes(w.End)}
		for _, d := range w.Days {
			win.days = append(win.days, dayNames[strings.ToUpper(d)])
		}
		p.windows = append(p.windows, win)
	}
	slices.SortFunc(p.windows, func(a, b window) int { return a.start - b.start })
	for _, b := range s.Blackout {
		from, to, err := spec.ParseBlackout(b)
		if err != nil {
			return nil, err
		}
		p.blackouts = append(p.blackouts, [2]time.Time{from, to})
	}
	return p, nil
}

// Location is the schedule's time zone.
func (p *Plan) Location() *time.Location { return p.loc }

// Random reports whether the plan is in the random (MTBF) mode.
func (p *Plan) Random() bool { return p.cron == nil }

// Day names the calendar day of t in the schedule's zone, for the daily cap.
func (p *Plan) Day(t time.Time) string { return t.In(p.loc).Format(time.DateOnly) }

// Next returns the next firing slot strictly after after. In the random mode u is a
// uniform draw in (0,1] from the leader, and the exponential gap is counted only in
// allowed time (inside windows, outside blackout dates), so random firings fall where
// failures are welcome; cron slots are returned as the expression gives them, and
// Allowed then decides.
func (p *Plan) Next(after time.Time, u float64) time.Time {
	if p.cron != nil {
		next := p.cron.Next(after.In(p.loc))
		// When clocks fall back, a wall-clock time happens twice; cron would fire at both.
		// A chaos schedule means the local time, once.
		if wall(next, p.loc) == wall(after, p.loc) {
			next = p.cron.Next(next)
		}
		return next
	}
	if u <= 0 || u > 1 {
		u = 0.5
	}
	left := time.Duration(-math.Log(u) * float64(p.mtbf))
	t := after
	for range 4000 { // at most ~10 years of daily segments
		start, end, ok := p.nextSegment(t)
		if !ok {
			break
		}
		if avail := end.Sub(start); left < avail {
			return start.Add(left)
		} else {
			left -= avail
		}
		t = end
	}
	return time.Time{}
}

func wall(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04:05")
}

// nextSegment returns the first allowed interval ending after t, clipped to start no
// earlier than t.
func (p *Plan) nextSegment(t time.Time) (time.Time, time.Time, bool) {
	local := t.In(p.loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, p.loc)
	for i := range 800 {
		d := day.AddDate(0, 0, i)
		if p.blackedOut(d) {
			continue
		}
		for _, seg := range p.segments(d) {
			if seg[1].After(t) {
				if seg[0].Before(t) {
					seg[0] = t
				}
				return seg[0], seg[1], true
			}
		}
	}
	return time.Time{}, time.Time{}, false
}

// segments lists the allowed intervals of the local day starting at midnight d.
func (p *Plan) segments(d time.Time) [][2]time.Time {
	at := func(min int) time.Time {
		return time.Date(d.Year(), d.Month(), d.Day(), min/60, min%60, 0, 0, p.loc)
	}
	if len(p.windows) == 0 {
		return [][2]time.Time{{d, d.AddDate(0, 0, 1)}}
	}
	var out [][2]time.Time
	for _, w := range p.windows {
		if len(w.days) > 0 && !slices.Contains(w.days, d.Weekday()) {
			continue
		}
		out = append(out, [2]time.Time{at(w.start), at(w.end)})
	}
	return out
}

func (p *Plan) blackedOut(t time.Time) bool {
	local := t.In(p.loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC)
	for _, b := range p.blackouts {
		if !day.Before(b[0]) && !day.After(b[1]) {
			return true
		}
	}
	return false
}

// Allowed reports whether a firing at t may happen given how many already fired on t's
// day, and if not, why (the reason is recorded with the skipped slot).
func (p *Plan) Allowed(t time.Time, firedThatDay int) (bool, string) {
	local := t.In(p.loc)
	if p.blackedOut(t) {
		return false, fmt.Sprintf("%s is a blackout date", local.Format(time.DateOnly))
	}
	if len(p.windows) > 0 {
		in := false
		for _, seg := range p.segments(time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, p.loc)) {
			if !t.Before(seg[0]) && t.Before(seg[1]) {
				in = true
				break
			}
		}
		if !in {
			// The same words for every such slot (the slot is recorded beside them), so a
			// night of skips is one streak in the audit trail.
			return false, "outside the allowed windows"
		}
	}
	if p.maxPerDay > 0 && firedThatDay >= p.maxPerDay {
		return false, fmt.Sprintf("the cap of %d firings on %s is reached", p.maxPerDay, local.Format(time.DateOnly))
	}
	return true, ""
}

// Until returns when the allowed time that holds t ends: the end of its window (or of
// windows that follow it without a gap), or the start of the next blackout date. A run
// fired at t must have reverted every fault by then. It is the zero time when nothing
// bounds it (no windows, and no blackout within maxLookahead days).
func (p *Plan) Until(t time.Time) time.Time {
	start, end, ok := p.nextSegment(t)
	if !ok || start.After(t) {
		return t // t is not in allowed time: nothing may run
	}
	for range maxLookahead {
		s2, e2, ok := p.nextSegment(end)
		if !ok || s2.After(end) {
			return end
		}
		end = e2
	}
	return time.Time{}
}

// maxLookahead bounds how many contiguous allowed segments Until joins; a schedule
// without windows has one per day.
const maxLookahead = 400

// Slot is one planned slot and what would be decided for it.
type Slot struct {
	At time.Time
	// Until is when a run fired at At must be over (zero: unbounded).
	Until time.Time
	// Skip is the reason the slot would be skipped; empty when it would fire.
	Skip string
}

// Preview lists the next n slots after after, applying windows, blackout dates and the
// daily cap as the leader would, given firedOnDay firings already on the calendar day
// firedDay. It assumes every firing slot fires (no overlap, pause or fleet shortage). In
// the random mode every gap is the median draw, since the real ones are drawn at firing.
func (p *Plan) Preview(after time.Time, n int, firedDay string, firedOnDay int) []Slot {
	var out []Slot
	t := after
	for len(out) < n {
		t = p.Next(t, 0.5)
		if t.IsZero() {
			break
		}
		if day := p.Day(t); day != firedDay {
			firedDay, firedOnDay = day, 0
		}
		s := Slot{At: t}
		if ok, why := p.Allowed(t, firedOnDay); ok {
			firedOnDay++
			s.Until = p.Until(t)
		} else {
			s.Skip = why
		}
		out = append(out, s)
	}
	return out
}
