package probe

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type collector struct {
	mu sync.Mutex
	by map[string][]*murphyv1.Sample
}

func (c *collector) sink(metric string, s *murphyv1.Sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.by[metric] = append(c.by[metric], s)
}

func (c *collector) get(metric string) []*murphyv1.Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*murphyv1.Sample(nil), c.by[metric]...)
}

func httpProbe(metric, measure, url string, expect ...int32) *murphyv1.Probe {
	return &murphyv1.Probe{
		// The timeout is the interval unless set: 20 ms is too little for a loaded machine
		// (a bare-machine run saw a probe of a local server time out).
		Metric: metric, Measure: measure, Interval: durationpb.New(20 * time.Millisecond), Timeout: durationpb.New(2 * time.Second),
		Kind: &murphyv1.Probe_Http{Http: &murphyv1.HTTPProbe{Url: url, ExpectStatus: expect}},
	}
}

func bodyProbe(measure, url, match string) *murphyv1.Probe {
	p := httpProbe("body", measure, url)
	p.GetHttp().BodyMatch = match
	return p
}

func timeoutProbe(p *murphyv1.Probe, d time.Duration) *murphyv1.Probe {
	p.Timeout = durationpb.New(d)
	p.Interval = durationpb.New(d)
	return p
}

func TestProbeMeasures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fail":
			w.WriteHeader(503)
		case "/json":
			fmt.Fprint(w, `{"status": "ok"}`)
		case "/big":
			// The marker sits past what body_match reads.
			fmt.Fprint(w, strings.Repeat("x", maxMatch)+"ok")
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
	}))
	defer srv.Close()
	proxyAddr := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name   string
		probe  *murphyv1.Probe
		value  func(float64) bool
		wantOK bool
	}{
		{"latency ok", httpProbe("lat", "latency", srv.URL+"/"), func(v float64) bool { return v > 0 && v < 1 }, true},
		{"status ok", httpProbe("st", "status", srv.URL+"/"), func(v float64) bool { return v == 200 }, true},
		{"status 503", httpProbe("st", "status", srv.URL+"/fail"), func(v float64) bool { return v == 503 }, false},
		{"success 503", httpProbe("ok", "success", srv.URL+"/fail"), func(v float64) bool { return v == 0 }, false},
		{"success expected 503", httpProbe("ok", "success", srv.URL+"/fail", 503), func(v float64) bool { return v == 1 }, true},
		{"through proxy placeholder", httpProbe("ok", "success", "http://{{proxy}}/"), func(v float64) bool { return v == 1 }, true},
		{"connection refused", httpProbe("st", "status", "http://127.0.0.1:1/"), func(v float64) bool { return v == 0 }, false},
		{"status class ok", httpProbe("cl", "status_class", srv.URL+"/"), func(v float64) bool { return v == 2 }, true},
		{"status class 503", httpProbe("cl", "status_class", srv.URL+"/fail"), func(v float64) bool { return v == 5 }, false},
		{"status class refused", httpProbe("cl", "status_class", "http://127.0.0.1:1/"), func(v float64) bool { return v == 0 }, false},
		{"body matches", bodyProbe("success", srv.URL+"/json", `"status":\s*"ok"`), func(v float64) bool { return v == 1 }, true},
		{"body does not match", bodyProbe("success", srv.URL+"/json", `"status":\s*"down"`), func(v float64) bool { return v == 0 }, false},
		{"body mismatch keeps status", bodyProbe("status", srv.URL+"/json", `down`), func(v float64) bool { return v == 200 }, false},
		{"body match is bounded", bodyProbe("success", srv.URL+"/big", `ok`), func(v float64) bool { return v == 0 }, false},
		{"latency on timeout", timeoutProbe(httpProbe("lat", "latency", srv.URL+"/slow"), 50*time.Millisecond),
			func(v float64) bool { return v >= 0.05 && v < 1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{by: map[string][]*murphyv1.Sample{}}
			set, err := Start([]*murphyv1.Probe{tt.probe}, Options{Proxy: proxyAddr}, c.sink)
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "three samples", func() bool { return len(c.get(tt.probe.Metric)) >= 3 })
			set.Stop()
			set.Stop()
			for i, s := range c.get(tt.probe.Metric) {
				if s.Seq != uint64(i+1) {
					t.Fatalf("sample %d has seq %d", i, s.Seq)
				}
				if !tt.value(s.Value) || s.Ok != tt.wantOK {
					t.Fatalf("sample %d: value %v ok %v", i, s.Value, s.Ok)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		probes []*murphyv1.Probe
		proxy  string
		want   string
	}{
		{"none", nil, "", "no probes"},
		{"dup metric", []*murphyv1.Probe{httpProbe("a", "", "http://x/"), httpProbe("a", "", "http://y/")}, "", "metric named twice"},
		{"bad measure", []*murphyv1.Probe{httpProbe("a", "p99", "http://x/")}, "", `measure "p99" does not apply to a http probe (known: latency, status, status_class, success)`},
		{"placeholder without proxy", []*murphyv1.Probe{httpProbe("a", "", "http://{{proxy}}/")}, "", "runs no proxy"},
		{"bad url", []*murphyv1.Probe{httpProbe("a", "", "ftp://x/")}, "", "not an http(s) URL"},
		{"no kind", []*murphyv1.Probe{{Metric: "a"}}, "", "no probe kind; set http, tcp, grpc, command or kubernetes"},
		{"fast interval", []*murphyv1.Probe{{Metric: "a", Interval: durationpb.New(time.Millisecond), Kind: &murphyv1.Probe_Http{Http: &murphyv1.HTTPProbe{Url: "http://x/"}}}}, "", "below"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.probes, Options{Proxy: tt.proxy})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want %q", err, tt.want)
			}
		})
	}
}

func sample(seq uint64) *murphyv1.Sample {
	return &murphyv1.Sample{Seq: seq, At: timestamppb.Now(), Value: float64(seq), Ok: true}
}

func TestBufferBatchesAndReplays(t *testing.T) {
	b := NewBuffer("run-1", 100)
	for i := range 25 {
		b.Add("lat", sample(uint64(i+1)))
	}
	b.Add("err", sample(1))
	got := b.Next(10)
	if len(got) != 4 || got[0].Metric != "err" || len(got[1].Samples) != 10 || len(got[3].Samples) != 5 || got[3].RunId != "run-1" {
		t.Fatalf("batches %v", got)
	}
	if b.Unsent() != 0 || len(b.Next(10)) != 0 {
		t.Fatal("samples sent twice on one stream")
	}
	b.Rewind()
	if b.Unsent() != 26 {
		t.Fatalf("unsent after rewind %d", b.Unsent())
	}
}

func TestBufferBound(t *testing.T) {
	b := NewBuffer("r", 32)
	for i := range 32 {
		b.Add("m", sample(uint64(i+1)))
	}
	if b.Add("m", sample(33)) || b.Dropped() != 1 {
		t.Fatal("a full buffer with nothing sent must refuse new samples")
	}
	b.Next(100)
	if !b.Add("m", sample(33)) {
		t.Fatal("a full buffer must evict sent samples")
	}
	if b.Len() > 32 {
		t.Fatalf("len %d over limit", b.Len())
	}
	b.Rewind()
	out := b.Next(100)
	s := out[0].Samples
	if s[len(s)-1].Seq != 33 || s[0].Seq != 33-uint64(len(s))+1 {
		t.Fatalf("buffer holds seqs %d..%d, want a suffix ending at 33", s[0].Seq, s[len(s)-1].Seq)
	}
}
