package worker

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/murphy-chaos/murphy/internal/testenv"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func withHTTP(c *Config) { c.HTTPAddr = "127.0.0.1:0" }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// series returns the value of one series ("name" or `name{label="v"}`) in a text
// exposition, and whether it is there.
func series(text, name string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

func TestWorkerHTTPEndpoints(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	e := startAgent(t, []string{f.addr}, withHTTP)
	base := "http://" + e.agent.HTTPAddr()
	if e.agent.HTTPAddr() == "" {
		t.Fatal("HTTPAddr is empty with Config.HTTPAddr set")
	}
	eventually(t, "/readyz to answer 200", func() bool { code, _ := get(t, base+"/readyz"); return code == 200 })
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}

	f.push <- assign("a1", "r1", time.Minute, "http.abort", abort503)
	f.await(t, "a1 injected", isStatus("a1", murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	f.push <- &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_StartProbes{StartProbes: &murphyv1.StartProbes{
		RunId: "r1", Probes: []*murphyv1.Probe{{Metric: "ok", Measure: "success", Interval: durationpb.New(20 * time.Millisecond),
			Kind: &murphyv1.Probe_Http{Http: &murphyv1.HTTPProbe{Url: "http://{{proxy}}/"}}}}}}}
	// The probe goes through the worker's own proxy, where the abort is in force: its
	// samples are errors, and the proxy counts faulted requests.
	var text string
	eventually(t, "probe errors to be counted", func() bool {
		_, text = get(t, base+"/metrics")
		v, _ := series(text, `murphy_worker_probe_errors_total{kind="http"}`)
		return v >= 2
	})
	proxyLabel := `{proxy="127.0.0.1:0"}`
	for _, c := range []struct {
		series string
		check  func(float64) bool
		want   string
	}{
		{`murphy_worker_faults_active{kind="http.abort"}`, func(v float64) bool { return v == 1 }, "1"},
		{`murphy_worker_faults_active{kind="http.delay"}`, func(v float64) bool { return v == 0 }, "0"},
		{"murphy_worker_faults_past_deadline", func(v float64) bool { return v == 0 }, "0"},
		{`murphy_worker_injects_total{kind="http.abort"}`, func(v float64) bool { return v == 1 }, "1"},
		{"murphy_worker_journal_entries", func(v float64) bool { return v == 1 }, "1"},
		{"murphy_worker_lease_remaining_seconds", func(v float64) bool { return v > 0 && v <= 5 }, "in (0, 5]"},
		{`murphy_worker_capability{capability="http.abort"}`, func(v float64) bool { return v == 1 }, "1"},
		{`murphy_worker_probe_samples_total{kind="http"}`, func(v float64) bool { return v >= 2 }, ">= 2"},
		{`murphy_worker_probe_samples_total{kind="tcp"}`, func(v float64) bool { return v == 0 }, "0"},
		{"murphy_worker_proxy_requests_total" + proxyLabel, func(v float64) bool { return v >= 2 }, ">= 2"},
		{"murphy_worker_proxy_aborted_requests_total" + proxyLabel, func(v float64) bool { return v >= 2 }, ">= 2"},
		{"murphy_worker_connected", func(v float64) bool { return v == 1 }, "1"},
	} {
		v, ok := series(text, c.series)
		if !ok || !c.check(v) {
			t.Errorf("%s = %v (present %v), want %s", c.series, v, ok, c.want)
		}
	}

	f.push <- &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Halt{Halt: &murphyv1.HaltOrder{RunId: "r1", Reason: "test"}}}
	f.await(t, "a1 reverted by halt", isStatus("a1", murphyv1.FaultState_FAULT_STATE_REVERTED, murphyv1.RevertCause_REVERT_CAUSE_HALT))
	eventually(t, "the halt's revert to be counted", func() bool {
		_, text = get(t, base+"/metrics")
		v, _ := series(text, `murphy_worker_reverts_total{cause="halt"}`)
		return v == 1
	})
	for name, want := range map[string]float64{`murphy_worker_faults_active{kind="http.abort"}`: 0, "murphy_worker_journal_entries": 0} {
		if v, ok := series(text, name); !ok || v != want {
			t.Errorf("after the halt %s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	testenv.CheckMetrics(t, "the worker's /metrics", text)

	// A worker whose coordinator is gone is alive but not ready.
	f.srv.Stop()
	eventually(t, "/readyz to answer 503", func() bool { code, _ := get(t, base+"/readyz"); return code == 503 })
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz without a coordinator: %d %s", code, body)
	}
}

func TestWorkerHTTPDisabledAndTaken(t *testing.T) {
	e := startAgent(t, []string{"127.0.0.1:1"}, nil)
	if a := e.agent.HTTPAddr(); a != "" {
		t.Fatalf("HTTPAddr = %q without Config.HTTPAddr", a)
	}
	taken := startAgent(t, []string{"127.0.0.1:1"}, withHTTP).agent.HTTPAddr()
	reg := prometheus.NewRegistry()
	_, err := New(Config{ID: "w2", Coordinators: []string{"127.0.0.1:1"}, DataDir: t.TempDir(), HTTPAddr: taken,
		Registerer: reg, DockerHost: "unix:///nonexistent/murphy-test/docker.sock"})
	if err == nil || !strings.Contains(err.Error(), "listen for HTTP") {
		t.Fatalf("New on a taken HTTP address: %v", err)
	}
	// The registry is left as it was, so the caller may try again with it.
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 0 {
		t.Fatalf("a failed New left %d metric families registered (%v)", len(mfs), err)
	}
}
