package worker

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// twoPods serves HTTP on 127.0.0.2 and 127.0.0.3 at one port, standing in for two pods
// of a workload: the first answers 200, the second 500. It returns the port.
func twoPods(t *testing.T) string {
	t.Helper()
	var ls []net.Listener
	eventually(t, "one free port on 127.0.0.2 and 127.0.0.3", func() bool {
		a, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(a.Addr().String())
		b, err := net.Listen("tcp", "127.0.0.3:"+port)
		if err != nil {
			a.Close()
			return false
		}
		ls = []net.Listener{a, b}
		return true
	})
	for i, code := range []int{200, 500} {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })}
		go srv.Serve(ls[i])
		t.Cleanup(func() { srv.Close() })
	}
	_, port, _ := net.SplitHostPort(ls[0].Addr().String())
	return port
}

func startUnits(run, port string, units ...*murphyv1.Target) *murphyv1.ConnectResponse {
	every := durationpb.New(20 * time.Millisecond)
	return &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_StartProbes{StartProbes: &murphyv1.StartProbes{
		RunId: run, Until: timestamppb.New(time.Now().Add(time.Minute)), Units: units,
		Probes: []*murphyv1.Probe{
			{Metric: "ok", Measure: "success", Interval: every, Timeout: durationpb.New(2 * time.Second),
				Kind: &murphyv1.Probe_Http{Http: &murphyv1.HTTPProbe{Url: "http://{{target}}:" + port + "/healthz"}}},
			{Metric: "up", Measure: "success", Interval: every, Timeout: durationpb.New(2 * time.Second),
				Kind: &murphyv1.Probe_Tcp{Tcp: &murphyv1.TCPProbe{Address: "{{target}}:" + port}}},
			// No placeholder: the same thing probed for each unit, labelled with it.
			{Metric: "proxy", Measure: "success", Interval: every, Timeout: durationpb.New(2 * time.Second),
				Kind: &murphyv1.Probe_Http{Http: &murphyv1.HTTPProbe{Url: "http://{{proxy}}/"}}},
		}}}}
}

// unitSamples is what a coordinator received of one run, by unit and metric, in order.
func unitSamples(f *fakeCoord, run string) map[[2]string][]*murphyv1.Sample {
	out := map[[2]string][]*murphyv1.Sample{}
	for _, m := range f.received() {
		if s := m.GetSamples(); s != nil && s.RunId == run {
			k := [2]string{s.Unit, s.Metric}
			out[k] = append(out[k], s.Samples...)
		}
	}
	return out
}

// lastSeqs is the highest sequence number received per unit and metric.
func lastSeqs(f *fakeCoord, run string) map[[2]string]uint64 {
	out := map[[2]string]uint64{}
	for k, ss := range unitSamples(f, run) {
		for _, s := range ss {
			out[k] = max(out[k], s.Seq)
		}
	}
	return out
}

// checkNumbering fails if a unit's metric got a sequence number twice or skipped one: a
// unit probed twice over, or probes started again from 1, would show here.
func checkNumbering(t *testing.T, f *fakeCoord, run string) {
	t.Helper()
	for k, ss := range unitSamples(f, run) {
		seqs := make([]uint64, len(ss))
		for i, s := range ss {
			seqs[i] = s.Seq
		}
		slices.Sort(seqs)
		for i, q := range seqs {
			if q != uint64(i+1) {
				t.Fatalf("unit %q metric %s: sequence numbers %v, want 1..%d each once", k[0], k[1], seqs, len(seqs))
			}
		}
	}
}

// TestAgentProbesPerUnit: with units, each probe runs once per unit at the unit's
// address, and every sample names its unit; a repeated StartProbes replaces the units
// instead of adding to them; StopProbes stops them all.
func TestAgentProbesPerUnit(t *testing.T) {
	port := twoPods(t)
	f := startFake(t, "127.0.0.1:0")
	e := startAgent(t, []string{f.addr}, nil)
	web1 := &murphyv1.Target{Id: "pod/shop/web-1", Address: "127.0.0.2"}
	web2 := &murphyv1.Target{Id: "pod/shop/web-2", Address: "127.0.0.3"}
	f.push <- startUnits("r1", port, web1, web2)

	units := []string{web1.Id, web2.Id}
	metrics := []string{"ok", "up", "proxy"}
	enough := func(n int, units ...string) func() bool {
		return func() bool {
			got := unitSamples(f, "r1")
			for _, u := range units {
				for _, m := range metrics {
					if len(got[[2]string{u, m}]) < n {
						return false
					}
				}
			}
			return true
		}
	}
	eventually(t, "5 samples of each metric for each unit", enough(5, units...))
	got := unitSamples(f, "r1")
	for k := range got {
		if !slices.Contains(units, k[0]) {
			t.Fatalf("samples of unit %q, want only %v (the worker itself is not a unit here)", k[0], units)
		}
	}
	// web-2 answers 500: only its own http samples fail; both accept connections, and
	// the proxy (no placeholder) answers both units' probes.
	want := map[[2]string]float64{
		{web1.Id, "ok"}: 1, {web2.Id, "ok"}: 0,
		{web1.Id, "up"}: 1, {web2.Id, "up"}: 1,
		{web1.Id, "proxy"}: 1, {web2.Id, "proxy"}: 1,
	}
	for k, v := range want {
		for _, s := range got[k] {
			if s.Value != v || s.Ok != (v == 1) {
				t.Fatalf("unit %s metric %s: sample %d value %v ok %v, want %v", k[0], k[1], s.Seq, s.Value, s.Ok, v)
			}
		}
	}

	// Sent again, as after a reconnect: nothing doubles.
	f.push <- startUnits("r1", port, web2, web1)
	before := lastSeqs(f, "r1")
	eventually(t, "10 more samples for each unit", func() bool {
		now := lastSeqs(f, "r1")
		for k, n := range before {
			if now[k] < n+10 {
				return false
			}
		}
		return true
	})
	checkNumbering(t, f, "r1")

	// Replaced: web-2 is gone, web-1 moved to web-2's address, and web-3 has no IP.
	web1moved := &murphyv1.Target{Id: web1.Id, Address: "127.0.0.3"}
	web3 := &murphyv1.Target{Id: "pod/shop/web-3"}
	moved := lastSeqs(f, "r1")[[2]string{web1.Id, "ok"}]
	f.push <- startUnits("r1", port, web1moved, web3)
	eventually(t, "web-1's probes failing at its new address", func() bool {
		ss := unitSamples(f, "r1")[[2]string{web1.Id, "ok"}]
		return len(ss) > 0 && slices.ContainsFunc(ss, func(s *murphyv1.Sample) bool { return s.Seq > moved+3 && !s.Ok })
	})
	eventually(t, "5 samples of each metric for web-3", enough(5, web3.Id))
	for _, m := range []string{"ok", "up"} {
		for _, s := range unitSamples(f, "r1")[[2]string{web3.Id, m}] {
			if s.Ok || s.Value != 0 {
				t.Fatalf("web-3, which has no address, metric %s: sample %d ok %v value %v, want failed", m, s.Seq, s.Ok, s.Value)
			}
		}
	}
	settled(t, f, "r1", web2.Id)
	checkNumbering(t, f, "r1")

	f.push <- &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_StopProbes{StopProbes: &murphyv1.StopProbes{RunId: "r1"}}}
	eventually(t, "the run's buffers to be dropped", func() bool {
		e.agent.mu.Lock()
		defer e.agent.mu.Unlock()
		return len(e.agent.runs) == 0
	})
	settled(t, f, "r1", web1.Id, web3.Id)
}

// settled waits until no new samples of the units arrive over several flushes.
func settled(t *testing.T, f *fakeCoord, run string, units ...string) {
	t.Helper()
	count := func() string {
		last := lastSeqs(f, run)
		out := ""
		for _, u := range units {
			for _, m := range []string{"ok", "up", "proxy"} {
				out += fmt.Sprintf("%s/%s:%d ", u, m, last[[2]string{u, m}])
			}
		}
		return out
	}
	prev := count()
	eventually(t, fmt.Sprintf("probes of %v to stop", units), func() bool {
		time.Sleep(5 * SampleFlushInterval)
		cur := count()
		defer func() { prev = cur }()
		return cur == prev
	})
}

// TestAgentHaltStopsEveryUnit: a halt stops the probes of every unit of the run, and the
// StartProbes a new leader sends again afterwards does not start them again.
func TestAgentHaltStopsEveryUnit(t *testing.T) {
	port := twoPods(t)
	f := startFake(t, "127.0.0.1:0")
	startAgent(t, []string{f.addr}, nil)
	web1 := &murphyv1.Target{Id: "pod/shop/web-1", Address: "127.0.0.2"}
	web2 := &murphyv1.Target{Id: "pod/shop/web-2", Address: "127.0.0.3"}
	f.push <- startUnits("r1", port, web1, web2)
	eventually(t, "samples of both units", func() bool {
		last := lastSeqs(f, "r1")
		return last[[2]string{web1.Id, "up"}] >= 3 && last[[2]string{web2.Id, "up"}] >= 3
	})
	f.push <- &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Halt{Halt: &murphyv1.HaltOrder{RunId: "r1", Reason: "guardrail"}}}
	f.await(t, "halt ack", func(m *murphyv1.ConnectRequest) bool { return m.GetHaltAck() != nil })
	settled(t, f, "r1", web1.Id, web2.Id)
	before := lastSeqs(f, "r1")
	f.push <- startUnits("r1", port, web1, web2)
	time.Sleep(10 * SampleFlushInterval)
	if after := lastSeqs(f, "r1"); !maps.Equal(after, before) {
		t.Fatalf("probes ran again after the halt: last sequence numbers %v, then %v", before, after)
	}
	checkNumbering(t, f, "r1")
}
