package web

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ScheduleRule says in one line when a schedule's spec lets it fire: its cron or mean
// time between faults, time zone, windows and daily cap ("cron 0 0 3 * * * (UTC);
// windows MON–FRI 09:00–17:00; at most 2 a day").
func ScheduleRule(specJSON string) string {
	var doc struct {
		Schedule *struct {
			Cron      string          `json:"cron"`
			MTBF      json.RawMessage `json:"mtbf"`
			Timezone  string          `json:"timezone"`
			MaxPerDay int             `json:"maxPerDay"`
			Windows   []struct {
				Days       []string `json:"days"`
				Start, End string
			} `json:"windows"`
		} `json:"schedule"`
	}
	if json.Unmarshal([]byte(specJSON), &doc) != nil || doc.Schedule == nil {
		return ""
	}
	s := doc.Schedule
	var parts []string
	tz := s.Timezone
	if tz == "" {
		tz = "UTC"
	}
	switch mtbf := strings.Trim(string(s.MTBF), `"`); {
	case s.Cron != "":
		parts = append(parts, fmt.Sprintf("cron %s (%s)", s.Cron, tz))
	case mtbf != "" && mtbf != "null" && mtbf != "0":
		parts = append(parts, fmt.Sprintf("at random, on average every %s (%s)", mtbf, tz))
	}
	var ws []string
	for _, w := range s.Windows {
		days := "every day"
		if len(w.Days) > 0 {
			days = strings.Join(w.Days, ",")
		}
		ws = append(ws, fmt.Sprintf("%s %s–%s", days, w.Start, w.End))
	}
	if len(ws) > 0 {
		parts = append(parts, "windows "+strings.Join(ws, "; "))
	} else {
		parts = append(parts, "any time of day")
	}
	if s.MaxPerDay > 0 {
		parts = append(parts, fmt.Sprintf("at most %d a day", s.MaxPerDay))
	}
	return strings.Join(parts, "; ")
}
