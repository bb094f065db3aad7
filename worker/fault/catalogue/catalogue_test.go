package catalogue

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		kind   string
		params map[string]string
		want   string // substring of the error; empty means valid
	}{
		{"delay ok", "http.delay", map[string]string{"delay": "200ms"}, ""},
		{"delay full", "http.delay", map[string]string{"delay": "1s", "jitter": "20ms", "percent": "50", "proxy": "127.0.0.1:18080"}, ""},
		{"unknown kind", "http.dealy", nil, `unknown fault kind "http.dealy" (known: `},
		{"bad duration", "http.delay", map[string]string{"delay": "abc"}, `http.delay: params.delay: "abc" is not a duration`},
		{"missing delay", "http.delay", map[string]string{}, "http.delay: params.delay is required"},
		{"negative jitter", "http.delay", map[string]string{"delay": "1s", "jitter": "-1s"}, "params.jitter: -1s is out of range"},
		{"zero percent", "http.delay", map[string]string{"delay": "1s", "percent": "0"}, "params.percent: 0 is out of range (0,100]"},
		{"percent too big", "http.abort", map[string]string{"status": "503", "percent": "101"}, "out of range"},
		{"percent not number", "http.abort", map[string]string{"status": "503", "percent": "x"}, `"x" is not a number`},
		{"unknown param", "http.delay", map[string]string{"delay": "1s", "dealy": "1s"}, `http.delay: unknown param "dealy" (known: delay, jitter, percent, proxy)`},
		{"abort ok", "http.abort", map[string]string{"status": "503", "percent": "12.5"}, ""},
		{"abort status range", "http.abort", map[string]string{"status": "700"}, "http.abort: params.status: 700 is not between 100 and 599"},
		{"abort status text", "http.abort", map[string]string{"status": "boom"}, `"boom" is not an integer`},
		{"bad proxy", "http.abort", map[string]string{"status": "503", "proxy": "nope"}, `params.proxy: "nope" is not a host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.kind, tt.params)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: unexpected error %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate: no error, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate: error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParamDefaults(t *testing.T) {
	p, err := Decode("http.delay", map[string]string{"delay": "150ms"})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(HTTPDelay); got.Delay != 150*time.Millisecond || got.Jitter != 0 || got.Fraction != 1 || got.Proxy != "" {
		t.Errorf("http.delay = %+v", got)
	}
	a, err := Decode("http.abort", map[string]string{"status": "503"})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.(HTTPAbort).Status; got != 503 {
		t.Errorf("status = %v", got)
	}
}

// TestDefaultsDecode: every default in the catalogue passes its own parameter's checks,
// since Decode reads defaults through the same path as given values.
func TestDefaultsDecode(t *testing.T) {
	for _, name := range Kinds() {
		k, _ := Lookup(name)
		for _, p := range k.Params {
			if p.Default == "" {
				continue
			}
			if _, err := p.parse(p.Default); err != nil {
				t.Errorf("%s: params.%s: default %q: %v", name, p.Name, p.Default, err)
			}
		}
		if k.Needs == "" || k.Reverts == "" {
			t.Errorf("%s: Needs and Reverts must say what the kind needs and what ends it", name)
		}
	}
}

func TestProcessCatalogue(t *testing.T) {
	tests := []struct {
		kind   string
		params map[string]string
		want   string
	}{
		{"process.kill", map[string]string{"name": "api"}, ""},
		{"process.kill", map[string]string{"cmdline": "java .*Main", "signal": "sigterm", "count": "2"}, ""},
		{"process.kill", map[string]string{}, "process.kill: empty selector"},
		{"process.stop", map[string]string{"count": "all"}, "process.stop: empty selector"},
		{"process.stop", map[string]string{"pid": "1"}, "pid 1 (init) is always protected"},
		{"process.kill", map[string]string{"pid": "-4"}, "params.pid: -4 is not between"},
		{"process.kill", map[string]string{"name": "x", "signal": "TSTP"}, "use process.stop"},
		{"process.stop", map[string]string{"name": "x", "signal": "KILL"}, `unknown param "signal"`},
		{"stress.cpu", map[string]string{"cores": "0"}, "params.cores"},
		{"stress.memory", map[string]string{"bytes": "1.5GiB"}, ""},
		{"stress.disk", map[string]string{"path": "/var/tmp"}, "params.bytes is required"},
		{"exec", map[string]string{"inject": "true"}, "params.revert is required"},
		{"exec", map[string]string{"inject": `echo "x"`, "revert": "true", "shell": "true"}, ""},
	}
	for _, tt := range tests {
		err := Validate(tt.kind, tt.params)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s %v: %v, want %q", tt.kind, tt.params, err, tt.want)
		}
	}
	if !IsInstant("process.kill") || IsInstant("process.stop") || IsInstant("no.such") {
		t.Error("IsInstant")
	}
}

func TestParseSignalAndBytes(t *testing.T) {
	for in, want := range map[string]int{"KILL": 9, "sigterm": 15, "Hup": 1, "10": 10, "SIGUSR2": 12} {
		if _, n, err := ParseSignal(in); err != nil || n != want {
			t.Errorf("ParseSignal(%q) = %d, %v", in, n, err)
		}
	}
	for _, bad := range []string{"STOP", "19", "BOGUS", "99", ""} {
		if _, _, err := ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q) accepted", bad)
		}
	}
	for in, want := range map[string]int64{"1048576": 1 << 20, "512MiB": 512 << 20, "1.5GB": 1_500_000_000, "2 gib": 2 << 30, "4k": 4096, "10B": 10} {
		if n, err := ParseBytes(in); err != nil || n != want {
			t.Errorf("ParseBytes(%q) = %d, %v", in, n, err)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1.2.3", "5 parsecs", "0", "65TiB", "0.1"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
	if _, err := ParseArgv(strconv.Quote("x")); err == nil {
		t.Error("quoted argv accepted")
	}
	if a, err := ParseArgv(`["a b", "c"]`); err != nil || len(a) != 2 {
		t.Errorf("JSON argv: %v %v", a, err)
	}
	if env, err := ParseEnv(`{"B":"2","A":"x,y"}`); err != nil || !slices.Equal(env, []string{"A=x,y", "B=2"}) {
		t.Errorf("JSON env: %v %v", env, err)
	}
}

// TestFleetLimits lists the hostile steps of issue 14 (defect 4) and the exact reason
// each is refused with, beside near misses that must stay accepted.

// TestPlace: network, process and stress kinds take a container or a pod the same way,
// and refuse the combinations that could pick the wrong target.
func TestPlace(t *testing.T) {
	uid := "0f6c2b1e-9a7d-4c3b-8e2f-1a2b3c4d5e6f"
	for _, c := range []struct {
		kind   string
		params map[string]string
		want   Place
		err    string
	}{
		{"network.partition", map[string]string{"cidrs": "10.0.0.1", "pod": "shop/checkout-7f9c"}, Place{Pod: "shop/checkout-7f9c"}, ""},
		{"network.partition", map[string]string{"cidrs": "10.0.0.1", "pod": uid}, Place{Pod: uid}, ""},
		{"process.stop", map[string]string{"name": "java", "pod": "shop/checkout-7f9c", "container": "app"}, Place{Pod: "shop/checkout-7f9c", Container: "app"}, ""},
		{"stress.cpu", map[string]string{"pod": "shop/checkout-7f9c"}, Place{Pod: "shop/checkout-7f9c"}, ""},
		{"stress.memory", map[string]string{"bytes": "1MiB", "container": "web"}, Place{Container: "web"}, ""},
		{"network.partition", map[string]string{"cidrs": "10.0.0.1", "pod": "checkout"}, Place{}, "neither namespace/name nor a pod UID"},
		{"network.partition", map[string]string{"cidrs": "10.0.0.1", "pod": "Shop/checkout"}, Place{}, "is not namespace/name"},
		{"network.partition", map[string]string{"cidrs": "10.0.0.1", "pod": "shop/a", "netns": "/var/run/netns/x"}, Place{}, "not both"},
		{"process.kill", map[string]string{"pod": "shop/a", "containerLabels": "app=web"}, Place{}, "name the container with params.container"},
		{"stress.cpu", map[string]string{"container": "a", "containerLabels": "app=web"}, Place{}, "not both"},
	} {
		p, err := Decode(c.kind, c.params)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %v: got %v, want an error with %q", c.kind, c.params, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %v", c.kind, c.params, err)
			continue
		}
		var got Place
		switch v := p.(type) {
		case Network:
			got = v.Place
		case ProcessStop:
			got = v.Place
		case StressCPU:
			got = v.Place
		case StressMemory:
			got = v.Place
		default:
			t.Fatalf("%s: params of type %T", c.kind, p)
		}
		if got != c.want {
			t.Errorf("%s %v: place %+v, want %+v", c.kind, c.params, got, c.want)
		}
	}
}

// TestContainerInAPod: container.kill and container.pause take a pod and its container's
// name instead of a Docker container; the other container kinds do not, and a pod is never
// mixed with Docker's selectors.
func TestContainerInAPod(t *testing.T) {
	for _, c := range []struct {
		kind   string
		params map[string]string
		want   Container
		err    string
	}{
		{"container.kill", map[string]string{"pod": "shop/checkout-1", "container": "app"},
			Container{Kind: "container.kill", Pod: "shop/checkout-1", PodContainer: "app", Signal: "SIGKILL", Count: 0}, ""},
		{"container.pause", map[string]string{"pod": "0f6c2b1e-9a7d-4c3b-8e2f-1a2b3c4d5e6f"},
			Container{Kind: "container.pause", Pod: "0f6c2b1e-9a7d-4c3b-8e2f-1a2b3c4d5e6f"}, ""},
		{"container.kill", map[string]string{"pod": "shop/a", "signal": "term"}, Container{Kind: "container.kill", Pod: "shop/a", Signal: "SIGTERM"}, ""},
		{"container.stop", map[string]string{"pod": "shop/a"}, Container{}, `unknown param "pod"`},
		{"container.restart", map[string]string{"pod": "shop/a"}, Container{}, `unknown param "pod"`},
		{"container.kill", map[string]string{"pod": "shop/a", "name": "web"}, Container{}, "not both"},
		{"container.pause", map[string]string{"pod": "shop/a", "labels": "app=web"}, Container{}, "not both"},
		{"container.pause", map[string]string{"pod": "shop/a", "count": "2"}, Container{}, "acts on one container of the pod"},
		{"container.kill", map[string]string{"name": "web", "container": "app"}, Container{}, "names a container of params.pod"},
		{"container.kill", map[string]string{"pod": "checkout"}, Container{}, "neither namespace/name nor a pod UID"},
	} {
		p, err := Decode(c.kind, c.params)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %v: got %v, want an error with %q", c.kind, c.params, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %v", c.kind, c.params, err)
			continue
		}
		got := p.(Container)
		got.Timeout = 0
		if got != c.want {
			t.Errorf("%s %v: %+v, want %+v", c.kind, c.params, got, c.want)
		}
		s := got.String()
		if c.kind == "container.kill" && !strings.Contains(s, "orchestrator") {
			t.Errorf("%s: %q does not say that the orchestrator brings the container back", c.kind, s)
		}
		if !strings.Contains(s, c.want.Pod) {
			t.Errorf("%s: %q does not name the pod", c.kind, s)
		}
	}
}

func TestKubeCatalogue(t *testing.T) {
	tests := []struct {
		kind   string
		params map[string]string
		want   string
	}{
		{"pod.delete", map[string]string{"namespace": "shop", "selector": "app=checkout"}, ""},
		{"pod.delete", map[string]string{"namespace": "shop", "workload": "deployment/checkout", "mode": "fixed", "count": "2", "grace": "0s"}, ""},
		{"pod.delete", map[string]string{"namespace": "shop", "mode": "random-max-percent", "percent": "50"}, ""},
		{"pod.delete", map[string]string{"namespace": "shop", "mode": "all"}, ""},
		{"pod.delete", map[string]string{"selector": "app=x"}, "params.namespace is required"},
		{"pod.delete", map[string]string{"namespace": "Shop_1"}, "is not a namespace name"},
		{"pod.delete", map[string]string{"namespace": "shop", "selector": "app==="}, "is not a label selector"},
		{"pod.delete", map[string]string{"namespace": "shop", "mode": "fixed"}, "mode fixed needs params.count"},
		{"pod.delete", map[string]string{"namespace": "shop", "count": "2"}, "params.count applies to mode fixed, not one"},
		{"pod.delete", map[string]string{"namespace": "shop", "mode": "random-max-percent"}, "needs params.percent"},
		{"pod.delete", map[string]string{"namespace": "shop", "mode": "some"}, "is not a kill mode"},
		{"pod.delete", map[string]string{"namespace": "shop", "workload": "statefulset/db"}, ""},
		{"pod.delete", map[string]string{"namespace": "shop", "workload": "ds/agent"}, ""},
		{"pod.delete", map[string]string{"namespace": "shop", "workload": "job/db"}, "must be a deployment, statefulset or daemonset"},
		{"pod.delete", map[string]string{"namespace": "shop", "workload": "checkout"}, "is not KIND/NAME"},
		{"node.cordon", map[string]string{"node": "node-1"}, ""},
		{"node.cordon", map[string]string{}, "params.node is required"},
		{"node.drain", map[string]string{"node": "node-1", "timeout": "9s"}, "out of range"},
		{"workload.scale", map[string]string{"namespace": "shop", "workload": "deploy/checkout", "replicas": "0"}, ""},
		{"workload.scale", map[string]string{"namespace": "shop", "workload": "deploy/checkout"}, "params.replicas is required"},
		{"workload.restart", map[string]string{"namespace": "shop", "workload": "deployments/checkout"}, ""},
		{"workload.scale", map[string]string{"namespace": "shop", "workload": "sts/db", "replicas": "1"}, ""},
		{"workload.scale", map[string]string{"namespace": "shop", "workload": "daemonset/agent", "replicas": "1"}, "has no replica count to scale"},
		{"workload.restart", map[string]string{"namespace": "shop", "workload": "daemonsets/agent"}, ""},
	}
	for _, tt := range tests {
		err := Validate(tt.kind, tt.params)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s %v: %v, want %q", tt.kind, tt.params, err, tt.want)
		}
	}
	p := MustDecode("pod.delete", map[string]string{"namespace": "shop", "workload": "deploy/checkout", "grace": "1500ms"}).(PodDelete)
	if p.Mode != KillOne || p.Workload == nil || p.Workload.String() != "deployment/checkout" || p.Grace == nil || *p.Grace != 1500*time.Millisecond {
		t.Errorf("pod.delete decoded as %+v", p)
	}
	if p := MustDecode("pod.delete", map[string]string{"namespace": "shop"}).(PodDelete); p.Grace != nil {
		t.Errorf("no grace given, yet %v", *p.Grace)
	}
	if !IsInstant("pod.delete") || !IsInstant("workload.restart") || IsInstant("workload.scale") || IsInstant("node.drain") {
		t.Error("IsInstant of the Kubernetes kinds")
	}
}
