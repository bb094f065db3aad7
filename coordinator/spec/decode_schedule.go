package spec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The schedule section: cron or mtbf, windows, blackouts and limits.

func (w *walker) schedule(n *yaml.Node, at loc) *Schedule {
	s := &Schedule{}
	o := w.object(n, at, "cron", "mtbf", "timezone", "windows", "blackout", "maxPerDay", "optIn", "overlap", "maxQueued", "maxWait")
	if o == nil {
		return s
	}
	cv, cl := o.get("cron")
	mv, ml := o.get("mtbf")
	switch {
	case cv == nil && mv == nil:
		w.addf(at, "set cron (e.g. \"*/30 9-15 * * MON-FRI\") or mtbf (a mean time between faults, e.g. 4h)")
	case cv != nil && mv != nil:
		w.addf(ml, "set cron or mtbf, not both")
	case cv != nil:
		if c, ok := w.text(cv, cl); ok {
			if _, err := ParseCron(c); err != nil {
				w.addf(cl, "%v", err)
			} else {
				s.Cron = c
			}
		}
	default:
		if d, ok := w.duration(mv, ml, true); ok {
			if d < time.Second {
				w.addf(ml, "must be at least 1s")
			} else {
				s.Mtbf = pbDur(d)
			}
		}
	}
	if v, l := o.get("timezone"); v != nil {
		if tz, ok := w.text(v, l); ok {
			if msg := checkTimezone(tz); msg != "" {
				w.addf(l, "%s", msg)
			} else {
				s.Timezone = tz
			}
		}
	}
	if v, l := o.get("windows"); v != nil {
		if items, ok := w.list(v, l); ok {
			for i, raw := range items {
				il := l.index(i, raw)
				wo := w.object(w.resolve(raw), il, "days", "start", "end")
				if wo == nil {
					continue
				}
				win := &Window{}
				if dv, dl := wo.get("days"); dv != nil {
					if days, ok := w.stringList(dv, dl); ok {
						for _, d := range days {
							if !slices.Contains(weekdays, strings.ToUpper(d)) {
								w.addf(dl, "%q is not a day; use MON, TUE, WED, THU, FRI, SAT, SUN", d)
								continue
							}
							win.Days = append(win.Days, strings.ToUpper(d))
						}
					}
				}
				var from, to int
				okFrom, okTo := false, false
				if tv, tl := wo.get("start"); tv == nil {
					wo.required(tl, "required, e.g. \"09:00\"")
				} else if t, ok := w.text(tv, tl); ok {
					if from, okFrom = clock(t); okFrom {
						win.Start = t
					} else {
						w.addf(tl, "%q is not a time of day HH:MM", t)
					}
				}
				if tv, tl := wo.get("end"); tv == nil {
					wo.required(tl, "required, e.g. \"15:00\"")
				} else if t, ok := w.text(tv, tl); ok {
					if to, okTo = clock(t); okTo {
						win.End = t
					} else {
						w.addf(tl, "%q is not a time of day HH:MM", t)
					}
					if okFrom && okTo && to <= from {
						w.addf(tl, "must be after start (%s); a window that crosses midnight is two windows", win.Start)
					}
				}
				s.Windows = append(s.Windows, win)
			}
		}
	}
	if v, l := o.get("blackout"); v != nil {
		if dates, ok := w.stringList(v, l); ok {
			for _, d := range dates {
				if _, _, err := ParseBlackout(d); err != nil {
					w.addf(l, "%v", err)
					continue
				}
				s.Blackout = append(s.Blackout, d)
			}
		}
	}
	if v, l := o.get("maxPerDay"); v != nil {
		if n, ok := w.integer(v, l); ok {
			if n < 0 {
				w.addf(l, "must not be negative (0 means no cap)")
			} else {
				s.MaxPerDay = int32(min(n, 1<<30))
			}
		}
	}
	if v, l := o.get("optIn"); v != nil {
		if b, ok := w.boolean(v, l); ok {
			s.OptIn = &b
		}
	}
	if v, l := o.get("overlap"); v != nil {
		if p, ok := w.text(v, l); ok {
			switch p {
			case OverlapSkip, OverlapQueue, OverlapReplace:
				s.Overlap = p
			default:
				w.addf(l, "%q is not an overlap policy; use skip (the default), queue or replace", p)
			}
		}
	}
	if v, l := o.get("maxQueued"); v != nil {
		if n, ok := w.integer(v, l); ok {
			if n < 1 {
				w.addf(l, "must be at least 1")
			} else if s.Overlap != OverlapQueue {
				w.addf(l, "applies only with overlap: queue")
			} else {
				s.MaxQueued = int32(min(n, 1<<30))
			}
		}
	}
	if v, l := o.get("maxWait"); v != nil {
		if d, ok := w.duration(v, l, true); ok {
			if s.Overlap != OverlapQueue {
				w.addf(l, "applies only with overlap: queue")
			} else {
				s.MaxWait = pbDur(d)
			}
		}
	}
	return s
}

var weekdays = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}

// clock reads "HH:MM" into minutes after midnight ("24:00" is the end of the day).
func clock(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, false
	}
	return hh*60 + mm, true
}

// ClockMinutes is clock for the scheduler: minutes after midnight of a valid "HH:MM".
func ClockMinutes(s string) int { m, _ := clock(s); return m }

// ParseBlackout reads "2026-12-24" or "2026-12-20..2027-01-02" into inclusive dates.
func ParseBlackout(s string) (from, to time.Time, err error) {
	a, b, isRange := strings.Cut(s, "..")
	if from, err = time.Parse(time.DateOnly, strings.TrimSpace(a)); err != nil {
		return from, to, fmt.Errorf("blackout %q: dates are YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD", s)
	}
	to = from
	if isRange {
		if to, err = time.Parse(time.DateOnly, strings.TrimSpace(b)); err != nil {
			return from, to, fmt.Errorf("blackout %q: dates are YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD", s)
		}
		if to.Before(from) {
			return from, to, fmt.Errorf("blackout %q: the range ends before it starts", s)
		}
	}
	return from, to, nil
}
