package probe

import (
	"net"
	"net/http"
	"strings"
	"testing"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// serveOn answers 200 on a loopback address of its own, standing in for a pod's IP.
func serveOn(t *testing.T, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Host))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func TestTargetPlaceholder(t *testing.T) {
	pod := serveOn(t, "127.0.0.2:0")
	_, port, _ := net.SplitHostPort(pod)
	unit := &murphyv1.Target{Id: "pod/shop/web-1", Address: "127.0.0.2"}
	noIP := &murphyv1.Target{Id: "pod/shop/web-2"}
	atTarget := "{{target}}:" + port
	for _, tc := range []struct {
		name   string
		probe  *murphyv1.Probe
		unit   *murphyv1.Target
		wantOK bool
		want   func(float64) bool
	}{
		{"http at the unit's address", httpProbe("m", MeasureStatus, "http://"+atTarget+"/", 200), unit, true, eq(200)},
		{"http body names the unit's address", bodyProbe(MeasureSuccess, "http://"+atTarget+"/", "^127\\.0\\.0\\.2:"), unit, true, eq(1)},
		{"tcp at the unit's address", probeOf(MeasureSuccess, &murphyv1.TCPProbe{Address: atTarget}), unit, true, eq(1)},
		{"http without the placeholder, labelled per unit", httpProbe("m", MeasureSuccess, "http://"+pod+"/"), noIP, true, eq(1)},
		{"http, unit without address", httpProbe("m", MeasureStatus, "http://"+atTarget+"/"), noIP, false, eq(0)},
		{"http status class, unit without address", httpProbe("m", MeasureStatusClass, "http://"+atTarget+"/"), noIP, false, eq(0)},
		{"tcp, unit without address", probeOf(MeasureSuccess, &murphyv1.TCPProbe{Address: atTarget}), noIP, false, eq(0)},
		{"grpc, unit without address", probeOf(MeasureSuccess, &murphyv1.GRPCHealthProbe{Address: atTarget}), noIP, false, eq(0)},
		{"tcp latency, unit without address", probeOf(MeasureLatency, &murphyv1.TCPProbe{Address: atTarget}), noIP, false,
			func(v float64) bool { return v >= 0 && v < 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkAll(t, samples(t, tc.probe, Options{Unit: tc.unit}, 3), tc.wantOK, tc.want)
		})
	}
}

func TestTargetPlaceholderText(t *testing.T) {
	for _, tc := range []struct {
		in        string
		unit      *murphyv1.Target
		want      string
		addressed bool
		err       string
	}{
		{"http://{{target}}:8080/healthz", &murphyv1.Target{Address: "10.244.1.7"}, "http://10.244.1.7:8080/healthz", true, ""},
		{"{{target}}:8080", &murphyv1.Target{Address: "fd00:10:244::7"}, "[fd00:10:244::7]:8080", true, ""},
		{"{{target}}:8080", &murphyv1.Target{}, noAddress + ":8080", false, ""},
		{"http://{{proxy}}/{{target}}", &murphyv1.Target{Address: "10.0.0.1"}, "http://127.0.0.1:9/10.0.0.1", true, ""},
		{"127.0.0.1:80", nil, "127.0.0.1:80", true, ""},
		{"{{target}}:80", nil, "", false, "units are the workers"},
	} {
		got, addressed, err := replacePlaceholders(tc.in, Options{Proxy: "127.0.0.1:9", Unit: tc.unit})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s with unit %v: err %v, want one saying %q", tc.in, tc.unit, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || addressed != tc.addressed {
			t.Errorf("%s with unit %v: %q %v %v, want %q %v", tc.in, tc.unit, got, addressed, err, tc.want, tc.addressed)
		}
	}
	// The worker itself as the unit: a probe that needs a unit's address is refused at
	// the start, whatever its kind, rather than probing a host named "{{target}}".
	for _, p := range []*murphyv1.Probe{
		httpProbe("m", "", "http://{{target}}:80/"),
		probeOf("", &murphyv1.TCPProbe{Address: "{{target}}:80"}),
		probeOf("", &murphyv1.GRPCHealthProbe{Address: "{{target}}:80"}),
	} {
		if err := Validate([]*murphyv1.Probe{p}, Options{}); err == nil || !strings.Contains(err.Error(), TargetPlaceholder) {
			t.Errorf("%v without a unit: %v, want an error naming %s", p, err, TargetPlaceholder)
		}
	}
}

// TestCommandProbeUnitEnv: a command probe learns its unit from the environment, and its
// own env cannot say otherwise.
func TestCommandProbeUnitEnv(t *testing.T) {
	check := `test "$MURPHY_TARGET" = "$1" && test "$MURPHY_UNIT" = "$2"`
	for _, tc := range []struct {
		name       string
		unit       *murphyv1.Target
		target, id string
	}{
		{"pod", &murphyv1.Target{Id: "pod/shop/web-1", Address: "10.244.1.7"}, "10.244.1.7", "pod/shop/web-1"},
		{"pod without address", &murphyv1.Target{Id: "pod/shop/web-2"}, "", "pod/shop/web-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := probeOf(MeasureSuccess, &murphyv1.CommandProbe{Argv: []string{"sh", "-c", check, "sh", tc.target, tc.id},
				Env: map[string]string{EnvTarget: "spoofed", EnvUnit: "spoofed"}})
			checkAll(t, samples(t, p, Options{AllowCommands: true, Unit: tc.unit}, 2), true, eq(1))
		})
	}
	// The worker itself: neither variable is set.
	p := probeOf(MeasureSuccess, &murphyv1.CommandProbe{Argv: []string{"sh", "-c", `test -z "${MURPHY_TARGET+x}${MURPHY_UNIT+x}"`}})
	checkAll(t, samples(t, p, Options{AllowCommands: true}, 2), true, eq(1))
}

func TestUnitBuffer(t *testing.T) {
	b := NewUnitBuffer("r", "pod/shop/web-1", 4)
	for i := range 6 {
		b.Add("m", sample(uint64(i+1))) // the last two are dropped: nothing was sent
	}
	b.Add("n", sample(2))
	out := b.Next(100)
	if len(out) != 1 || out[0].Unit != "pod/shop/web-1" || out[0].RunId != "r" || len(out[0].Samples) != 4 {
		t.Fatalf("batches %v, want one of 4 samples of unit pod/shop/web-1", out)
	}
	// The numbers handed out, dropped ones included, so probes started again number on
	// past every sample a coordinator may have seen.
	if got := b.LastSeqs(); got["m"] != 6 || got["n"] != 2 || len(got) != 2 {
		t.Fatalf("last seqs %v, want m:6 n:2", got)
	}
	if got := NewBuffer("r", 0).LastSeqs(); len(got) != 0 {
		t.Fatalf("a new buffer has sequence numbers %v", got)
	}
}
