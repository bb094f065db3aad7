package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const specJSON = `{"apiVersion":"murphy/v1","name":"checkout","baseline":"10s","hypothesis":{"metrics":[{"name":"latency","direction":"increase","tolerance":{"relative":0.1}}]},"steps":[{"fault":{"kind":"http.delay","duration":"30s"}}]}`

// fill applies runs and workers the way a cluster would: every run completed with a
// verdict and summaries, and one in four halted.
func fill(tb testing.TB, f *fsm.FSM, runs, workers int) {
	tb.Helper()
	var idx uint64
	apply := func(at time.Time, cmd *murphyv1.Command) {
		idx++
		cmd.At = timestamppb.New(at)
		if err := f.ApplyCommand(idx, cmd); err != nil {
			tb.Fatalf("command %d %T: %v", idx, cmd.Cmd, err)
		}
	}
	for i := range workers {
		apply(t0, &murphyv1.Command{Cmd: &murphyv1.Command_RegisterWorker{RegisterWorker: &murphyv1.RegisterWorker{
			WorkerId: fmt.Sprintf("w%04d", i), Labels: map[string]string{"region": fmt.Sprintf("r%d", i%3), "datacenter": fmt.Sprintf("dc%d", i%2), "host": fmt.Sprintf("h%d", i)},
		}}})
	}
	for i := range runs {
		id := fmt.Sprintf("checkout-%06x", i)
		start := t0.Add(time.Duration(i) * time.Minute)
		ctl, exp := []string{fmt.Sprintf("w%04d", (2*i)%workers)}, []string{fmt.Sprintf("w%04d", (2*i+1)%workers)}
		apply(start, &murphyv1.Command{By: "alice", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: id, Experiment: "checkout", Spec: testSpec(specJSON)}}})
		apply(start, &murphyv1.Command{Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: id, Groups: &murphyv1.Groups{Control: ctl, Experiment: exp, Seed: 7}}}})
		fault := &murphyv1.FaultSpec{Kind: "http.delay", Params: map[string]string{"delay": "20ms"}, Duration: durationpb.New(30 * time.Second)}
		apply(start.Add(10*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: id, Fault: fault, Start: true, Injected: exp}}})
		apply(start.Add(10*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: id, Phase: murphyv1.RunPhase_RUN_PHASE_INJECTING}}})
		var sums []*murphyv1.IntervalSummary
		for s := range 41 {
			for _, g := range []murphyv1.Group{murphyv1.Group_GROUP_CONTROL, murphyv1.Group_GROUP_EXPERIMENT} {
				v := 0.003
				if g == murphyv1.Group_GROUP_EXPERIMENT && s >= 10 {
					v = 0.023
				}
				sums = append(sums, &murphyv1.IntervalSummary{Metric: "latency", Group: g, Start: timestamppb.New(start.Add(time.Duration(s) * time.Second)), End: timestamppb.New(start.Add(time.Duration(s+1) * time.Second)), Count: 20, Mean: v, P50: v, P90: v * 1.3, P99: v * 1.6, Min: v * 0.8, Max: v * 2})
			}
		}
		if i%4 == 3 {
			apply(start.Add(20*time.Second), &murphyv1.Command{By: "bob", Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{RunId: id, Reason: "pager went off"}}})
			apply(start.Add(20*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_RecordRevert{RecordRevert: &murphyv1.RecordRevert{RunId: id, Reverts: []*murphyv1.WorkerRevert{{WorkerId: exp[0], At: timestamppb.New(start.Add(20*time.Second + 20*time.Millisecond)), Cause: murphyv1.RevertCause_REVERT_CAUSE_HALT}}}}})
			apply(start.Add(21*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_RecordSummaries{RecordSummaries: &murphyv1.RecordSummaries{RunId: id, Summaries: sums[:40], Final: true}}})
			continue
		}
		apply(start.Add(40*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: id, End: true}}})
		apply(start.Add(40*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: id, Phase: murphyv1.RunPhase_RUN_PHASE_ANALYSING}}})
		apply(start.Add(41*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_RecordVerdict{RecordVerdict: &murphyv1.RecordVerdict{RunId: id, Verdict: &murphyv1.Verdict{
			Outcome: murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED, Reason: "1 of 1 metrics deviated", Confidence: 0.95,
			WindowStart: timestamppb.New(start.Add(10 * time.Second)), WindowEnd: timestamppb.New(start.Add(40 * time.Second)),
			Metrics: []*murphyv1.MetricVerdict{{Name: "latency", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED, Direction: "increase", Tolerance: "relative 0.1",
				NControl: 600, NExperiment: 600, ControlMedian: 0.003, ExperimentMedian: 0.023, Shift: 0.02, ShiftLow: 0.019, ShiftHigh: 0.021, RelChange: 6.28, RelLow: 6.21, RelHigh: 6.36, P: 1e-200}},
		}}}})
		pct := func(base float64) []float64 {
			out := make([]float64, fsm.Percentiles)
			for i := range out {
				out[i] = base * (1 + math.Log1p(float64(i))/5)
			}
			return out
		}
		sums = append(sums,
			&murphyv1.IntervalSummary{Metric: "latency", Group: murphyv1.Group_GROUP_CONTROL, Window: true, Start: timestamppb.New(start.Add(10 * time.Second)), End: timestamppb.New(start.Add(40 * time.Second)), Count: 600, Percentiles: pct(0.003)},
			&murphyv1.IntervalSummary{Metric: "latency", Group: murphyv1.Group_GROUP_EXPERIMENT, Window: true, Start: timestamppb.New(start.Add(10 * time.Second)), End: timestamppb.New(start.Add(40 * time.Second)), Count: 600, Percentiles: pct(0.023)})
		apply(start.Add(42*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_RecordSummaries{RecordSummaries: &murphyv1.RecordSummaries{RunId: id, Summaries: sums, Final: true}}})
	}
}

func newTestHandler(tb testing.TB, runs, workers int) *Handler {
	f := fsm.New()
	fill(tb, f, runs, workers)
	return New(Config{NodeID: "n1", FSM: f, Auth: Auth{Insecure: true}, Now: func() time.Time { return t0.Add(time.Duration(runs+1) * time.Minute) }})
}

func get(tb testing.TB, h http.Handler, path string) (int, string) {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestPages(t *testing.T) {
	h := newTestHandler(t, 8, 12)
	tests := []struct {
		path string
		want []string
	}{
		{"/ui/", []string{"<h1>Runs</h1>", "8 runs", `<label for="f-phase">State</label>`, "checkout-000007", "refuted"}},
		{"/ui/?phase=halted", []string{"2 runs", "checkout-000007", "halted"}},
		{"/ui/?verdict=refuted&region=r1", []string{"checkout-000000"}},
		{"/ui/runs/checkout-000000", []string{"Hypothesis refuted: latency rose 628% (95% CI 621–636%), beyond the 10% tolerance.", "<svg", "the baseline shaded grey with its warm-up darker", "Intervals against tolerances", "distributions over the verdict window", "Data centre", `&#34;baseline&#34;: &#34;10s&#34;`}},
		{"/ui/runs/checkout-000003", []string{"Halted at", "pager went off", "1 of 1 experimental worker reverted, slowest 20 ms.", "Reverts: 1 of 1 workers that held a fault confirmed", `<span class="badge halted" data-badge="halted">halted</span>`}},
		{"/ui/runs/checkout-000000", []string{`<span class="badge refuted" data-badge="refuted">refuted</span> <span class="phase" id="phase">completed</span>`}},
		{"/ui/runs/checkout-000000/report", []string{`<span class="badge refuted" data-badge="refuted">refuted</span>`}},
		{"/ui/experiments/checkout", []string{"<h1>Experiment checkout</h1>", "the last run halted", "refuted 6, halted 2 of 8 finished runs", `<a href="/ui/runs/checkout-000000">`, "+628.0% [+621.0%, +636.0%]", `class="est deviated"`}},
		{"/ui/runs/checkout-000000/report?format=markdown", []string{"# Run `checkout-000000` (checkout)", "| latency | deviated |", "- Verdict: **refuted** (phase completed)"}},
		{"/ui/runs/checkout-000003/report?format=markdown", []string{"- Verdict: **halted** (phase halted)", "1 of 1 experimental worker reverted, slowest 20 ms.", "| w0007 | 20 ms | halt |"}},
		{"/ui/runs/checkout-000000/report?format=json", []string{`"headline": "Hypothesis refuted`, `"intervals"`}},
		{"/ui/runs/checkout-000000/report", []string{"<style>", "<svg", "Murphy run checkout-000000"}},
		{"/ui/workers", []string{"Region r0", "Data centre dc0", "w0000"}},
		{"/ui/cluster", []string{`<label for="all-reason">`, "Halt everything"}},
		{"/ui/cluster", []string{`id="insecure"`, "every visitor is an admin"}},
		{"/ui/audit", []string{"<h1>Audit trail</h1>", "10 entries", "run.submit", "run.halt", "pager went off", `<a href="/ui/runs/checkout-000007">`}},
		{"/ui/audit?action=run.halt", []string{"2 entries", "bob", "pager went off"}},
		{"/ui/audit?from=2026-03-01T12:05", []string{"4 entries", "checkout-000007", "checkout-000005"}},
		{"/ui/audit?to=2026-03-01T12:00", []string{"1 entry", "checkout-000000"}},
		{"/ui/schedules", []string{"<h1>Schedules</h1>", "No schedules", "Pause all schedules"}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			code, body := get(t, h, tc.path)
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s lacks %q", tc.path, w)
				}
			}
		})
	}
	if code, _ := get(t, h, "/ui/runs/nope"); code != http.StatusNotFound {
		t.Errorf("unknown run: %d", code)
	}
	if code, body := get(t, h, "/ui/experiments/nothing"); code != http.StatusNotFound || !strings.Contains(body, "Experiment not found") {
		t.Errorf("unknown experiment: %d", code)
	}
	if code, _ := get(t, h, "/ui/runs/checkout-000000/report?format=yaml"); code != http.StatusBadRequest {
		t.Errorf("unknown format: %d", code)
	}
}

func TestHaltNeedsConfirmation(t *testing.T) {
	h := newTestHandler(t, 1, 2)
	post := func(form url.Values, origin string) (int, string) {
		req := httptest.NewRequest(http.MethodPost, "/ui/runs/checkout-000000/halt", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if code, _ := post(url.Values{"reason": {"x"}}, "http://evil.example"); code != http.StatusForbidden {
		t.Errorf("cross-site post: %d", code)
	}
	if code, body := post(url.Values{}, ""); code != http.StatusBadRequest || !strings.Contains(body, "Give a reason") {
		t.Errorf("no reason: %d", code)
	}
	// Without the confirmation the post goes to the confirmation page, which is a GET.
	req := httptest.NewRequest(http.MethodPost, "/ui/runs/checkout-000000/halt", strings.NewReader("reason=too+hot"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != "/ui/runs/checkout-000000/halt?reason=too+hot" {
		t.Errorf("post without confirmation: %d to %q", rec.Code, loc)
	}
	if code, body := get(t, h, "/ui/runs/checkout-000000/halt?reason=too+hot"); code != http.StatusOK || !strings.Contains(body, "already ended") || strings.Contains(body, `id="confirm-halt"`) {
		t.Errorf("confirming the halt of a finished run: %d\n%s", code, body)
	}
}

// TestNotFoundInLayout: an unknown page answers 404 with the pages' own layout.
func TestNotFoundInLayout(t *testing.T) {
	h := newTestHandler(t, 1, 2)
	code, body := get(t, h, "/ui/no/such/page")
	if code != http.StatusNotFound || !strings.Contains(body, "Page not found") || !strings.Contains(body, `<nav aria-label="Main">`) || !strings.Contains(body, `class="skip"`) {
		t.Errorf("unknown page: %d\n%s", code, body)
	}
}

func TestRunBadge(t *testing.T) {
	v := func(o murphyv1.VerdictOutcome) *murphyv1.Verdict { return &murphyv1.Verdict{Outcome: o} }
	for _, tc := range []struct {
		run  *murphyv1.Run
		want string
	}{
		{&murphyv1.Run{Phase: murphyv1.RunPhase_RUN_PHASE_COMPLETED, Verdict: v(murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED)}, "refuted"},
		{&murphyv1.Run{Phase: murphyv1.RunPhase_RUN_PHASE_COMPLETED, Verdict: v(murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD)}, "upheld"},
		{&murphyv1.Run{Phase: murphyv1.RunPhase_RUN_PHASE_COMPLETED, Verdict: v(murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE)}, "inconclusive"},
		{&murphyv1.Run{Phase: murphyv1.RunPhase_RUN_PHASE_HALTED, Verdict: v(murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD)}, "halted"},
		{&murphyv1.Run{Phase: murphyv1.RunPhase_RUN_PHASE_FAILED}, "failed"},
		{&murphyv1.Run{Phase: murphyv1.RunPhase_RUN_PHASE_INJECTING}, "running"},
		{&murphyv1.Run{Phase: murphyv1.RunPhase_RUN_PHASE_COMPLETED}, "no verdict"},
	} {
		if got := RunBadge(tc.run).Text; got != tc.want {
			t.Errorf("%v %v: badge %q, want %q", tc.run.Phase, tc.run.Verdict.GetOutcome(), got, tc.want)
		}
	}
	if got := Who("operator:olga@127.0.0.1:54321"); got != "operator:olga" {
		t.Errorf("Who = %q, want the caller without its ephemeral port", got)
	}
	if got := Capital("all 2 metrics within tolerance"); got != "All 2 metrics within tolerance" {
		t.Errorf("Capital = %q", got)
	}
	for d, want := range map[time.Duration]string{850 * time.Microsecond: "850 µs", 10603228 * time.Nanosecond: "11 ms", 3300 * time.Microsecond: "3.3 ms", 25 * time.Millisecond: "25 ms", 1250 * time.Millisecond: "1.2 s", 200 * time.Second: "3m20s"} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestMetricSentence(t *testing.T) {
	tests := []struct {
		m    *murphyv1.MetricVerdict
		want string
	}{
		{&murphyv1.MetricVerdict{Name: "p99 latency", Tolerance: "relative 0.1", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED, NControl: 9, NExperiment: 9, RelChange: 0.34, RelLow: 0.28, RelHigh: 0.41},
			"p99 latency rose 34% (95% CI 28–41%), beyond the 10% tolerance"},
		{&murphyv1.MetricVerdict{Name: "ok", Tolerance: "absolute 0.05", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_WITHIN_TOLERANCE, NControl: 9, NExperiment: 9, Shift: -0.01, ShiftLow: -0.02, ShiftHigh: 0.001},
			"ok fell by 0.01 (95% CI -0.02 to 0.001), within the tolerance of 0.05"},
		{&murphyv1.MetricVerdict{Name: "latency", Tolerance: "relative 0.1", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE, NControl: 9, NExperiment: 9, RelChange: 0.05, RelLow: -0.02, RelHigh: 0.2},
			"latency rose 5.0% (95% CI -2.0% to 20%): not enough evidence either way against the 10% tolerance"},
	}
	for _, tc := range tests {
		if got := MetricSentence(tc.m, 0.95); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

// BenchmarkRender measures the server's render time per page with 1,000 runs and 1,000
// workers in the state.
func BenchmarkRender(b *testing.B) {
	h := newTestHandler(b, 1000, 1000)
	for _, path := range []string{"/ui/", "/ui/?phase=halted&region=r1", "/ui/runs/checkout-000000", "/ui/workers", "/ui/runs/checkout-000000/report", "/ui/audit", "/ui/audit?action=run.halt&page=3"} {
		b.Run(strings.NewReplacer("/", "_", "?", "_", "&", "_", "=", "_").Replace(path), func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}

// TestLiveOnlyWhileActive: only an active run's page subscribes to live events, and a
// stream for a finished run ends at once, so a finished page never reloads itself.
func TestLiveOnlyWhileActive(t *testing.T) {
	h := newTestHandler(t, 4, 4)
	idx := uint64(1000)
	cmd := func(c *murphyv1.Command) {
		c.At = timestamppb.New(t0.Add(time.Hour))
		idx++
		if err := h.cfg.FSM.ApplyCommand(idx, c); err != nil {
			t.Fatal(err)
		}
	}
	cmd(&murphyv1.Command{Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "live-1", Experiment: "checkout", Spec: testSpec(specJSON)}}})
	cmd(&murphyv1.Command{Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "live-1", Groups: &murphyv1.Groups{Control: []string{"w0000"}, Experiment: []string{"w0001"}, Seed: 1}}}})
	for _, tc := range []struct {
		run  string
		live bool
	}{{"checkout-000000", false}, {"checkout-000003", false}, {"live-1", true}} {
		_, body := get(t, h, "/ui/runs/"+tc.run)
		if got := strings.Contains(body, "new EventSource"); got != tc.live {
			t.Errorf("page of %s subscribes to events: %v, want %v", tc.run, got, tc.live)
		}
	}
	// Each stream gets a short deadline: a stream that would not end on its own then
	// shows as a missing end event instead of a hung test.
	events := func(run string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/events?run="+run, nil).WithContext(ctx))
		return rec.Body.String()
	}
	if body := events("checkout-000000"); !strings.Contains(body, "event: end") {
		t.Errorf("events of a finished run: %q, want an end event at once", body)
	}
	if body := events("live-1"); strings.Contains(body, "event: end") {
		t.Errorf("events of an active run ended: %q", body)
	}
}

func TestPageLinks(t *testing.T) {
	q := url.Values{"phase": {"halted"}, "page": {"2"}}
	tests := []struct {
		page, pages int
		prev, next  string
	}{
		{1, 1, "", ""},
		{1, 3, "", "/ui/?page=2&phase=halted"},
		{2, 3, "/ui/?page=1&phase=halted", "/ui/?page=3&phase=halted"},
		{3, 3, "/ui/?page=2&phase=halted", ""},
	}
	for _, tc := range tests {
		prev, next := pageLinks("/ui/?", q, tc.page, tc.pages)
		if prev != tc.prev || next != tc.next {
			t.Errorf("page %d of %d: %q, %q; want %q, %q", tc.page, tc.pages, prev, next, tc.prev, tc.next)
		}
	}
	if q.Get("page") != "2" {
		t.Error("pageLinks changed the request's query")
	}
}

func TestScheduleRule(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{`{"schedule":{"cron":"0 0 3 * * *","maxPerDay":2,"windows":[{"days":["MON","TUE"],"start":"09:00","end":"17:00"}]}}`, "cron 0 0 3 * * * (UTC); windows MON,TUE 09:00–17:00; at most 2 a day"},
		{`{"schedule":{"mtbf":"4h","timezone":"Europe/Paris"}}`, "at random, on average every 4h (Europe/Paris); any time of day"},
		{specJSON, ""},
	} {
		if got := ScheduleRule(tc.spec); got != tc.want {
			t.Errorf("ScheduleRule(%s) = %q, want %q", tc.spec, got, tc.want)
		}
	}
}

// TestQueuedSpan: a wait between submitting and the baseline is a span of its own.
func TestQueuedSpan(t *testing.T) {
	f := fsm.New()
	for i, c := range []*murphyv1.Command{
		{At: timestamppb.New(t0), By: "alice@10.0.0.1:5555", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "q-1", Experiment: "checkout", Spec: testSpec(specJSON)}}},
		{At: timestamppb.New(t0.Add(5 * time.Second)), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "q-1", Groups: &murphyv1.Groups{Control: []string{"a"}, Experiment: []string{"b"}, Seed: 1}}}},
	} {
		if err := f.ApplyCommand(uint64(i+1), c); err != nil {
			t.Fatal(err)
		}
	}
	v := BuildRunView(f.Run("q-1"), nil, nil, t0.Add(8*time.Second))
	var whats []string
	for _, e := range v.Timeline {
		whats = append(whats, e.What+": "+e.Detail)
	}
	got := strings.Join(whats, "\n")
	if !strings.Contains(got, "queued: waited 5.0 s to start") || !strings.Contains(got, "submitted: by alice\n") {
		t.Errorf("timeline:\n%s", got)
	}
}

// testSpec reads a spec fixture written in the contract's JSON form (only the fields the
// pages read), as the cluster would have committed it.
func testSpec(js string) *spec.Experiment {
	sp := &spec.Experiment{}
	if err := protojson.Unmarshal([]byte(js), sp); err != nil {
		panic(fmt.Sprintf("spec fixture %s: %v", js, err))
	}
	return sp
}
