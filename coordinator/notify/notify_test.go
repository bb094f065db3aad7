package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)

func ts(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(t0.Add(d)) }

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receiver is a local webhook endpoint that records what it is sent and answers with the
// statuses queued in fail, then 200.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
	fail []int
}

type request struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, fail ...int) *receiver {
	r := &receiver{fail: fail}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, request{header: req.Header.Clone(), body: b})
		status := http.StatusNoContent
		if len(r.fail) > 0 {
			status, r.fail = r.fail[0], r.fail[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.reqs...)
}

// events returns the ids of the requests received, in order.
func (r *receiver) events() []string {
	var out []string
	for _, q := range r.got() {
		out = append(out, q.header.Get(HeaderEventID))
	}
	return out
}

// source is a Source over a map the test edits.
type source struct {
	mu   sync.Mutex
	runs map[string]*murphyv1.Run
}

func (s *source) Run(id string) *murphyv1.Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[id]
}

func (s *source) Runs() []*murphyv1.Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*murphyv1.Run
	for _, r := range s.runs {
		out = append(out, r)
	}
	return out
}

func (s *source) set(r *murphyv1.Run) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runs == nil {
		s.runs = map[string]*murphyv1.Run{}
	}
	s.runs[r.Id] = r
}

func newNotifier(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = 5*time.Millisecond, 20*time.Millisecond
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// scrape returns reg's text exposition.
func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestEvents(t *testing.T) {
	base := func() *murphyv1.Run {
		return &murphyv1.Run{Id: "r1", Experiment: "e", CreatedAt: ts(0), Phase: murphyv1.RunPhase_RUN_PHASE_INJECTING}
	}
	halted := base()
	halted.Phase, halted.EndedAt = murphyv1.RunPhase_RUN_PHASE_HALTED, ts(time.Minute)
	halted.Halt = &murphyv1.HaltRecord{Reason: "error rate", By: "monitor", At: ts(time.Minute)}
	done := base()
	done.Phase, done.EndedAt = murphyv1.RunPhase_RUN_PHASE_COMPLETED, ts(2*time.Minute)
	done.Verdict = &murphyv1.Verdict{Outcome: murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD, DecidedAt: ts(119 * time.Second)}
	failed := base()
	failed.Phase, failed.EndedAt, failed.Error = murphyv1.RunPhase_RUN_PHASE_FAILED, ts(3*time.Minute), "no workers"
	for _, c := range []struct {
		name string
		run  *murphyv1.Run
		want []string
		at   time.Duration
	}{
		{"running", base(), []string{"r1/submitted"}, 0},
		{"halted", halted, []string{"r1/submitted", "r1/halted"}, time.Minute},
		{"verdict", done, []string{"r1/submitted", "r1/verdict"}, 2 * time.Minute},
		{"failed", failed, []string{"r1/submitted", "r1/failed"}, 3 * time.Minute},
		{"nil", nil, nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			evs := Events(c.run)
			var ids []string
			for _, e := range evs {
				ids = append(ids, e.ID)
			}
			if strings.Join(ids, ",") != strings.Join(c.want, ",") {
				t.Fatalf("events %v, want %v", ids, c.want)
			}
			if len(evs) > 0 && !evs[len(evs)-1].At.Equal(t0.Add(c.at)) {
				t.Errorf("last event at %s, want %s", evs[len(evs)-1].At, t0.Add(c.at))
			}
		})
	}
}

// TestDeliverySignedRetriedRecorded: a receiver that fails twice with 503 gets the same
// signed body three times, and the delivery is recorded and counted once.
func TestDeliverySignedRetriedRecorded(t *testing.T) {
	rcv := newReceiver(t, 503, 503)
	reg := prometheus.NewRegistry()
	secret := []byte("s3cret")
	n := newNotifier(t, Config{URLs: []string{rcv.URL + "/hook/T0KEN"}, Secret: secret, Registerer: reg})
	src := &source{}
	n.Lead(src, t0)
	src.set(&murphyv1.Run{Id: "r1", Experiment: "latency", CreatedAt: ts(time.Second), SubmittedBy: "alice",
		Phase: murphyv1.RunPhase_RUN_PHASE_HALTED, Halt: &murphyv1.HaltRecord{
			Reason: "guardrail error_rate above 0.05 for 2s", By: "monitor", At: ts(time.Minute),
			Guardrail: "error_rate", Metric: "error_rate", Values: []float64{0.2, 0.3}, Threshold: 0.05}})
	n.Changed("r1", false)
	eventually(t, "both events delivered", func() bool {
		ds := n.Deliveries()
		return len(ds) == 2
	})
	reqs := rcv.got()
	if len(reqs) != 4 { // submitted: 503, 503, 204; halted: 204
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	for i, q := range reqs {
		if !Verify(secret, q.body, q.header.Get(HeaderSignature)) {
			t.Errorf("request %d: signature %q does not verify", i, q.header.Get(HeaderSignature))
		}
		if Verify([]byte("other"), q.body, q.header.Get(HeaderSignature)) {
			t.Errorf("request %d verifies under another secret", i)
		}
	}
	if string(reqs[0].body) != string(reqs[2].body) || reqs[2].header.Get(HeaderAttempt) != "3" {
		t.Errorf("a retry changed the body or did not count its attempt: %q", reqs[2].header.Get(HeaderAttempt))
	}
	var b struct {
		ID, Type string
		Run      struct {
			ID          string `json:"id"`
			SubmittedBy string `json:"submitted_by"`
		}
		Halt struct {
			Reason    string
			Guardrail string
			Values    []float64
			Threshold float64
		}
	}
	if err := json.Unmarshal(reqs[3].body, &b); err != nil {
		t.Fatal(err)
	}
	if b.ID != "r1/halted" || b.Type != "run.halted" || b.Run.ID != "r1" || b.Run.SubmittedBy != "alice" ||
		b.Halt.Guardrail != "error_rate" || len(b.Halt.Values) != 2 || b.Halt.Threshold != 0.05 {
		t.Errorf("halted body lacks its evidence: %s", reqs[3].body)
	}
	ds := n.Deliveries()
	if d := ds[0]; d.EventID != "r1/submitted" || d.Result != "delivered" || d.Attempts != 3 || d.Status != 204 ||
		d.Endpoint != rcv.URL || strings.Contains(d.Endpoint, "T0KEN") {
		t.Errorf("delivery record %+v", d)
	}
	text := scrape(t, reg)
	for _, want := range []string{
		`murphy_webhook_deliveries_total{endpoint="` + rcv.URL + `",result="delivered"} 2`,
		`murphy_webhook_attempts_total{endpoint="` + rcv.URL + `",outcome="error"} 2`,
		`murphy_webhook_events_total{kind="run.halted"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
}

// TestRefusedIsNotRetried: a 400 cannot be fixed by sending the same body again.
func TestRefusedIsNotRetried(t *testing.T) {
	rcv := newReceiver(t, 400)
	n := newNotifier(t, Config{URLs: []string{rcv.URL}, Attempts: 5})
	src := &source{}
	src.set(&murphyv1.Run{Id: "r1", CreatedAt: ts(time.Second)})
	n.Lead(src, t0)
	eventually(t, "the delivery to finish", func() bool { return len(n.Deliveries()) == 1 })
	if d := n.Deliveries()[0]; d.Result != "failed" || d.Attempts != 1 || d.Status != 400 {
		t.Fatalf("delivery %+v, want failed after 1 attempt", d)
	}
	if len(rcv.got()) != 1 {
		t.Fatalf("%d requests, want 1", len(rcv.got()))
	}
}

// TestLeaderSendsEachEventOnce follows the DESIGN rule: only while leading, each event
// once per term, and a new term does not resend what was committed before it.
func TestLeaderSendsEachEventOnce(t *testing.T) {
	rcv := newReceiver(t)
	n := newNotifier(t, Config{URLs: []string{rcv.URL}})
	src := &source{}
	run := &murphyv1.Run{Id: "old", CreatedAt: ts(0), Phase: murphyv1.RunPhase_RUN_PHASE_INJECTING}
	src.set(run)
	n.Changed("old", false) // a follower: nothing
	won := t0.Add(time.Hour)
	n.Lead(src, won) // "old" was submitted under the previous leader

	src.set(&murphyv1.Run{Id: "new", CreatedAt: timestamppb.New(won.Add(time.Second))})
	n.Changed("new", false)
	eventually(t, "new/submitted", func() bool { return len(rcv.got()) == 1 })
	// The old run halts under this leader: its halt is this leader's event.
	halted := &murphyv1.Run{Id: "old", CreatedAt: ts(0), Phase: murphyv1.RunPhase_RUN_PHASE_HALTED,
		Halt: &murphyv1.HaltRecord{Reason: "operator", By: "alice", At: timestamppb.New(won.Add(2 * time.Second))}}
	src.set(halted)
	n.Changed("old", false)
	n.Changed("", true) // a cluster-wide change rescans everything
	n.Changed("new", false)
	eventually(t, "old/halted", func() bool { return len(rcv.got()) == 2 })

	// Leadership moves away and back: the second term resends nothing of the first.
	n.Follow()
	src.set(&murphyv1.Run{Id: "while-following", CreatedAt: timestamppb.New(won.Add(3 * time.Second))})
	n.Changed("while-following", false)
	n.Lead(src, won.Add(time.Minute))
	src.set(&murphyv1.Run{Id: "second-term", CreatedAt: timestamppb.New(won.Add(time.Minute + time.Second))})
	n.Changed("second-term", false)
	eventually(t, "second-term/submitted", func() bool { return len(rcv.got()) == 3 })
	time.Sleep(50 * time.Millisecond) // a resend would be here by now
	if got, want := strings.Join(rcv.events(), ","), "new/submitted,old/halted,second-term/submitted"; got != want {
		t.Fatalf("events sent %s, want %s", got, want)
	}
}

func TestSlackFormat(t *testing.T) {
	rcv := newReceiver(t)
	n := newNotifier(t, Config{URLs: []string{rcv.URL}, Format: FormatSlack})
	src := &source{}
	src.set(&murphyv1.Run{Id: "r1", Experiment: "checkout-latency", CreatedAt: ts(time.Second), Phase: murphyv1.RunPhase_RUN_PHASE_COMPLETED,
		EndedAt: ts(time.Minute), Verdict: &murphyv1.Verdict{Outcome: murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED, Reason: "p99 rose by 40ms"}})
	n.Lead(src, t0)
	eventually(t, "two messages", func() bool { return len(rcv.got()) == 2 })
	var msg map[string]string
	if err := json.Unmarshal(rcv.got()[1].body, &msg); err != nil {
		t.Fatal(err)
	}
	if len(msg) != 1 || !strings.Contains(msg["text"], "refuted") || !strings.Contains(msg["text"], "p99 rose by 40ms") ||
		!strings.Contains(msg["text"], "checkout-latency") {
		t.Fatalf("slack message %v", msg)
	}
}

func TestConfigErrors(t *testing.T) {
	if n, err := New(Config{}); n != nil || err != nil {
		t.Fatalf("no URLs: %v, %v; want a nil notifier", n, err)
	}
	var nilN *Notifier
	nilN.Changed("r", false) // a disabled notifier is callable
	nilN.Lead(&source{}, t0)
	nilN.Close()
	for _, c := range []Config{
		{URLs: []string{"ftp://example.com/x"}},
		{URLs: []string{"not a url"}},
		{URLs: []string{"https://example.com"}, Format: "xml"},
	} {
		if n, err := New(c); err == nil {
			n.Close()
			t.Errorf("New(%+v) accepted", c)
		}
	}
	_, err := New(Config{URLs: []string{"https://hooks.example.com:x/services/T0KEN"}})
	if err == nil || strings.Contains(err.Error(), "T0KEN") {
		t.Errorf("a bad URL's error shows its path: %v", err)
	}
}
