package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// ---- schedules ----

// ScheduleRow is one schedule as the page shows it, its times in its own zone.
type ScheduleRow struct {
	S    *murphyv1.Schedule
	Zone string
	// Paused: it cannot fire now, by itself, with every schedule, or because the cluster
	// is halted (PausedBy says which when it is not every schedule); Next is then empty,
	// as a slot shown would pass skipped.
	Paused   bool
	PausedBy string
	// Next is the slot it waits for, LastRunSlot the slot of its last run, Today the
	// calendar day now in its zone (the daily cap's day).
	Next, LastRunSlot, LastSkip, Created, Today string
	FiredToday                                  int32
	LastRun                                     *murphyv1.Run // nil when it never fired or the run is gone
	// Recent are its latest decisions, newest first.
	Recent []DecisionRow
}

// DecisionRow is one decided slot.
type DecisionRow struct {
	Slot, RunID, Reason string
}

// ScheduleLimit is one fleet-wide limit on continuous chaos and how much of it is used.
type ScheduleLimit struct {
	What      string // "scheduled runs active at once", "runs today (UTC) for service checkout"
	Used, Max float64
}

// recentShown is how many decisions a row shows; `murphy schedules show` lists all kept.
const recentShown = 5

type schedulesPage struct {
	Page
	Rows    []ScheduleRow
	Limits  []ScheduleLimit
	Paused  bool
	Confirm string // "pause" or "resume" while awaiting confirmation
	Error   string
}

// zoneOf reads the time zone of a stored schedule spec.
func zoneOf(s *murphyv1.Schedule) *time.Location {
	if sp, err := spec.Of(s); err == nil && sp.GetSchedule().GetTimezone() != "" {
		if loc, err := time.LoadLocation(sp.GetSchedule().GetTimezone()); err == nil {
			return loc
		}
	}
	return time.UTC
}

func inZone(t *timestamppb.Timestamp, loc *time.Location) string {
	if t == nil {
		return ""
	}
	return t.AsTime().In(loc).Format("2006-01-02 15:04:05 MST")
}

func (h *Handler) schedulesPage(r *http.Request) schedulesPage {
	ss, paused := h.cfg.FSM.Schedules()
	p := schedulesPage{Page: h.chrome(r, "Schedules", "schedules"), Paused: paused}
	halted := p.Halt != nil
	if h.cfg.ScheduleLimits != nil {
		p.Limits = h.cfg.ScheduleLimits()
	}
	now := h.cfg.Now()
	for _, s := range ss {
		loc := zoneOf(s)
		row := ScheduleRow{S: s, Zone: loc.String(), Paused: halted || paused || s.Paused,
			LastRunSlot: inZone(s.LastRunSlot, loc), LastSkip: inZone(s.LastSkip, loc), Created: inZone(s.CreatedAt, loc),
			Today: now.In(loc).Format(time.DateOnly)}
		switch {
		case halted:
			row.PausedBy = "the cluster is halted"
		case s.Paused:
			row.PausedBy = "this schedule"
		case !paused:
			row.Next = inZone(s.NextAt, loc)
		}
		if s.FiredDay == row.Today {
			row.FiredToday = s.FiredOnDay
		}
		if s.LastRunId != "" {
			row.LastRun = h.cfg.FSM.Run(s.LastRunId)
		}
		for i := len(s.Recent) - 1; i >= 0 && len(row.Recent) < recentShown; i-- {
			d := s.Recent[i]
			row.Recent = append(row.Recent, DecisionRow{Slot: inZone(d.Slot, loc), RunID: d.RunId, Reason: d.Reason})
		}
		p.Rows = append(p.Rows, row)
	}
	return p
}

func (h *Handler) schedules(w http.ResponseWriter, r *http.Request) {
	h.render(w, "schedules.html", h.schedulesPage(r))
}

func (h *Handler) pauseSchedules(w http.ResponseWriter, r *http.Request) {
	h.scheduleAction(w, r, ActionPauseSchedules, "pause", func(ctx context.Context) error {
		_, err := h.cfg.Experiments.PauseSchedules(ctx, &murphyv1.PauseSchedulesRequest{})
		return err
	}, func() bool { _, paused := h.cfg.FSM.Schedules(); return paused })
}

func (h *Handler) resumeSchedules(w http.ResponseWriter, r *http.Request) {
	h.scheduleAction(w, r, ActionResumeSchedules, "resume", func(ctx context.Context) error {
		_, err := h.cfg.Experiments.ResumeSchedules(ctx, &murphyv1.ResumeSchedulesRequest{})
		return err
	}, func() bool { _, paused := h.cfg.FSM.Schedules(); return !paused })
}

// scheduleAction asks for confirmation, then makes the call as the signed-in user.
func (h *Handler) scheduleAction(w http.ResponseWriter, r *http.Request, a Action, what string, call func(context.Context) error, applied func() bool) {
	actx, ok := h.authorize(w, r, a)
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		p := h.schedulesPage(r)
		p.Confirm = what
		h.render(w, "schedules.html", p)
		return
	}
	ctx, cancel := context.WithTimeout(actx, 10*time.Second)
	defer cancel()
	if err := call(ctx); err != nil {
		p := h.schedulesPage(r)
		p.Error = "The " + what + " failed: " + explain(err)
		h.render(w, "schedules.html", p)
		return
	}
	h.settle(ctx, applied)
	http.Redirect(w, r, "/ui/schedules", http.StatusSeeOther)
}

// ---- audit trail ----

// AuditActions is the vocabulary of the trail, for the filter.
var AuditActions = []string{
	fsm.AuditSubmit, fsm.AuditHalt, fsm.AuditHaltAll, fsm.AuditResume,
	fsm.AuditScheduleCreate, fsm.AuditScheduleUpdate, fsm.AuditScheduleFire, fsm.AuditScheduleSkip, fsm.AuditScheduleDelete,
	fsm.AuditSchedulesPause, fsm.AuditSchedulesResume, fsm.AuditNodeJoin, fsm.AuditNodeRemove,
}

// auditTime is the format of the time filters (an HTML datetime-local input, in UTC).
const auditTime = "2006-01-02T15:04"

type auditPage struct {
	Page
	Entries               []*murphyv1.AuditEntry
	Actions               []string
	Action, From, To, Who string
	Total, PageNo, Pages  int
	Prev, Next            string
	Error                 string
}

func (h *Handler) audit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := auditPage{Page: h.chrome(r, "Audit trail", "audit"), Actions: AuditActions,
		Action: q.Get("action"), From: q.Get("from"), To: q.Get("to"), Who: strings.TrimSpace(q.Get("who"))}
	var since *timestamppb.Timestamp
	var until time.Time
	if p.From != "" {
		t, err := time.Parse(auditTime, p.From)
		if err != nil {
			p.Error = "From: give a time as YYYY-MM-DDTHH:MM (UTC)."
		} else {
			since = timestamppb.New(t)
		}
	}
	if p.To != "" {
		t, err := time.Parse(auditTime, p.To)
		if err != nil {
			p.Error = "To: give a time as YYYY-MM-DDTHH:MM (UTC)."
		} else {
			until = t.Add(time.Minute) // the whole minute named
		}
	}
	if p.Error != "" {
		w.WriteHeader(http.StatusBadRequest)
		h.render(w, "audit.html", p)
		return
	}
	all, _ := h.cfg.FSM.Audit(since, 0, 0)
	// Newest first, filtered.
	var match []*murphyv1.AuditEntry
	for _, e := range slices.Backward(all) {
		if p.Action != "" && e.Action != p.Action {
			continue
		}
		if !until.IsZero() && !e.GetAt().AsTime().Before(until) {
			continue
		}
		if p.Who != "" && !strings.Contains(e.By, p.Who) && !strings.Contains(e.Target, p.Who) {
			continue
		}
		match = append(match, e)
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	p.Total, p.PageNo = len(match), page
	p.Pages = max(1, (p.Total+h.page-1)/h.page)
	lo, hi := min((page-1)*h.page, p.Total), min(page*h.page, p.Total)
	p.Entries = match[lo:hi]
	p.Prev, p.Next = pageLinks("/ui/audit?", q, page, p.Pages)
	h.render(w, "audit.html", p)
}
