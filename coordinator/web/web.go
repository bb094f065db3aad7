package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

//go:embed templates/*.html templates/style.css
var files embed.FS

// Live is the leader's soft state a page may show. On a follower Leading is false and
// the other methods answer nothing.
type Live interface {
	// Leading reports whether this node leads, and the leader's ID and HTTP address as
	// this node knows them.
	Leading() (leading bool, leaderID, leaderHTTP string)
	// Progress is the live view of an active run (sample counts, medians, guardrails,
	// time left), or nil.
	Progress(run *murphyv1.Run) *murphyv1.WatchResponse
	// Health fills in a worker's state, last contact and fault count as the leader sees
	// them, and returns its active faults.
	Health(w *murphyv1.Worker) []*murphyv1.ActiveFault
}

// Experiments is the part of the ExperimentService the pages write through.
type Experiments interface {
	Halt(ctx context.Context, in *murphyv1.HaltRequest, opts ...grpc.CallOption) (*murphyv1.HaltResponse, error)
	HaltAll(ctx context.Context, in *murphyv1.HaltAllRequest, opts ...grpc.CallOption) (*murphyv1.HaltAllResponse, error)
	Resume(ctx context.Context, in *murphyv1.ResumeRequest, opts ...grpc.CallOption) (*murphyv1.ResumeResponse, error)
	PauseSchedules(ctx context.Context, in *murphyv1.PauseSchedulesRequest, opts ...grpc.CallOption) (*murphyv1.PauseSchedulesResponse, error)
	ResumeSchedules(ctx context.Context, in *murphyv1.ResumeSchedulesRequest, opts ...grpc.CallOption) (*murphyv1.ResumeSchedulesResponse, error)
}

// Config wires the pages to a node.
type Config struct {
	NodeID      string
	FSM         *fsm.FSM
	Live        Live
	Experiments Experiments
	// Auth says how a browser proves who it is; the zero value admits only client
	// certificates (on a TLS listener).
	Auth Auth
	// TLS: the pages are served over HTTPS (links to other coordinators use it too).
	TLS    bool
	Now    func() time.Time
	Logger *slog.Logger
	// Done ends event streams when the node stops.
	Done <-chan struct{}
	// ScheduleLimits reports the fleet-wide limits on continuous chaos and their use,
	// for the schedules page; nil when none are set.
	ScheduleLimits func() []ScheduleLimit
}

// Handler serves /ui/.
type Handler struct {
	cfg  Config
	tpl  *template.Template
	mux  *http.ServeMux
	hub  *hub
	log  *slog.Logger
	css  template.CSS
	page int
}

// New returns the handler; mount it at /ui/.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	css, err := files.ReadFile("templates/style.css")
	if err != nil {
		panic(err)
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), hub: newHub(), log: cfg.Logger.With("component", "web"), css: template.CSS(css), page: 50}
	h.tpl = template.Must(template.New("").Funcs(funcs).Funcs(template.FuncMap{
		// run is a run by ID from this node's state, or nil.
		"run": func(id string) *murphyv1.Run { return cfg.FSM.Run(id) },
	}).ParseFS(files, "templates/*.html"))
	cfg.FSM.Observe(h.hub.notify)
	h.mux.HandleFunc("GET /ui/{$}", h.runs)
	h.mux.HandleFunc("GET /ui/runs/{id}", h.run)
	h.mux.HandleFunc("GET /ui/runs/{id}/live", h.runLive)
	h.mux.HandleFunc("GET /ui/runs/{id}/report", h.report)
	h.mux.HandleFunc("GET /ui/runs/{id}/reverts", h.runReverts)
	h.mux.HandleFunc("GET /ui/runs/{id}/metrics", h.runMetrics)
	h.mux.HandleFunc("GET /ui/runs/{id}/halt", h.confirmHalt)
	h.mux.HandleFunc("POST /ui/runs/{id}/halt", h.haltRun)
	h.mux.HandleFunc("GET /ui/experiments/{name}", h.experiment)
	h.mux.HandleFunc("GET /ui/workers", h.workers)
	h.mux.HandleFunc("GET /ui/cluster", h.cluster)
	h.mux.HandleFunc("POST /ui/cluster/halt-all", h.haltAll)
	h.mux.HandleFunc("POST /ui/cluster/resume", h.resume)
	h.mux.HandleFunc("GET /ui/audit", h.audit)
	h.mux.HandleFunc("GET /ui/schedules", h.schedules)
	h.mux.HandleFunc("POST /ui/schedules/pause", h.pauseSchedules)
	h.mux.HandleFunc("POST /ui/schedules/resume", h.resumeSchedules)
	h.mux.HandleFunc("GET /ui/login", h.loginForm)
	h.mux.HandleFunc("POST /ui/login", h.login)
	h.mux.HandleFunc("POST /ui/logout", h.logout)
	h.mux.HandleFunc("GET /ui/events", h.events)
	h.mux.HandleFunc("/ui/", h.notFound)
	return h
}

var funcs = template.FuncMap{
	"phase":        fsm.PhaseName,
	"badge":        RunBadge,
	"hdur":         HumanDuration,
	"capital":      Capital,
	"scheduleRule": ScheduleRule,
	"who":          Who,
	"outcome":      Outcome,
	"metricOutcome": func(o murphyv1.MetricOutcome) string {
		return metricOutcome(o)
	},
	"class": func(s string) string { return strings.ReplaceAll(s, " ", "-") },
	"time": func(t interface{ AsTime() time.Time }) string {
		if t == nil {
			return ""
		}
		return t.AsTime().UTC().Format("2006-01-02 15:04:05Z")
	},
	"clock": func(t time.Time) string { return t.UTC().Format("15:04:05.000Z") },
	"num":   Num,
	"pct":   func(v float64) string { return fmt.Sprintf("%+.1f%%", 100*v) },
	"dur":   func(d time.Duration) string { return d.Round(time.Second).String() },
	"pcnt":  func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) },
	"join":  strings.Join,
	"sentence": func(m *murphyv1.MetricVerdict, c float64) string {
		return MetricSentence(m, c)
	},
	"headline":    Headline,
	"guardValue":  guardValue,
	"guardChange": guardChange,
	"cause":       causeName,
	"may":         func(u *User, a string) bool { return u != nil && u.May(Action(a)) },
	"refusal": func(u *User, a string) string {
		if u == nil {
			return a + " needs the " + either(Action(a).Roles()) + " role; sign in first"
		}
		return u.Refusal(Action(a))
	},
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
}

// Page is what every page's layout needs.
type Page struct {
	Title    string
	Node     string
	Leading  bool
	LeaderID string
	Leader   string // leader's HTTP address
	Halt     *murphyv1.ClusterHalt
	CSS      template.CSS
	Nav      string
	Refresh  bool // an active run is shown: refresh without script
	Events   string
	// EndRefresh: when the event stream ends, refresh the live parts instead of
	// reloading the page (a halted run's page waiting for reverts).
	EndRefresh bool
	Report     bool
	User       *User  // who is signed in; nil on the sign-in page before signing in
	Scheme     string // of links to other coordinators' pages
	Insecure   bool   // the node runs without TLS: everyone is an admin
}

func (h *Handler) chrome(r *http.Request, title, nav string) Page {
	b := Page{Title: title, Node: h.cfg.NodeID, Halt: h.cfg.FSM.ClusterHalt(), CSS: h.css, Nav: nav, Scheme: "http", Insecure: h.cfg.Auth.Insecure}
	if h.cfg.TLS {
		b.Scheme = "https"
	}
	if u, ok := r.Context().Value(userKey{}).(User); ok {
		b.User = &u
	}
	if h.cfg.Live != nil {
		b.Leading, b.LeaderID, b.Leader = h.cfg.Live.Leading()
	}
	return b
}

func (h *Handler) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := h.tpl.ExecuteTemplate(&buf, name, data); err != nil {
		h.log.Error("render", "template", name, "error", err)
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = buf.WriteTo(w)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code int, title, msg string) {
	w.WriteHeader(code)
	h.render(w, "message.html", struct {
		Page
		Message string
	}{h.chrome(r, title, ""), msg})
}

// ---- runs list ----

// RunRow is one line of the runs list.
type RunRow struct {
	Run     *murphyv1.Run
	Regions []string
	Outcome string
	Active  bool
}

type runsPage struct {
	Page
	Rows                        []RunRow
	Total, Shown, PageNo, Pages int
	Phase, Verdict, Region, Q   string
	Since                       string
	Phases, Verdicts, Regions   []string
	SinceChoices                []string
	Prev, Next                  string
	FragmentURL                 string
}

var sinceChoices = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

func (h *Handler) runs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := runsPage{Page: h.chrome(r, "Runs", "runs"), Phase: q.Get("phase"), Verdict: q.Get("verdict"), Region: q.Get("region"), Q: q.Get("q"), Since: q.Get("since")}
	p.Phases = []string{"pending", "baseline", "injecting", "cooldown", "analysing", "completed", "halted", "failed"}
	p.Verdicts = []string{"upheld", "refuted", "inconclusive", "-"}
	p.SinceChoices = []string{"1h", "24h", "7d", "30d"}
	region := map[string]string{}
	seen := map[string]bool{}
	for _, wk := range h.cfg.FSM.Workers() {
		if rg := wk.Labels["region"]; rg != "" {
			region[wk.Id] = rg
			if !seen[rg] {
				seen[rg] = true
				p.Regions = append(p.Regions, rg)
			}
		}
	}
	slices.Sort(p.Regions)
	var cutoff time.Time
	if d, ok := sinceChoices[p.Since]; ok {
		cutoff = h.cfg.Now().Add(-d)
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	var rows []RunRow
	for _, run := range h.cfg.FSM.Runs() {
		if p.Phase != "" && fsm.PhaseName(run.Phase) != p.Phase {
			continue
		}
		oc := Outcome(run.Verdict.GetOutcome())
		if p.Verdict != "" && oc != p.Verdict {
			continue
		}
		if !cutoff.IsZero() && run.CreatedAt.AsTime().Before(cutoff) {
			continue
		}
		if p.Q != "" && !strings.Contains(run.Id, p.Q) && !strings.Contains(run.Experiment, p.Q) {
			continue
		}
		var regions []string
		for _, id := range append(slices.Clone(run.Groups.GetExperiment()), run.Groups.GetControl()...) {
			if rg := region[fsm.WorkerOf(run.Groups, id)]; rg != "" && !slices.Contains(regions, rg) {
				regions = append(regions, rg)
			}
		}
		slices.Sort(regions)
		if p.Region != "" && !slices.Contains(regions, p.Region) {
			continue
		}
		p.Total++
		if p.Total <= (page-1)*h.page || p.Total > page*h.page {
			continue
		}
		rows = append(rows, RunRow{Run: run, Regions: regions, Outcome: oc, Active: !fsm.Terminal(run.Phase)})
		if !fsm.Terminal(run.Phase) {
			p.Refresh = true
		}
	}
	p.Rows, p.Shown, p.PageNo = rows, len(rows), page
	p.Pages = max(1, (p.Total+h.page-1)/h.page)
	p.Prev, p.Next = pageLinks("/ui/?", q, page, p.Pages)
	p.Events = "/ui/events"
	fq := url.Values{}
	for k, vs := range q {
		fq[k] = vs
	}
	fq.Set("fragment", "1")
	p.FragmentURL = "/ui/?" + fq.Encode()
	if q.Get("fragment") == "1" {
		h.render(w, "runs-table", p)
		return
	}
	h.render(w, "runs.html", p)
}

// ---- run detail ----

// Event is one entry of a run's timeline; Until is set for spans.
type Event struct {
	At, Until time.Time
	What      string
	Detail    string
	Class     string
}

// GroupRow counts a run's workers of one region and data centre.
type GroupRow struct {
	Region, Datacenter  string
	Control, Experiment []string
}

// MetricView is one metric's charts.
type MetricView struct {
	Name          string
	Verdict       *murphyv1.MetricVerdict
	Time          template.HTML
	Distributions template.HTML
	// Summarized: some interval of it is committed, so Time is a chart.
	Summarized bool
}

// RunView is everything the run page and the reports show.
type RunView struct {
	Run        *murphyv1.Run
	Spec       string
	Summaries  *murphyv1.RunSummaries
	Headline   string
	Groups     []GroupRow
	Timeline   []Event
	TimelineSV template.HTML
	Metrics    []MetricView
	Forest     template.HTML
	Active     bool
	Members    int
	// Rows are the numbers behind the verdict, one per metric.
	Rows []VerdictRow
	// Hosts is the per-host view of each metric of the verdict decided host by host.
	Hosts []*Hosts
	// BeforeFault is the prominent line of a verdict taken before any fault.
	BeforeFault string
	// HaltHosts is every host's change at the halting look of a deviation guardrail.
	HaltHosts *Hosts
	// Windows is every worker's real fault window; Unconfirmed counts the faults whose
	// revert no worker has confirmed.
	Windows     []WindowRow
	Unconfirmed int
	// Reverts is how a halted run's faults came off; nil unless halted.
	Reverts *HaltReverts
	// HaltValues are a guardrail halt's recent values in the metric's unit.
	HaltValues []string
	// HaltThreshold is the guardrail's threshold in the metric's unit.
	HaltThreshold string
	// HaltHeld are the experimental hosts that held a fault when a guardrail breached,
	// with their fault's times.
	HaltHeld []HeldRow
}

// HeldRow is a host that held a fault at a guardrail's breach.
type HeldRow struct {
	Worker, Host, Injected, Reverted string
}

// heldRows lists the experimental hosts holding a fault from the first breach to the
// halt, with when each fault went on and came off.
func heldRows(run *murphyv1.Run, hr *murphyv1.HaltRecord, workers map[string]*murphyv1.Worker) []HeldRow {
	rows := HeldAt(run, hr.GetFirstBreach().AsTime(), hr.GetAt().AsTime())
	for i := range rows {
		rows[i].Host = workers[rows[i].Worker].GetLabels()["host"]
	}
	return rows
}

// WarmUp is how long after probes start the time chart marks as their warm-up: a
// probe's first requests open connections and resolve names, and read slow. Two
// seconds, or the first interval when intervals are longer.
func WarmUp(intervals []*murphyv1.IntervalSummary) time.Duration {
	w := 2 * time.Second
	if len(intervals) > 0 {
		w = max(w, intervals[0].GetEnd().AsTime().Sub(intervals[0].GetStart().AsTime()))
	}
	return w
}

// BuildRunView gathers what a run's page and report show from committed state only.
func BuildRunView(run *murphyv1.Run, sums *murphyv1.RunSummaries, workers map[string]*murphyv1.Worker, now time.Time) *RunView {
	v := &RunView{Run: run, Summaries: sums, Headline: Headline(run), Active: !fsm.Terminal(run.Phase)}
	v.Windows, v.Unconfirmed = FaultWindows(run, workers)
	v.Reverts = NewHaltReverts(run)
	sp := specOf(run)
	if js, err := spec.JSON(sp); err == nil {
		v.Spec = string(js)
	}
	baseline, cooldown := sp.GetBaseline().AsDuration(), sp.GetCooldown().AsDuration()

	// Groups by region and data centre.
	idx := map[[2]string]*GroupRow{}
	add := func(id string, exp bool) {
		// A pod is where its node's worker is.
		l := workers[fsm.WorkerOf(run.Groups, id)].GetLabels()
		k := [2]string{l["region"], l["datacenter"]}
		g := idx[k]
		if g == nil {
			g = &GroupRow{Region: k[0], Datacenter: k[1]}
			idx[k] = g
		}
		if exp {
			g.Experiment = append(g.Experiment, id)
		} else {
			g.Control = append(g.Control, id)
		}
		v.Members++
	}
	for _, id := range run.Groups.GetControl() {
		add(id, false)
	}
	for _, id := range run.Groups.GetExperiment() {
		add(id, true)
	}
	for _, g := range idx {
		v.Groups = append(v.Groups, *g)
	}
	slices.SortFunc(v.Groups, func(a, b GroupRow) int {
		return strings.Compare(a.Region+"\x00"+a.Datacenter, b.Region+"\x00"+b.Datacenter)
	})

	// Timeline.
	end := now
	if run.EndedAt != nil {
		end = run.EndedAt.AsTime()
	}
	created := run.CreatedAt.AsTime()
	ev := []Event{{At: created, What: "submitted", Detail: "by " + Who(run.SubmittedBy), Class: "pending"}}
	var baselineStart time.Time
	switch {
	case len(run.Steps) > 0:
		baselineStart = run.Steps[0].StartedAt.AsTime().Add(-baseline)
	case run.Phase == murphyv1.RunPhase_RUN_PHASE_BASELINE:
		baselineStart = run.PhaseSince.AsTime()
	}
	if !baselineStart.IsZero() {
		if baselineStart.Before(created) {
			baselineStart = created
		}
		// A wait before the baseline (a queue, a busy fleet) is its own span, not
		// part of "submitted".
		if wait := baselineStart.Sub(created); wait >= time.Second {
			ev = append(ev, Event{At: created, Until: baselineStart, What: "queued", Detail: "waited " + HumanDuration(wait) + " to start", Class: "pending"})
		}
		until := end
		if len(run.Steps) > 0 {
			until = run.Steps[0].StartedAt.AsTime()
		}
		ev = append(ev, Event{At: baselineStart, Until: until, What: "baseline", Detail: fmt.Sprintf("both groups observed for %s", since(baselineStart, until)), Class: "baseline"})
	}
	for _, s := range run.Steps {
		stEnd := end
		if s.EndedAt != nil {
			stEnd = s.EndedAt.AsTime()
		}
		d := fmt.Sprintf("%s %s on %d of %d experimental workers", s.Fault.GetKind(), params(s.Fault.GetParams()), len(s.Injected), len(run.Groups.GetExperiment()))
		if len(s.Failed) > 0 {
			d += fmt.Sprintf("; failed on %d: %s", len(s.Failed), s.Error)
		}
		ev = append(ev, Event{At: s.StartedAt.AsTime(), Until: stEnd, What: fmt.Sprintf("step %d", s.Index+1), Detail: d, Class: "fault"})
	}
	if n := len(run.Steps); n > 0 && run.Steps[n-1].EndedAt != nil {
		last := run.Steps[n-1].EndedAt.AsTime()
		if cooldown > 0 && (run.Phase == murphyv1.RunPhase_RUN_PHASE_COOLDOWN || run.Verdict != nil) {
			cEnd := last.Add(cooldown)
			if cEnd.After(end) {
				cEnd = end
			}
			ev = append(ev, Event{At: last, Until: cEnd, What: "cooldown", Detail: "faults reverted, both groups still observed", Class: "baseline"})
			last = cEnd
		}
		if run.Verdict != nil || run.Phase == murphyv1.RunPhase_RUN_PHASE_ANALYSING {
			ev = append(ev, Event{At: last, Until: end, What: "analysing", Detail: "samples compared", Class: "analysing"})
		}
	}
	if h := run.Halt; h != nil {
		ev = append(ev, Event{At: h.At.AsTime(), What: "halted", Detail: fmt.Sprintf("by %s: %s", HaltActor(h), h.Reason), Class: "halt"})
	}
	switch run.Phase {
	case murphyv1.RunPhase_RUN_PHASE_COMPLETED:
		ev = append(ev, Event{At: end, What: "completed", Detail: "hypothesis " + Outcome(run.Verdict.GetOutcome()), Class: "done"})
	case murphyv1.RunPhase_RUN_PHASE_FAILED:
		ev = append(ev, Event{At: end, What: "failed", Detail: run.Error, Class: "halt"})
	}
	slices.SortStableFunc(ev, func(a, b Event) int { return a.At.Compare(b.At) })
	v.Timeline = ev
	v.TimelineSV = Timeline(ev, created, end)

	// Metrics.
	var halt time.Time
	if run.Halt != nil {
		halt = run.Halt.At.AsTime()
	}
	var windows []Window
	if !baselineStart.IsZero() {
		bw := Window{From: baselineStart, Label: "baseline", Class: "baseline"}
		if len(run.Steps) > 0 {
			bw.To = run.Steps[0].StartedAt.AsTime()
		}
		windows = append(windows, bw)
		ww := Window{From: baselineStart, To: baselineStart.Add(WarmUp(sums.GetIntervals())), Label: "warm-up", Class: "warmup"}
		if !bw.To.IsZero() && bw.To.Before(ww.To) {
			ww.To = bw.To
		}
		windows = append(windows, ww)
	}
	for _, s := range run.Steps {
		w := Window{From: s.StartedAt.AsTime(), Label: fmt.Sprintf("step %d %s", s.Index+1, s.Fault.GetKind())}
		if s.EndedAt != nil {
			w.To = s.EndedAt.AsTime()
		}
		windows = append(windows, w)
	}
	names := []string{}
	rates := map[string]bool{}
	units := map[string]Unit{}
	for _, m := range sp.GetHypothesis().GetMetrics() {
		names = append(names, m.Name)
		rates[m.Name] = spec.Proportion(m)
		units[m.Name] = unitOf(m.Name, m.GetSource().GetProbe().GetMeasure())
	}
	for _, name := range names {
		mv := MetricView{Name: name, Summarized: slices.ContainsFunc(sums.GetIntervals(), func(s *murphyv1.IntervalSummary) bool { return s.Metric == name && !s.Window })}
		for _, m := range run.Verdict.GetMetrics() {
			if m.Name == name {
				mv.Verdict = m
			}
		}
		mv.Time = TimeChart(name, sums.GetIntervals(), windows, halt, rates[name], NewBreach(run, name, workers), units[name])
		mv.Distributions = Distributions(name, sums.GetWindows(), units[name], run.Phase == murphyv1.RunPhase_RUN_PHASE_HALTED)
		v.Metrics = append(v.Metrics, mv)
	}
	v.Forest = Forest(run.Verdict)
	for _, m := range run.Verdict.GetMetrics() {
		if h := NewHosts(m, run.Verdict.GetConfidence()); h != nil {
			v.Hosts = append(v.Hosts, h)
		}
	}
	v.Rows = VerdictRows(run.Verdict)
	v.BeforeFault = BeforeFaultText(run.Verdict)
	if hr := run.Halt; hr.GetGuardrail() != "" {
		u := units[hr.Metric]
		if rates[hr.Metric] {
			u = UnitShare
		}
		v.HaltHeld = heldRows(run, hr, workers)
		v.HaltThreshold = formatValue(u, hr.Threshold)
		value := func(x float64) string { return formatValue(u, x) }
		if len(hr.Targets) > 0 {
			// A deviation guardrail's threshold is its test's critical value, and its
			// values are the experimental hosts' changes, not levels of the metric.
			v.HaltThreshold = "critical t " + Num(hr.Threshold)
			if hr.Scale == "log" {
				value = func(x float64) string { return fmt.Sprintf("%+.0f%%", 100*x) }
			}
		}
		for _, x := range hr.Values {
			v.HaltValues = append(v.HaltValues, value(x))
		}
	}
	if hr := run.Halt; len(hr.GetTargets()) > 0 {
		v.HaltHosts = haltHosts(hr, guardOf(sp, hr.Metric))
	}
	return v
}

func params(p map[string]string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+p[k])
	}
	return strings.Join(parts, " ")
}

func (h *Handler) workerIndex() map[string]*murphyv1.Worker {
	ws := h.cfg.FSM.Workers()
	out := make(map[string]*murphyv1.Worker, len(ws))
	for _, w := range ws {
		out[w.Id] = w
	}
	return out
}

type runPage struct {
	Page
	*RunView
	Live    *liveView
	Confirm string // the reason awaiting confirmation
	Error   string
}

func (h *Handler) find(w http.ResponseWriter, r *http.Request) *murphyv1.Run {
	run, err := h.cfg.FSM.FindRun(r.PathValue("id"))
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "Run not found", strings.TrimPrefix(err.Error(), "fsm: not found: ")+" on this coordinator.")
		return nil
	}
	return run
}

func (h *Handler) runPage(r *http.Request, run *murphyv1.Run) runPage {
	v := BuildRunView(run, h.cfg.FSM.Summaries(run.Id), h.workerIndex(), h.cfg.Now())
	p := runPage{Page: h.chrome(r, "Run "+run.Id, "runs"), RunView: v, Live: h.live(r, run)}
	h.notSummarizedYet(v, p.Live)
	p.Refresh = v.Active
	// A finished run's page must not subscribe: its stream would answer "end" at once
	// and the page would reload itself every second.
	if v.Active || v.Reverts.Waiting() {
		p.Events = "/ui/events?run=" + url.QueryEscape(run.Id)
		p.EndRefresh = !v.Active
	}
	return p
}

// runReverts is the reverts part of a halted run's page, fetched while workers confirm.
func (h *Handler) runReverts(w http.ResponseWriter, r *http.Request) {
	if run := h.find(w, r); run != nil {
		h.render(w, "reverts", &RunView{Run: run, Reverts: NewHaltReverts(run)})
	}
}

// runMetrics is the charts part of a run's page, fetched as the run goes on.
func (h *Handler) runMetrics(w http.ResponseWriter, r *http.Request) {
	if run := h.find(w, r); run != nil {
		v := BuildRunView(run, h.cfg.FSM.Summaries(run.Id), h.workerIndex(), h.cfg.Now())
		if v.Active && slices.ContainsFunc(v.Metrics, func(m MetricView) bool { return !m.Summarized }) {
			h.notSummarizedYet(v, h.live(r, run))
		}
		h.render(w, "metrics", v)
	}
}

// notSummarizedYet replaces an active run's empty charts by what is known of the samples:
// the leader commits summaries in batches every few seconds, so early in a phase it holds
// samples no node has a summary of, and "none recorded" would read as "no samples". A
// follower that cannot ask the leader says the count is unknown on this node.
func (h *Handler) notSummarizedYet(v *RunView, lv *liveView) {
	if !v.Active {
		return
	}
	for i, m := range v.Metrics {
		if m.Summarized {
			continue
		}
		var got *murphyv1.MetricProgress
		for _, p := range lv.Resp.GetProgress() {
			if p.Metric == m.Name {
				got = p
			}
		}
		leader := "the leader"
		if lv.Follower && lv.LeaderID != "" {
			leader += " " + lv.LeaderID
		}
		msg := "No summary of " + m.Name + " committed yet: the leader commits them every few seconds. "
		switch {
		case got != nil:
			msg += fmt.Sprintf("So far %s holds %d control and %d experimental samples (Live, above).", leader, got.Control, got.Experiment)
		case lv.Follower:
			msg += "The samples " + leader + " holds are unknown on this node."
		default:
			msg += "No samples have arrived yet."
		}
		v.Metrics[i].Time = template.HTML(`<p class="empty pending">` + template.HTMLEscapeString(msg) + `</p>`)
	}
}

// notFound answers an unknown page inside the layout.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, http.StatusNotFound, "Page not found", "There is no page at "+r.URL.Path+" on this coordinator. The runs list is at /ui/.")
}

func (h *Handler) run(w http.ResponseWriter, r *http.Request) {
	if run := h.find(w, r); run != nil {
		h.render(w, "run.html", h.runPage(r, run))
	}
}

// ---- live ----

type liveView struct {
	Page
	Run      *murphyv1.Run
	Resp     *murphyv1.WatchResponse
	Follower bool
	Now      time.Time
}

func (h *Handler) live(r *http.Request, run *murphyv1.Run) *liveView {
	lv := &liveView{Page: h.chrome(r, "", ""), Run: run, Now: h.cfg.Now()}
	if fsm.Terminal(run.Phase) {
		return lv
	}
	if h.cfg.Live != nil {
		lv.Resp = h.cfg.Live.Progress(run)
	}
	lv.Follower = !lv.Leading
	return lv
}

func (h *Handler) runLive(w http.ResponseWriter, r *http.Request) {
	if run := h.find(w, r); run != nil {
		h.render(w, "live", h.live(r, run))
	}
}

// ---- writes ----

// authorize checks that a form comes from these pages and that the user's role allows
// the action; it returns the context for the call, which carries the user for the record.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, a Action) (context.Context, bool) {
	if !sameOrigin(r) {
		h.fail(w, r, http.StatusForbidden, "Refused", "This form must be sent from this coordinator's own pages.")
		return nil, false
	}
	u := userFrom(r)
	if !u.May(a) {
		h.log.Warn("web action denied", "action", string(a), "user", u.Caller())
		h.fail(w, r, http.StatusForbidden, "Not allowed", u.Refusal(a))
		return nil, false
	}
	return withCaller(r.Context(), u), true
}

// settle waits, briefly, until this node has applied what the leader committed, so the
// page shown after a write (this node may be a follower) already shows the write.
func (h *Handler) settle(ctx context.Context, done func() bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for !done() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func explain(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

func (h *Handler) haltRun(w http.ResponseWriter, r *http.Request) {
	run := h.find(w, r)
	if run == nil {
		return
	}
	actx, ok := h.authorize(w, r, ActionHaltRun)
	if !ok {
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	p := h.runPage(r, run)
	switch {
	case reason == "":
		p.Error = "Give a reason for the halt: it is recorded on the run."
	case r.PostFormValue("confirm") != "yes":
		// The confirmation is a page of its own, reached by GET.
		http.Redirect(w, r, "/ui/runs/"+url.PathEscape(run.Id)+"/halt?"+url.Values{"reason": {reason}}.Encode(), http.StatusSeeOther)
		return
	default:
		ctx, cancel := context.WithTimeout(actx, 10*time.Second)
		defer cancel()
		if _, err := h.cfg.Experiments.Halt(ctx, &murphyv1.HaltRequest{RunId: run.Id, Reason: reason}); err != nil {
			p.Error = "The halt failed: " + explain(err)
			break
		}
		h.settle(ctx, func() bool { r := h.cfg.FSM.Run(run.Id); return r == nil || fsm.Terminal(r.Phase) })
		http.Redirect(w, r, "/ui/runs/"+url.PathEscape(run.Id), http.StatusSeeOther)
		return
	}
	if p.Error != "" {
		w.WriteHeader(http.StatusBadRequest)
	}
	h.render(w, "run.html", p)
}

// confirmHalt is the halt's confirmation step: a page that repeats the reason and
// offers the form that halts.
func (h *Handler) confirmHalt(w http.ResponseWriter, r *http.Request) {
	run := h.find(w, r)
	if run == nil {
		return
	}
	if u := userFrom(r); !u.May(ActionHaltRun) {
		h.fail(w, r, http.StatusForbidden, "Not allowed", u.Refusal(ActionHaltRun))
		return
	}
	p := h.runPage(r, run)
	p.Title = "Halt run " + run.Id + "?"
	switch reason := strings.TrimSpace(r.URL.Query().Get("reason")); {
	case fsm.Terminal(run.Phase):
		p.Error = "This run has already ended (" + fsm.PhaseName(run.Phase) + "): there is nothing to halt."
	case reason == "":
		p.Error = "Give a reason for the halt: it is recorded on the run."
		w.WriteHeader(http.StatusBadRequest)
	default:
		p.Confirm = reason
	}
	h.render(w, "run.html", p)
}

type clusterPage struct {
	Page
	Nodes   []*murphyv1.Node
	Active  int
	Confirm string
	Error   string
	Done    string
}

func (h *Handler) clusterPage(r *http.Request) clusterPage {
	return clusterPage{Page: h.chrome(r, "Cluster", "cluster"), Nodes: h.cfg.FSM.Nodes(), Active: len(h.cfg.FSM.ActiveRuns())}
}

func (h *Handler) cluster(w http.ResponseWriter, r *http.Request) {
	h.render(w, "cluster.html", h.clusterPage(r))
}

func (h *Handler) haltAll(w http.ResponseWriter, r *http.Request) {
	actx, ok := h.authorize(w, r, ActionHaltAll)
	if !ok {
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	p := h.clusterPage(r)
	switch {
	case reason == "":
		p.Error = "Give a reason: it is recorded on every run the halt stops."
	case r.PostFormValue("confirm") != "yes":
		p.Confirm = reason
	default:
		ctx, cancel := context.WithTimeout(actx, 10*time.Second)
		defer cancel()
		if _, err := h.cfg.Experiments.HaltAll(ctx, &murphyv1.HaltAllRequest{Reason: reason}); err != nil {
			p.Error = "Halt all failed: " + explain(err)
			break
		}
		h.settle(ctx, func() bool { return h.cfg.FSM.ClusterHalt() != nil })
		http.Redirect(w, r, "/ui/cluster", http.StatusSeeOther)
		return
	}
	h.render(w, "cluster.html", p)
}

func (h *Handler) resume(w http.ResponseWriter, r *http.Request) {
	actx, ok := h.authorize(w, r, ActionResume)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(actx, 10*time.Second)
	defer cancel()
	if _, err := h.cfg.Experiments.Resume(ctx, &murphyv1.ResumeRequest{}); err != nil {
		p := h.clusterPage(r)
		p.Error = "Resume failed: " + explain(err)
		h.render(w, "cluster.html", p)
		return
	}
	h.settle(ctx, h.resumed)
	http.Redirect(w, r, "/ui/cluster", http.StatusSeeOther)
}

// resumed reports the halt lifted; schedules stay paused until resumed on their own.
func (h *Handler) resumed() bool { return h.cfg.FSM.ClusterHalt() == nil }

// ---- workers ----

// WorkerRow is one worker on the topology page.
type WorkerRow struct {
	W      *murphyv1.Worker
	Host   string
	State  string
	Faults []*murphyv1.ActiveFault
	Run    string
}

// DC is a data centre's workers; Region groups data centres.
type DC struct {
	Name    string
	Workers []WorkerRow
}

// Region is one region of the topology.
type Region struct {
	Name string
	DCs  []*DC
	N    int
}

type workersPage struct {
	Page
	Regions []*Region
	Total   int
	Counts  map[string]int
}

func (h *Handler) workers(w http.ResponseWriter, r *http.Request) {
	p := workersPage{Page: h.chrome(r, "Workers", "workers"), Counts: map[string]int{}}
	inRun := map[string]string{}
	for _, r := range h.cfg.FSM.ActiveRuns() {
		for _, id := range fsm.GroupWorkers(r.Groups) {
			inRun[id] = r.Id
		}
	}
	regions := map[string]*Region{}
	dcs := map[[2]string]*DC{}
	for _, wk := range h.cfg.FSM.Workers() {
		var faults []*murphyv1.ActiveFault
		if h.cfg.Live != nil && p.Leading {
			faults = h.cfg.Live.Health(wk)
		}
		state := strings.ToLower(strings.TrimPrefix(wk.State.String(), "WORKER_STATE_"))
		p.Counts[state]++
		rg, dc := wk.Labels["region"], wk.Labels["datacenter"]
		if rg == "" {
			rg = "(no region)"
		}
		if dc == "" {
			dc = "(no data centre)"
		}
		reg := regions[rg]
		if reg == nil {
			reg = &Region{Name: rg}
			regions[rg] = reg
			p.Regions = append(p.Regions, reg)
		}
		d := dcs[[2]string{rg, dc}]
		if d == nil {
			d = &DC{Name: dc}
			dcs[[2]string{rg, dc}] = d
			reg.DCs = append(reg.DCs, d)
		}
		host := wk.Labels["host"]
		d.Workers = append(d.Workers, WorkerRow{W: wk, Host: host, State: state, Faults: faults, Run: inRun[wk.Id]})
		reg.N++
		p.Total++
	}
	slices.SortFunc(p.Regions, func(a, b *Region) int { return strings.Compare(a.Name, b.Name) })
	for _, reg := range p.Regions {
		slices.SortFunc(reg.DCs, func(a, b *DC) int { return strings.Compare(a.Name, b.Name) })
		for _, d := range reg.DCs {
			slices.SortFunc(d.Workers, func(a, b WorkerRow) int {
				return strings.Compare(a.Host+"\x00"+a.W.Id, b.Host+"\x00"+b.W.Id)
			})
		}
	}
	h.render(w, "workers.html", p)
}

// ---- report ----

func (h *Handler) report(w http.ResponseWriter, r *http.Request) {
	run := h.find(w, r)
	if run == nil {
		return
	}
	v := BuildRunView(run, h.cfg.FSM.Summaries(run.Id), h.workerIndex(), h.cfg.Now())
	format := r.URL.Query().Get("format")
	var buf bytes.Buffer
	err := h.Report(&buf, format, v)
	if errors.Is(err, ErrFormat) {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	switch format {
	case "markdown", "md":
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	case "json":
		w.Header().Set("Content-Type", "application/json")
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	_, _ = io.Copy(w, &buf)
}

// pageLinks returns the links to the previous and next pages of a paged list at base
// (ending in "?"), keeping the filters in q; a link is empty where there is no page.
func pageLinks(base string, q url.Values, page, pages int) (prev, next string) {
	link := func(n int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("page", strconv.Itoa(n))
		return base + v.Encode()
	}
	if page > 1 {
		prev = link(page - 1)
	}
	if page < pages {
		next = link(page + 1)
	}
	return prev, next
}
