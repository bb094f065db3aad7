package probe

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// samples starts one probe, waits for n samples, stops it and checks the sequence
// numbers.
func samples(t *testing.T, p *murphyv1.Probe, opts Options, n int) []*murphyv1.Sample {
	t.Helper()
	c := &collector{by: map[string][]*murphyv1.Sample{}}
	set, err := Start([]*murphyv1.Probe{p}, opts, c.sink)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, strconv.Itoa(n)+" samples", func() bool { return len(c.get(p.Metric)) >= n })
	set.Stop()
	got := c.get(p.Metric)
	for i, s := range got {
		if s.Seq != uint64(i+1) {
			t.Fatalf("sample %d has seq %d", i, s.Seq)
		}
	}
	return got
}

// checkAll fails unless every sample has ok and a value want accepts.
func checkAll(t *testing.T, got []*murphyv1.Sample, wantOK bool, want func(float64) bool) {
	t.Helper()
	for i, s := range got {
		if s.Ok != wantOK || !want(s.Value) {
			t.Fatalf("sample %d: value %v ok %v; want ok %v", i, s.Value, s.Ok, wantOK)
		}
	}
}

func eq(x float64) func(float64) bool { return func(v float64) bool { return v == x } }

func fast(v float64) bool { return v > 0 && v < 1 }

func probeOf(measure string, kind any) *murphyv1.Probe {
	p := &murphyv1.Probe{Metric: "m", Measure: measure, Interval: durationpb.New(20 * time.Millisecond), Timeout: durationpb.New(2 * time.Second)}
	switch k := kind.(type) {
	case *murphyv1.TCPProbe:
		p.Kind = &murphyv1.Probe_Tcp{Tcp: k}
	case *murphyv1.GRPCHealthProbe:
		p.Kind = &murphyv1.Probe_Grpc{Grpc: k}
	case *murphyv1.CommandProbe:
		p.Kind = &murphyv1.Probe_Command{Command: k}
	}
	return p
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer func() { l.Close(); <-done }()
	up, down := l.Addr().String(), closedPort(t)

	tests := []struct {
		name   string
		probe  *murphyv1.Probe
		wantOK bool
		value  func(float64) bool
	}{
		{"latency", probeOf("latency", &murphyv1.TCPProbe{Address: up}), true, fast},
		{"success", probeOf("success", &murphyv1.TCPProbe{Address: up}), true, eq(1)},
		{"default measure is latency", probeOf("", &murphyv1.TCPProbe{Address: up}), true, fast},
		{"through proxy placeholder", probeOf("success", &murphyv1.TCPProbe{Address: ProxyPlaceholder}), true, eq(1)},
		{"refused success", probeOf("success", &murphyv1.TCPProbe{Address: down}), false, eq(0)},
		{"refused latency", probeOf("latency", &murphyv1.TCPProbe{Address: down}), false, fast},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAll(t, samples(t, tt.probe, Options{Proxy: up}, 3), tt.wantOK, tt.value)
		})
	}
}

// healthServer serves grpc.health.v1 on addr ("127.0.0.1:0" for any port).
func healthServer(t *testing.T, addr string) (*grpc.Server, *health.Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(l)
	return srv, hs, l.Addr().String()
}

func TestGRPCHealthProbe(t *testing.T) {
	srv, hs, addr := healthServer(t, "127.0.0.1:0")
	defer srv.Stop()
	hs.SetServingStatus("checkout.v1.Checkout", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("payments.v1.Payments", healthpb.HealthCheckResponse_NOT_SERVING)
	down := closedPort(t)

	tests := []struct {
		name   string
		probe  *murphyv1.Probe
		wantOK bool
		value  func(float64) bool
	}{
		{"server serving", probeOf("success", &murphyv1.GRPCHealthProbe{Address: addr}), true, eq(1)},
		{"service serving", probeOf("success", &murphyv1.GRPCHealthProbe{Address: addr, Service: "checkout.v1.Checkout"}), true, eq(1)},
		{"latency", probeOf("latency", &murphyv1.GRPCHealthProbe{Address: addr}), true, fast},
		{"through proxy placeholder", probeOf("success", &murphyv1.GRPCHealthProbe{Address: ProxyPlaceholder}), true, eq(1)},
		{"not serving", probeOf("success", &murphyv1.GRPCHealthProbe{Address: addr, Service: "payments.v1.Payments"}), false, eq(0)},
		{"unknown service", probeOf("success", &murphyv1.GRPCHealthProbe{Address: addr, Service: "nope"}), false, eq(0)},
		{"no server", probeOf("success", &murphyv1.GRPCHealthProbe{Address: down}), false, eq(0)},
		{"no server latency", probeOf("latency", &murphyv1.GRPCHealthProbe{Address: down}), false, fast},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAll(t, samples(t, tt.probe, Options{Proxy: addr}, 3), tt.wantOK, tt.value)
		})
	}
}

// TestGRPCHealthProbeRecovers checks that the probe's kept connection notices a server
// that goes away and one that comes back, within a few intervals.
func TestGRPCHealthProbeRecovers(t *testing.T) {
	srv, _, addr := healthServer(t, "127.0.0.1:0")
	c := &collector{by: map[string][]*murphyv1.Sample{}}
	set, err := Start([]*murphyv1.Probe{probeOf("success", &murphyv1.GRPCHealthProbe{Address: addr})}, Options{}, c.sink)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Stop()
	last := func() *murphyv1.Sample {
		s := c.get("m")
		if len(s) == 0 {
			return nil
		}
		return s[len(s)-1]
	}
	eventually(t, "a serving sample", func() bool { s := last(); return s != nil && s.Ok })
	srv.Stop()
	eventually(t, "a failed sample", func() bool { s := last(); return !s.Ok && s.Value == 0 })
	srv2, _, _ := healthServer(t, addr)
	defer srv2.Stop()
	eventually(t, "a serving sample after the restart", func() bool { return last().Ok })
}

func TestCommandProbe(t *testing.T) {
	t.Setenv("MURPHY_PROBE_TEST_SECRET", "worker-only")
	sh := func(script string) []string { return []string{"sh", "-c", script} }
	long := "i=0; while [ $i -lt 20000 ]; do echo 1234567; i=$((i+1)); done; echo 99"
	tests := []struct {
		name    string
		measure string
		argv    []string
		env     map[string]string
		timeout time.Duration
		wantOK  bool
		value   func(float64) bool
	}{
		{"number", "number", sh("echo 42"), nil, 0, true, eq(42)},
		{"last number wins", "number", sh("echo 'p50 0.2s'; echo 'p99=1.5e-3s'"), nil, 0, true, eq(0.0015)},
		{"negative number", "number", sh("echo 'delta: -7'"), nil, 0, true, eq(-7)},
		{"number from env", "number", sh(`echo "$DEPTH"`), map[string]string{"DEPTH": "12"}, 0, true, eq(12)},
		{"number through proxy placeholder", "number", []string{"echo", "port", ProxyPlaceholder}, nil, 0, true, eq(4242)},
		{"number past the output bound", "number", sh(long), nil, 5 * time.Second, true, eq(99)},
		{"no number", "number", sh("echo none"), nil, 0, false, eq(0)},
		{"number but failed", "number", sh("echo 7; exit 3"), nil, 0, false, eq(0)},
		{"exit code 0", "exit_code", []string{"true"}, nil, 0, true, eq(0)},
		{"exit code 3", "exit_code", sh("exit 3"), nil, 0, false, eq(3)},
		{"worker env is not passed", "exit_code", sh(`test -z "$MURPHY_PROBE_TEST_SECRET" && test "$LC_ALL" = C`), nil, 0, true, eq(0)},
		{"killed by a signal", "exit_code", sh("kill -9 $$"), nil, 0, false, eq(-1)},
		{"timed out", "exit_code", sh("sleep 5"), nil, 100 * time.Millisecond, false, eq(-1)},
		{"timed out number", "number", sh("echo 5; sleep 5"), nil, 100 * time.Millisecond, false, eq(0)},
		{"timed out latency", "latency", sh("sleep 5"), nil, 100 * time.Millisecond, false, func(v float64) bool { return v >= 0.1 && v < 2 }},
		{"success", "success", []string{"true"}, nil, 0, true, eq(1)},
		{"failure", "success", []string{"false"}, nil, 0, false, eq(0)},
		{"latency", "latency", []string{"true"}, nil, 0, true, fast},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := probeOf(tt.measure, &murphyv1.CommandProbe{Argv: tt.argv, Env: tt.env})
			if tt.timeout > 0 {
				p.Timeout = durationpb.New(tt.timeout)
			} else {
				p.Timeout = durationpb.New(2 * time.Second)
			}
			checkAll(t, samples(t, p, Options{Proxy: "127.0.0.1:4242", AllowCommands: true}, 2), tt.wantOK, tt.value)
		})
	}
}

// TestCommandProbeKillsGroup checks that a timed-out command takes its children with it.
func TestCommandProbeKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	p := probeOf("exit_code", &murphyv1.CommandProbe{Argv: []string{"sh", "-c", `sleep 30 & echo $! > "$PIDFILE"; wait`},
		Env: map[string]string{"PIDFILE": pidFile}})
	// Long enough for the shell to start its child and write the PID on a loaded machine
	// (200 ms was not, once).
	p.Timeout = durationpb.New(time.Second)
	p.Interval = durationpb.New(time.Hour)
	checkAll(t, samples(t, p, Options{AllowCommands: true}, 1), false, eq(-1))
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	eventually(t, "the background sleep "+pid+" to die", func() bool {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if errors.Is(err, os.ErrNotExist) {
			return true
		}
		// A zombie waiting for a reaper that is not ours is dead enough.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		return len(f) > 0 && f[0] == "Z"
	})
}

func TestLastNumber(t *testing.T) {
	tests := []struct {
		out   string
		cut   bool
		want  float64
		found bool
	}{
		{"42\n", false, 42, true},
		{"(integer) 17\n", false, 17, true},
		{"rtt=0.37ms\n", false, 0.37, true},
		{"2024-01-02\n", false, 2, true},
		{"x-5\n", false, 5, true},
		{"value: -5\n", false, -5, true},
		{"+3\n", false, 3, true},
		{".5\n", false, 0.5, true},
		{"6.02e23 things\n", false, 6.02e23, true},
		{"1e999\n", false, 0, false},
		{"no digits\n", false, 0, false},
		{"", false, 0, false},
		{"345\n", true, 0, false},
		{"345 12\n", true, 12, true},
	}
	for _, tt := range tests {
		got, found := lastNumber([]byte(tt.out), tt.cut)
		if got != tt.want || found != tt.found {
			t.Errorf("lastNumber(%q, %v) = %v, %v; want %v, %v", tt.out, tt.cut, got, found, tt.want, tt.found)
		}
	}
}

func TestTail(t *testing.T) {
	tl := &tail{max: 8}
	tl.Write([]byte("abc"))
	tl.Write([]byte("defg"))
	if string(tl.bytes()) != "abcdefg" || tl.cut {
		t.Fatalf("tail %q cut %v", tl.bytes(), tl.cut)
	}
	tl.Write([]byte("hij"))
	if string(tl.bytes()) != "cdefghij" || !tl.cut {
		t.Fatalf("tail %q cut %v", tl.bytes(), tl.cut)
	}
	tl2 := &tail{max: 4}
	tl2.Write([]byte("0123456789"))
	if string(tl2.bytes()) != "6789" || !tl2.cut {
		t.Fatalf("tail %q cut %v", tl2.bytes(), tl2.cut)
	}
	tl3 := &tail{max: 4}
	tl3.Write([]byte("0123"))
	if string(tl3.bytes()) != "0123" || tl3.cut {
		t.Fatalf("tail %q cut %v", tl3.bytes(), tl3.cut)
	}
}

func TestValidateKinds(t *testing.T) {
	cmd := func(measure string, argv ...string) *murphyv1.Probe {
		return probeOf(measure, &murphyv1.CommandProbe{Argv: argv})
	}
	tests := []struct {
		name  string
		probe *murphyv1.Probe
		opts  Options
		want  string
	}{
		{"tcp not host:port", probeOf("", &murphyv1.TCPProbe{Address: "127.0.0.1"}), Options{},
			`probes[0] (m): address "127.0.0.1" is not host:port`},
		{"tcp port out of range", probeOf("", &murphyv1.TCPProbe{Address: "db:70000"}), Options{},
			`probes[0] (m): address "db:70000" is not host:port with a port from 1 to 65535`},
		{"tcp status", probeOf("status", &murphyv1.TCPProbe{Address: "db:5432"}), Options{},
			`probes[0] (m): measure "status" does not apply to a tcp probe (known: latency, success)`},
		{"grpc placeholder without proxy", probeOf("", &murphyv1.GRPCHealthProbe{Address: ProxyPlaceholder}), Options{},
			`probes[0] (m): "{{proxy}}" uses {{proxy}} but this worker runs no proxy`},
		{"grpc number", probeOf("number", &murphyv1.GRPCHealthProbe{Address: "db:9090"}), Options{},
			`probes[0] (m): measure "number" does not apply to a grpc probe (known: latency, success)`},
		{"command not allowed", cmd("exit_code", "true"), Options{},
			`probes[0] (m): command probes run programs, and this worker's policy does not allow them (its operator must allow the exec fault kind)`},
		{"command without argv", cmd("exit_code"), Options{AllowCommands: true},
			`probes[0] (m): command argv must name a program`},
		{"command not found", cmd("exit_code", "murphy-no-such-program"), Options{AllowCommands: true},
			`probes[0] (m): command: exec: "murphy-no-such-program": executable file not found in $PATH`},
		{"command status class", cmd("status_class", "true"), Options{AllowCommands: true},
			`probes[0] (m): measure "status_class" does not apply to a command probe (known: latency, success, exit_code, number)`},
		{"command bad env", probeOf("", &murphyv1.CommandProbe{Argv: []string{"true"}, Env: map[string]string{"": "x"}}), Options{AllowCommands: true},
			`probes[0] (m): command env "=x" is not NAME=value`},
		{"http bad body_match", bodyProbe("success", "http://x/", "("), Options{},
			"probes[0] (body): body_match: error parsing regexp: missing closing ): `(`"},
		{"http bad json_path", jsonProbe("success", "http://x/", check("$.", nil)), Options{},
			`probes[0] (json): json_path "$.": jsonpath: unexpected eof at position 3`},
		{"http negative count", jsonProbe("success", "http://x/", check("$.a", proto.Int32(-1))), Options{},
			`probes[0] (json): json_path count -1 is negative`},
		{"command bad json_path", probeOf("", &murphyv1.CommandProbe{Argv: []string{"true"}, JsonPath: check("status", nil)}), Options{AllowCommands: true},
			`probes[0] (m): json_path "status": jsonpath: unexpected identifier at position 1`},
		{"http header name", headerProbe(map[string]string{"X Token": "a"}, ""), Options{},
			`probes[0] (h): header "X Token": not a valid header name`},
		{"http header line break", headerProbe(map[string]string{"X-Token": "a\r\nX-Evil: 1"}, ""), Options{},
			`probes[0] (h): header X-Token: the value holds a control character`},
		{"http content length", headerProbe(map[string]string{"content-length": "3"}, "abc"), Options{},
			`probes[0] (h): header content-length: set from the body; leave it out`},
		{"http transfer encoding", headerProbe(map[string]string{"Transfer-Encoding": "chunked"}, ""), Options{},
			`probes[0] (h): header Transfer-Encoding: set from the body; leave it out`},
		{"http header twice", headerProbe(map[string]string{"X-A": "1", "x-a": "2"}, ""), Options{},
			`probes[0] (h): header x-a: given twice (names are case-insensitive)`},
		{"http header too long", headerProbe(map[string]string{"X-A": strings.Repeat("v", maxHeaderValue+1)}, ""), Options{},
			`probes[0] (h): header X-A: the value is 8193 bytes; the limit is 8192`},
		{"http too many headers", headerProbe(manyHeaders(maxHeaders+1), ""), Options{},
			`probes[0] (h): 65 headers; the limit is 64`},
		{"http body too big", headerProbe(nil, strings.Repeat("b", maxRequestBody+1)), Options{},
			`probes[0] (h): body is 65537 bytes; the limit is 65536`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]*murphyv1.Probe{tt.probe}, tt.opts)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Validate:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func headerProbe(headers map[string]string, body string) *murphyv1.Probe {
	p := httpProbe("h", "success", "http://x/")
	p.GetHttp().Method = "POST"
	p.GetHttp().Headers = headers
	p.GetHttp().Body = body
	return p
}

func manyHeaders(n int) map[string]string {
	h := map[string]string{}
	for i := range n {
		h["X-H"+strconv.Itoa(i)] = "v"
	}
	return h
}
