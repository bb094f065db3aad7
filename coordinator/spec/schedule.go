package spec

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cronField describes one of the five classic cron fields.
type cronField struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i
}

var cronFields = []cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day-of-month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	// 7 is Sunday too, as in most crons.
	{name: "day-of-week", min: 0, max: 7, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

// checkCron is a syntax check of a five-field cron expression, enough to
// catch typos at submit time. The scheduler owns the semantics; this
// package does not pull in a cron library for a check.
func checkCron(expr string) string {
	fields := strings.Fields(expr)
	// Six fields: a leading seconds field, for schedules finer than a minute.
	if len(fields) == len(cronFields)+1 {
		if msg := (cronField{name: "second", min: 0, max: 59}).check(fields[0]); msg != "" {
			return fmt.Sprintf("cron second field %q: %s", fields[0], msg)
		}
		fields = fields[1:]
	}
	if len(fields) != len(cronFields) {
		return fmt.Sprintf("cron %q must have 5 fields (minute hour day-of-month month day-of-week), got %d", expr, len(fields))
	}
	for i, f := range fields {
		if msg := cronFields[i].check(f); msg != "" {
			return fmt.Sprintf("cron %s field %q: %s", cronFields[i].name, f, msg)
		}
	}
	return ""
}

func (c cronField) check(field string) string {
	for part := range strings.SplitSeq(field, ",") {
		rng, step, hasStep := strings.Cut(part, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 || n > c.max+1 {
				return fmt.Sprintf("step %q must be a number from 1 to %d", step, c.max+1)
			}
		}
		if rng == "*" {
			continue
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		a, msg := c.value(lo)
		if msg != "" {
			return msg
		}
		if isRange {
			b, msg := c.value(hi)
			if msg != "" {
				return msg
			}
			if a > b {
				return fmt.Sprintf("range %q runs backwards", rng)
			}
		}
	}
	return ""
}

func (c cronField) value(s string) (int, string) {
	for i, n := range c.names {
		if strings.EqualFold(s, n) {
			return c.min + i, ""
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		if len(c.names) > 0 {
			return 0, fmt.Sprintf("%q is neither a number from %d to %d nor a name such as %s", s, c.min, c.max, c.names[0])
		}
		return 0, fmt.Sprintf("%q is not a number from %d to %d", s, c.min, c.max)
	}
	if v < c.min || v > c.max {
		return 0, fmt.Sprintf("%d is out of range %d-%d", v, c.min, c.max)
	}
	return v, ""
}

// checkTimezone insists on an IANA name that every coordinator resolves
// the same way: "Local" would fire at different instants on different
// nodes.
func checkTimezone(tz string) string {
	if tz == "" || tz == "Local" {
		return fmt.Sprintf("%q is not an IANA time zone; use a name such as Europe/Helsinki or UTC", tz)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Sprintf("unknown time zone %q; use an IANA name such as Europe/Helsinki or UTC", tz)
	}
	return ""
}
