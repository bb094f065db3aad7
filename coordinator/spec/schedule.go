package spec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
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

// CronParser is the one cron parser: submission checks and the scheduler both read an
// expression through ParseCron, so an expression `murphy validate` accepts is one the
// leader can plan. Five fields, six with a leading seconds field, or a descriptor
// (@hourly, @daily, @every 90s, ...).
var CronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a cron expression. The field checks come first only for their
// messages ("hour field "9-25": 25 is out of range 0-23"); the library's parse decides.
// Day-of-week 7 means Sunday, as in most crons; the library knows only 0.
func ParseCron(expr string) (cron.Schedule, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "@") {
		sched, err := CronParser.Parse(expr)
		if err != nil {
			return nil, fmt.Errorf("cron %q: %v; descriptors are @yearly, @monthly, @weekly, @daily, @hourly and @every <duration>", expr, err)
		}
		return sched, nil
	}
	if msg := checkCron(expr); msg != "" {
		return nil, errors.New(msg)
	}
	fields := strings.Fields(expr)
	fields[len(fields)-1] = sundaySeven(fields[len(fields)-1])
	sched, err := CronParser.Parse(strings.Join(fields, " "))
	if err != nil {
		return nil, fmt.Errorf("cron %q: %v", expr, err)
	}
	return sched, nil
}

// sundaySeven rewrites 7 in a day-of-week field as 0: "7" becomes "0" and a range ending
// on 7 ("5-7") becomes the range to Saturday plus Sunday ("5-6,0").
func sundaySeven(field string) string {
	parts := strings.Split(field, ",")
	for i, part := range parts {
		if strings.Contains(part, "/") {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		switch {
		case !isRange && part == "7":
			parts[i] = "0"
		case isRange && hi == "7" && lo == "7":
			parts[i] = "0"
		case isRange && hi == "7":
			parts[i] = lo + "-6,0"
		}
	}
	return strings.Join(parts, ",")
}

// checkCron is a syntax check of a five- or six-field cron expression, for messages that
// name the field at fault.
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
		return fmt.Sprintf("cron %q must have 5 fields (minute hour day-of-month month day-of-week), 6 with a leading seconds field, or be a descriptor such as @hourly; got %d fields", expr, len(fields))
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
