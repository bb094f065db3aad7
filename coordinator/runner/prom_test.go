package runner

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/promsrc"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// fakeProm answers Prometheus's query API with the vector answer gives for each query,
// and records the queries in order.
type fakeProm struct {
	mu      sync.Mutex
	queries []string
	answer  func(query string) string // the "result" array
}

func (f *fakeProm) start(t *testing.T) *promsrc.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.FormValue("query")
		f.mu.Lock()
		f.queries = append(f.queries, q)
		f.mu.Unlock()
		kind := "vector"
		if strings.HasSuffix(r.URL.Path, "query_range") {
			kind = "matrix"
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":%q,"result":[%s]}}`, kind, f.answer(q))
	}))
	t.Cleanup(srv.Close)
	c, err := promsrc.New(promsrc.Config{URL: srv.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// vec is one vector series at t=100 s with the given labels (name=value pairs).
func vec(v float64, labels ...string) string {
	var kv []string
	for i := 0; i+1 < len(labels); i += 2 {
		kv = append(kv, fmt.Sprintf("%q:%q", labels[i], labels[i+1]))
	}
	return fmt.Sprintf(`{"metric":{%s},"value":[100,"%g"]}`, strings.Join(kv, ","), v)
}

// TestPromFeedAttribution: each result series goes to the member its instance label
// names; series of strangers and ambiguous instances go nowhere; a query whose result
// has no instance label falls back to one query and one series per group, for good.
func TestPromFeedAttribution(t *testing.T) {
	run := &murphyv1.Run{Id: "r", Groups: &murphyv1.Groups{Control: []string{"c1", "c2"}, Experiment: []string{"e1", "e2"}}}
	hostOf := map[string]string{"c1": "h-c1:9100", "c2": "h-c2:9100", "e1": "h-e1:9100", "e2": "h-e2:9100"}
	perTarget := `sum by (instance) (rate(x{instance=~"{{.Instances}}"}[30s]))`
	tests := []struct {
		name  string
		query string
		hosts map[string]string // worker -> instance, overriding hostOf
		// answer maps a substring of the rendered query to the result it gets.
		answer  map[string]string
		fetches int
		want    map[string][]float64 // source -> values over all fetches
		grouped bool
		queries int // queries sent over all fetches
	}{
		{
			name: "one series per instance", query: perTarget,
			answer: map[string]string{"": strings.Join([]string{
				vec(1, "instance", "h-c1:9100"), vec(2, "instance", "h-c2:9100"),
				vec(3, "instance", "h-e1:9100"), vec(4, "instance", "h-e2:9100"),
			}, ",")},
			fetches: 2,
			want:    map[string][]float64{"c1": {1, 1}, "c2": {2, 2}, "e1": {3, 3}, "e2": {4, 4}},
			queries: 2,
		},
		{
			name: "strangers and unlabelled series beside labelled ones are dropped", query: perTarget,
			answer: map[string]string{"": strings.Join([]string{
				vec(1, "instance", "h-c1:9100"), vec(9, "instance", "elsewhere:9100"), vec(8),
			}, ",")},
			fetches: 1,
			want:    map[string][]float64{"c1": {1}},
			queries: 1,
		},
		{
			name: "a target without a series has no sample", query: perTarget,
			answer:  map[string]string{"": vec(3, "instance", "h-e1:9100")},
			fetches: 1, want: map[string][]float64{"e1": {3}}, queries: 1,
		},
		{
			name: "an empty result is no sample and no fallback", query: perTarget,
			answer: map[string]string{"": ""}, fetches: 2, want: map[string][]float64{}, queries: 2,
		},
		{
			name: "two members with one instance name get neither's series", query: perTarget,
			hosts:   map[string]string{"c2": "shared", "e2": "shared"},
			answer:  map[string]string{"": vec(1, "instance", "h-c1:9100") + "," + vec(5, "instance", "shared")},
			fetches: 1, want: map[string][]float64{"c1": {1}}, queries: 1,
		},
		{
			name: "a template with {{.Group}} is queried per group, and each group keeps its own", query: `x{group="{{.Group}}",instance=~"{{.Instances}}"}`,
			answer: map[string]string{
				`"control"`:    vec(1, "instance", "h-c1:9100") + "," + vec(7, "instance", "h-e1:9100"),
				`"experiment"`: vec(3, "instance", "h-e1:9100"),
			},
			fetches: 1, want: map[string][]float64{"c1": {1}, "e1": {3}}, queries: 2,
		},
		{
			name: "an aggregated result falls back to one series per group", query: `avg(x{instance=~"{{.Instances}}"})`,
			answer: map[string]string{
				`h-c1:9100|h-c2:9100|h-e1`: vec(5), // the first query, for every member
				`"h-c1:9100|h-c2:9100"`:    vec(1),
				`"h-e1:9100|h-e2:9100"`:    vec(3),
			},
			// The first fetch tries the member query, then asks each group; the second
			// goes straight to the groups.
			fetches: 2, grouped: true, queries: 5,
			want: map[string][]float64{"@control": {1, 1}, "@experiment": {3, 3}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fp := &fakeProm{answer: func(q string) string {
				// The longest matching key wins, so "" is the default.
				best, out := -1, ""
				for k, v := range tc.answer {
					if strings.Contains(strings.ReplaceAll(q, `\\.`, "."), k) && len(k) > best {
						best, out = len(k), v
					}
				}
				return out
			}}
			client := fp.start(t)
			feed := &promFeed{query: tc.query, groups: memberInstances(run, func(id string) string {
				if h, ok := tc.hosts[id]; ok {
					return h
				}
				return hostOf[id]
			})}
			got := map[string][]float64{}
			for range tc.fetches {
				pts, err := feed.fetch(func(q string) ([]promsrc.Series, error) {
					return client.Instant(context.Background(), q, time.Unix(100, 0))
				})
				if err != nil {
					t.Fatal(err)
				}
				for src, ps := range pts {
					for _, p := range ps {
						got[src] = append(got[src], p.Value)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("samples by source %v, want %v", got, tc.want)
			}
			if feed.grouped != tc.grouped {
				t.Errorf("grouped = %v, want %v", feed.grouped, tc.grouped)
			}
			if len(fp.queries) != tc.queries {
				t.Errorf("%d queries sent, want %d: %q", len(fp.queries), tc.queries, fp.queries)
			}
		})
	}
}

// TestPromFeedRange: a range query's matrix is attributed the same way, point by point.
func TestPromFeedRange(t *testing.T) {
	run := &murphyv1.Run{Id: "r", Groups: &murphyv1.Groups{Control: []string{"c1"}, Experiment: []string{"e1"}}}
	fp := &fakeProm{answer: func(string) string {
		return `{"metric":{"instance":"c1"},"values":[[1,"1"],[2,"1.5"]]},{"metric":{"instance":"e1"},"values":[[1,"3"]]}`
	}}
	client := fp.start(t)
	feed := &promFeed{query: `x{instance=~"{{.Instances}}"}`, groups: memberInstances(run, func(id string) string { return id })}
	got, err := feed.fetch(func(q string) ([]promsrc.Series, error) {
		return client.Range(context.Background(), q, time.Unix(1, 0), time.Unix(2, 0), time.Second)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got["c1"]) != 2 || got["c1"][1].Value != 1.5 || !got["c1"][1].At.Equal(time.Unix(2, 0)) || len(got["e1"]) != 1 || feed.grouped {
		t.Errorf("range attributed as %v (grouped %v)", got, feed.grouped)
	}
}

// TestJudgePrometheusPerTarget: a Prometheus metric whose samples are filed per worker
// is judged per target like a probe metric, with no pooling warning, even when its hosts
// differ in level; filed per group, it is pooled and says so.
func TestJudgePrometheusPerTarget(t *testing.T) {
	prom := &spec.Metric{
		Name:      "cpu",
		Source:    &spec.MetricSource{Prometheus: &spec.PrometheusSource{Query: `x{instance=~"{{.Instances}}"}`, Interval: durationpb.New(time.Second)}},
		Direction: spec.DirectionIncrease, Tolerance: &spec.Tolerance{Relative: f64p(0.10)},
	}
	sp := &spec.Experiment{Baseline: durationpb.New(60 * time.Second), Hypothesis: &spec.Hypothesis{Confidence: 0.95, Metrics: []*spec.Metric{prom}}}
	run := simRun(6, 60*time.Second)
	rng := rand.New(rand.NewPCG(5, 6))
	// Hosts differ by a factor up to 2; the experimental hosts double in the window.
	series := func(id string) []fleet.Point {
		level := 0.2 * (1 + rng.Float64())
		var pts []fleet.Point
		for i := -60; i < 60; i++ {
			v := level * math.Exp(0.05*rng.NormFloat64())
			if i >= 0 && id[0] == 'e' {
				v *= 2
			}
			pts = append(pts, fleet.Point{At: simT0.Add(time.Duration(i) * time.Second), Value: v, OK: true})
		}
		return pts
	}
	perWorker, perGroup := fleet.NewSamples(), fleet.NewSamples()
	for _, g := range []murphyv1.Group{murphyv1.Group_GROUP_CONTROL, murphyv1.Group_GROUP_EXPERIMENT} {
		ids := run.Groups.Control
		if g == murphyv1.Group_GROUP_EXPERIMENT {
			ids = run.Groups.Experiment
		}
		for _, id := range ids {
			pts := series(id)
			perWorker.AddPoints(run.Id, "cpu", id, pts)
			perGroup.AddPoints(run.Id, "cpu", PseudoSource(g), pts)
		}
	}
	for _, tc := range []struct {
		name    string
		samples *fleet.Samples
		unit    string
		targets int64
		warns   bool
	}{
		{"per worker", perWorker, "target", 6, false},
		{"per group", perGroup, "sample", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Judge(sp, run, tc.samples, simT0, simT0.Add(60*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			mv := v.Metrics[0]
			t.Logf("%s: %s", mv.Method, mv.Reason)
			if mv.Unit != tc.unit || mv.TargetsControl != tc.targets || mv.TargetsExperiment != tc.targets {
				t.Errorf("judged per %s with %d vs %d targets, want per %s with %d each", mv.Unit, mv.TargetsExperiment, mv.TargetsControl, tc.unit, tc.targets)
			}
			if mv.Outcome != murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED {
				t.Errorf("outcome %v, want deviated: the experimental hosts doubled", mv.Outcome)
			}
			warned := slices.ContainsFunc(mv.Warnings, func(w string) bool { return strings.Contains(w, "no instance label") })
			if warned != tc.warns {
				t.Errorf("pooling warning %v, want %v: %q", warned, tc.warns, mv.Warnings)
			}
		})
	}
}

// TestQueryWarnings: submission warns about a query that visibly aggregates the
// instances away, and not about one that keeps them.
func TestQueryWarnings(t *testing.T) {
	metric := func(name, q string) *spec.Metric {
		return &spec.Metric{Name: name, Source: &spec.MetricSource{Prometheus: &spec.PrometheusSource{Query: q}}}
	}
	sp := &spec.Experiment{Hypothesis: &spec.Hypothesis{Metrics: []*spec.Metric{
		metric("kept", `sum by (instance) (rate(x{instance=~"{{.Instances}}"}[30s]))`),
		metric("pooled", `sum(rate(x{instance=~"{{.Instances}}"}[30s]))`),
		probeMetric("latency", spec.MeasureLatency, spec.DirectionIncrease, &spec.Tolerance{Relative: f64p(0.1)}),
	}}}
	ws := SpecWarnings(sp, 6, 6)
	if len(ws) != 1 || !strings.HasPrefix(ws[0], "metric pooled: sum(...) without a by clause") {
		t.Errorf("warnings %q, want one about metric pooled", ws)
	}
}

// TestFutilityPrometheus: a Prometheus metric filed per target is planned like a probe
// metric before any fault; filed per group it has no targets to plan with.
func TestFutilityPrometheus(t *testing.T) {
	sp := &spec.Experiment{
		Baseline: durationpb.New(10 * time.Second),
		Hypothesis: &spec.Hypothesis{Confidence: 0.95, Metrics: []*spec.Metric{{
			Name:      "cpu",
			Source:    &spec.MetricSource{Prometheus: &spec.PrometheusSource{Query: `x{instance=~"{{.Instances}}"}`, Interval: durationpb.New(100 * time.Millisecond)}},
			Direction: spec.DirectionIncrease, Tolerance: &spec.Tolerance{Relative: f64p(0.02)},
		}}},
		Steps: []*spec.Step{{Fault: &murphyv1.FaultSpec{Kind: "http.delay", Duration: durationpb.New(10 * time.Second)}}},
	}
	run := simRun(2, 10*time.Second)
	run.Steps = nil
	rng := rand.New(rand.NewPCG(1, 2))
	noisy := func() []fleet.Point {
		var pts []fleet.Point
		for j := -100; j < 0; j++ {
			pts = append(pts, fleet.Point{At: simT0.Add(time.Duration(j) * 100 * time.Millisecond), Value: math.Exp(rng.NormFloat64()), OK: true})
		}
		return pts
	}
	perWorker, perGroup := fleet.NewSamples(), fleet.NewSamples()
	for _, id := range append(slices.Clone(run.Groups.Control), run.Groups.Experiment...) {
		perWorker.AddPoints(run.Id, "cpu", id, noisy())
	}
	perGroup.AddPoints(run.Id, "cpu", PseudoSource(murphyv1.Group_GROUP_CONTROL), noisy())
	perGroup.AddPoints(run.Id, "cpu", PseudoSource(murphyv1.Group_GROUP_EXPERIMENT), noisy())
	if v := Futility(sp, run, perWorker, simT0); v == nil || !v.BeforeFault {
		t.Errorf("per target: no verdict before the fault for 2 noisy hosts per group at a 2%% tolerance")
	}
	if v := Futility(sp, run, perGroup, simT0); v != nil {
		t.Errorf("per group: verdict before the fault %v, want none", v.Reason)
	}
}

// TestCTKToleranceOnGroupSeries: the Chaos Toolkit tolerance of a Prometheus metric whose
// query keeps no instance label (an imported chaosprometheus count) is checked on the
// groups' series, not reported as never sampled.
func TestCTKToleranceOnGroupSeries(t *testing.T) {
	m := &spec.Metric{
		Name:         "errors",
		Source:       &spec.MetricSource{Prometheus: &spec.PrometheusSource{Query: `count(x != 0) or vector(0)`, Interval: durationpb.New(time.Second)}},
		Direction:    spec.DirectionIncrease,
		Tolerance:    &spec.Tolerance{Absolute: f64p(0)},
		CtkTolerance: &spec.CTKTolerance{Text: "count 0", Values: []float64{0}},
	}
	sp := &spec.Experiment{Baseline: durationpb.New(10 * time.Second), Hypothesis: &spec.Hypothesis{Confidence: 0.95, Metrics: []*spec.Metric{m}}}
	run := simRun(2, 10*time.Second)
	samples := fleet.NewSamples()
	for _, g := range []murphyv1.Group{murphyv1.Group_GROUP_CONTROL, murphyv1.Group_GROUP_EXPERIMENT} {
		var pts []fleet.Point
		for i := -10; i < 10; i++ {
			v := 0.0
			if i >= 5 {
				v = 1 // the same global series in both groups: errors appear late in the window
			}
			pts = append(pts, fleet.Point{At: simT0.Add(time.Duration(i) * time.Second), Value: v, OK: true})
		}
		samples.AddPoints(run.Id, "errors", PseudoSource(g), pts)
	}
	v, err := Judge(sp, run, samples, simT0, simT0.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c := v.Metrics[0].CtkTolerance
	if c.BaselineMet != 20 || c.BaselineTotal != 20 || c.ExperimentMet != 5 || c.ExperimentTotal != 10 || c.ControlTotal != 10 || !c.MetBefore || c.MetAfter {
		t.Errorf("tolerance check %+v; want baseline 20 of 20, experiment 5 of 10, met before and not after", c)
	}
}
