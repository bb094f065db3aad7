package fault

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"time"
)

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte(`
allow: [process.stop, stress.cpu, exec]
deny: [stress.cpu]
maxDuration: 30m
protect:
  names: [etcd]
  pids: [4242]
  pidfiles: [/run/nginx.pid]
  cidrs: [10.0.0.0/8, 192.0.2.7, "2001:db8::/32"]
stress:
  diskPaths: [/var/tmp/]
`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Allowed, []string{"process.stop", "stress.cpu", "exec"}) || p.MaxDuration != 30*time.Minute ||
		!slices.Equal(p.ProtectedNames, []string{"etcd"}) || !slices.Equal(p.ProtectedPIDs, []int{4242}) ||
		!slices.Equal(p.DiskPaths, []string{"/var/tmp"}) || len(p.ProtectedNets) != 3 ||
		p.ProtectedNets[1] != netip.MustParsePrefix("192.0.2.7/32") {
		t.Fatalf("%+v", p)
	}
	if err := p.Allows("exec"); err != nil {
		t.Errorf("exec listed under allow: %v", err)
	}
	if err := p.Allows("stress.cpu"); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("deny wins over allow: %v", err)
	}

	def, err := ParsePolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.MaxDuration != time.Hour || !slices.Equal(def.ProtectedNames, []string{"sshd"}) {
		t.Fatalf("defaults: %+v", def)
	}
	if err := def.Allows("exec"); err == nil || !strings.Contains(err.Error(), "unless this worker's policy lists it under allow") {
		t.Errorf("exec by default: %v", err)
	}
	if err := def.Allows("process.kill"); err != nil {
		t.Errorf("process.kill by default: %v", err)
	}

	tests := []struct{ in, want string }{
		{"alow: [exec]", `line 1: unknown key "alow" (known: allow, deny`},
		{"protect: {pid: [3]}", `line 1: unknown key "pid"`},
		{"allow: [proces.kill]", `allow[0]: unknown fault kind "proces.kill"`},
		{"deny: [x]", `deny[0]: unknown fault kind "x"`},
		{"maxDuration: forever", `maxDuration: "forever" is not a positive duration`},
		{"maxDuration: -1s", "not a positive duration"},
		{"protect: {cidrs: [10.0.0.0/33]}", `protect.cidrs[0]: "10.0.0.0/33" is not a CIDR`},
		{"protect: {pids: [0]}", "protect.pids[0]: 0 is not a process id"},
		{"protect: {pidfiles: [x.pid]}", "protect.pidfiles[0]"},
		{"protect: {names: ['']}", "protect.names[0]: empty name"},
		{"stress: {diskPaths: [tmp]}", "stress.diskPaths[0]"},
		{"allow: exec", "cannot unmarshal"},
	}
	for _, tt := range tests {
		if _, err := ParsePolicy([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestLoadPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(path, []byte("maxDuration: 5m\n"), 0o600)
	p, err := LoadPolicy(path)
	if err != nil || p.MaxDuration != 5*time.Minute {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := LoadPolicy(path + ".missing"); err == nil {
		t.Fatal("missing file loaded")
	}
	os.WriteFile(path, []byte("maxDuration: x\n"), 0o600)
	if _, err := LoadPolicy(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error without the file name: %v", err)
	}
}

func TestProtectedProcesses(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "db.pid")
	os.WriteFile(pf, []byte("777\n"), 0o600)
	p := Policy{ProtectedPIDs: []int{4242}, ProtectedPIDFiles: []string{pf}, ProtectedNames: []string{"etcd"}}
	for pid, want := range map[int]string{1: "always protected", os.Getpid(): "the worker itself", 4242: "policy", 777: pf} {
		if err := p.ProtectsPID(pid); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("pid %d: %v, want %q", pid, err, want)
		}
	}
	// Even the zero policy protects init and the worker.
	if (Policy{}).ProtectsPID(1) == nil || (Policy{}).ProtectsPID(os.Getpid()) == nil {
		t.Error("zero policy leaves init or the worker unprotected")
	}
	if err := p.ProtectsPID(4243); err != nil {
		t.Errorf("unprotected pid: %v", err)
	}
	if p.ProtectsName("etcd") == nil || p.ProtectsName("etcd2") != nil {
		t.Error("names")
	}
}

func TestProtectedCIDRs(t *testing.T) {
	p := Policy{ProtectedNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}.
		WithCoordinators([]string{"192.0.2.1:7400", "[2001:db8::1]:7400", "localhost:7400", "192.0.2.1:7401"})
	cp := p // executors hold copies; a leader learnt later reaches them too
	p.NoteCoordinator("198.51.100.9:7400")
	got, err := cp.ProtectedCIDRs()
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, pf := range got {
		s = append(s, pf.String())
	}
	for _, want := range []string{"10.0.0.0/8", "127.0.0.1/32", "192.0.2.1/32", "198.51.100.9/32", "2001:db8::1/128"} {
		if !slices.Contains(s, want) {
			t.Errorf("ProtectedCIDRs %v lacks %s", s, want)
		}
	}
	if n := strings.Count(strings.Join(s, " "), "192.0.2.1/32"); n != 1 {
		t.Errorf("duplicates: %v", s)
	}
	_, err = Policy{Coordinators: []string{"no-such-host.invalid:7400"}}.ProtectedCIDRs()
	if err == nil || !strings.Contains(err.Error(), "no-such-host.invalid") {
		t.Fatalf("unresolvable coordinator: %v", err)
	}
}

func TestDiskPaths(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "ok", "deep"), 0o700)
	os.MkdirAll(filepath.Join(root, "okay"), 0o700)
	os.Symlink(filepath.Join(root, "okay"), filepath.Join(root, "ok", "escape"))
	p := Policy{DiskPaths: []string{filepath.Join(root, "ok")}}
	if err := p.AllowsDiskPath(filepath.Join(root, "ok", "deep")); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{filepath.Join(root, "okay"), filepath.Join(root, "ok", "escape"), root} {
		if err := p.AllowsDiskPath(bad); err == nil {
			t.Errorf("%s allowed", bad)
		}
	}
}

func TestFleetLimits(t *testing.T) {
	const hostCut = "in the host's network namespace (/proc/1/ns/net) %s would cut the host off from everything, its operators' SSH included"
	tests := []struct {
		name   string
		kind   string
		params map[string]string
		lim    FleetLimits
		param  string // "" when accepted
		want   string
	}{
		{"cmdline .*", "process.stop", map[string]string{"cmdline": ".*"}, FleetLimits{}, "cmdline",
			`/.*/ matches any command line (even "x" and "/sbin/init"): it would select every process on the host; narrow it to the processes you mean`},
		{"cmdline ^.*$", "process.kill", map[string]string{"cmdline": "^.*$"}, FleetLimits{}, "cmdline",
			`/^.*$/ matches any command line (even "x" and "/sbin/init"): it would select every process on the host; narrow it to the processes you mean`},
		{"cmdline .", "process.stop", map[string]string{"cmdline": "."}, FleetLimits{}, "cmdline",
			`/./ matches any command line (even "x" and "/sbin/init"): it would select every process on the host; narrow it to the processes you mean`},
		{"cmdline empty match", "process.stop", map[string]string{"cmdline": "z*"}, FleetLimits{}, "cmdline",
			`/z*/ matches any command line (even "x" and "/sbin/init"): it would select every process on the host; narrow it to the processes you mean`},
		{"cmdline narrow", "process.stop", map[string]string{"cmdline": `^/usr/bin/checkout-api( |$)`}, FleetLimits{}, "", ""},
		{"cmdline [a-z]", "process.stop", map[string]string{"cmdline": "[a-z]"}, FleetLimits{}, "cmdline",
			`/[a-z]/ matches any command line (even "x" and "/sbin/init"): it would select every process on the host; narrow it to the processes you mean`},
		{"cmdline .* narrowed by a name", "process.stop", map[string]string{"cmdline": ".*", "name": "checkout-api"}, FleetLimits{}, "", ""},
		{"name murphy", "process.kill", map[string]string{"name": "murphy"}, FleetLimits{}, "name",
			`"murphy" names Murphy's own processes, which are always protected`},

		{"partition host netns 0/0", "network.partition", map[string]string{"netns": "/proc/1/ns/net", "cidrs": "0.0.0.0/0"}, FleetLimits{}, "cidrs",
			"0.0.0.0/0 covers every IPv4 peer: " + fmt.Sprintf(hostCut, "a partition") + "; name the peers to cut off"},
		{"partition host netns ::/0", "network.partition", map[string]string{"netns": "/proc/1/ns/net", "cidrs": "10.0.0.0/8, ::/0"}, FleetLimits{}, "cidrs",
			"10.0.0.0/8, ::/0 covers every IPv6 peer: " + fmt.Sprintf(hostCut, "a partition") + "; name the peers to cut off"},
		{"partition host netns halves", "network.partition", map[string]string{"netns": "/proc/1/ns/net", "cidrs": "0.0.0.0/1,128.0.0.0/2,192.0.0.0/2,10.0.0.0/8"}, FleetLimits{}, "cidrs",
			"0.0.0.0/1,128.0.0.0/2,192.0.0.0/2,10.0.0.0/8 covers every IPv4 peer: " + fmt.Sprintf(hostCut, "a partition") + "; name the peers to cut off"},
		{"blackhole host netns no cidrs", "network.blackhole", map[string]string{"netns": "/proc/1/ns/net"}, FleetLimits{}, "netns",
			"no cidrs means every peer: " + fmt.Sprintf(hostCut, "a blackhole") + "; name the peers to cut off in params.cidrs"},
		{"loss 100% host netns", "network.loss", map[string]string{"netns": "/proc/1/ns/net", "interface": "eth0", "percent": "100", "cidrs": "0.0.0.0/0"}, FleetLimits{}, "cidrs",
			"0.0.0.0/0 covers every IPv4 peer: " + fmt.Sprintf(hostCut, "100% loss") + "; name the peers to cut off"},
		{"loss 50% host netns", "network.loss", map[string]string{"netns": "/proc/1/ns/net", "interface": "eth0", "percent": "50", "cidrs": "0.0.0.0/0"}, FleetLimits{}, "", ""},
		{"partition host netns some peers", "network.partition", map[string]string{"netns": "/proc/1/ns/net", "cidrs": "0.0.0.0/1,10.0.0.0/8"}, FleetLimits{}, "", ""},
		{"partition host netns one port", "network.partition", map[string]string{"netns": "/proc/1/ns/net", "cidrs": "0.0.0.0/0", "ports": "5432"}, FleetLimits{}, "", ""},
		{"partition a container's netns", "network.partition", map[string]string{"netns": "/proc/4242/ns/net", "cidrs": "0.0.0.0/0"}, FleetLimits{}, "", ""},

		{"memory 1TB", "stress.memory", map[string]string{"bytes": "1TB"}, FleetLimits{}, "bytes",
			"1TB is more than this cluster lets stress.memory take on one host (64GiB; coordinator flag --max-stress-memory)"},
		{"memory configured", "stress.memory", map[string]string{"bytes": "2GiB"}, FleetLimits{MaxStressMemory: 1 << 30}, "bytes",
			"2GiB is more than this cluster lets stress.memory take on one host (1GiB; coordinator flag --max-stress-memory)"},
		{"memory fine", "stress.memory", map[string]string{"bytes": "512MiB"}, FleetLimits{}, "", ""},
		{"disk /etc", "stress.disk", map[string]string{"path": "/etc", "bytes": "1GiB"}, FleetLimits{}, "path",
			"/etc is a system directory (under /etc): stress.disk would fill the file system the host runs from among its own files; use a data directory such as /var/tmp"},
		{"disk /", "stress.disk", map[string]string{"path": "/", "bytes": "1GiB"}, FleetLimits{}, "path",
			"/ is the root directory: stress.disk would fill the file system the host runs from among its own files; use a data directory such as /var/tmp"},
		{"disk /lib64 sub", "stress.disk", map[string]string{"path": "/lib64/x/../y/", "bytes": "1GiB"}, FleetLimits{}, "path",
			"/lib64/y is a system directory (under /lib64): stress.disk would fill the file system the host runs from among its own files; use a data directory such as /var/tmp"},
		{"disk /usr/local", "stress.disk", map[string]string{"path": "/usr/local/tmp", "bytes": "1GiB"}, FleetLimits{}, "path",
			"/usr/local/tmp is a system directory (under /usr): stress.disk would fill the file system the host runs from among its own files; use a data directory such as /var/tmp"},
		{"disk too much", "stress.disk", map[string]string{"path": "/var/tmp", "bytes": "2TiB"}, FleetLimits{}, "bytes",
			"2TiB is more than this cluster lets stress.disk take on one host (1TiB; coordinator flag --max-stress-disk)"},
		{"disk /library is not /lib", "stress.disk", map[string]string{"path": "/library", "bytes": "1GiB"}, FleetLimits{}, "", ""},
		{"disk /var/tmp", "stress.disk", map[string]string{"path": "/var/tmp", "bytes": "10GiB"}, FleetLimits{}, "", ""},
		{"other kinds", "stress.cpu", map[string]string{"load": "100"}, FleetLimits{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Only steps the catalogue accepts reach these limits.
			decoded, err := catalogue.Decode(tt.kind, tt.params)
			if err != nil {
				t.Fatalf("the catalogue refuses the step: %v", err)
			}
			param, err := tt.lim.Judge(decoded, tt.params)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if param != tt.param || got != tt.want {
				t.Fatalf("got (%q, %q)\nwant (%q, %q)", param, got, tt.param, tt.want)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	p := Policy{Allowed: []string{"http.delay"}, Denied: []string{"http.abort"}, MaxDuration: time.Minute}
	if err := p.Allows("http.delay"); err != nil {
		t.Errorf("delay: %v", err)
	}
	if err := p.Allows("http.abort"); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("abort: %v", err)
	}
	if err := (Policy{Allowed: []string{"x"}}).Allows("http.delay"); err == nil {
		t.Error("delay allowed by a policy that lists only x")
	}
	if err := (Policy{}).Allows("http.abort"); err != nil {
		t.Errorf("empty policy: %v", err)
	}
	now := time.Unix(1000, 0)
	if got := p.Deadline(now, now.Add(time.Hour)); !got.Equal(now.Add(time.Minute)) {
		t.Errorf("capped deadline = %v", got)
	}
	if got := p.Deadline(now, now.Add(time.Second)); !got.Equal(now.Add(time.Second)) {
		t.Errorf("uncapped deadline = %v", got)
	}
}

// TestKubernetesPolicy: the namespace lists and opt-in a worker holds its Kubernetes
// kinds to, from the file and by default.
func TestKubernetesPolicy(t *testing.T) {
	def, err := ParsePolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	k := def.Kubernetes
	if k.AllowsNamespace("kube-system") == nil || k.AllowsNamespace("shop") != nil || k.NoOptIn {
		t.Errorf("default: %+v", k)
	}
	p, err := ParsePolicy([]byte("kubernetes:\n  namespaces: {allow: [shop, web], deny: [web]}\n  optIn: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	k = p.Kubernetes
	for ns, want := range map[string]string{
		"shop":        "",
		"web":         `namespace "web" is denied`,
		"kube-system": `namespace "kube-system" is not allowed by this worker's policy (allowed: shop, web)`,
	} {
		err := k.AllowsNamespace(ns)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", ns, err, want)
		}
	}
	if !k.OptedIn(nil, nil) {
		t.Error("optIn: false still requires opt-in")
	}
	p, err = ParsePolicy([]byte("kubernetes: {namespaces: {deny: []}}\n"))
	if err != nil || p.Kubernetes.AllowsNamespace("kube-system") != nil {
		t.Errorf("an empty deny list keeps kube-system denied: %v %+v", err, p.Kubernetes)
	}
	opt := KubernetesPolicy{}
	on := map[string]string{OptInLabel: OptInValue}
	if opt.OptedIn(nil, nil) || !opt.OptedIn(on, nil) || !opt.OptedIn(nil, on) || opt.OptedIn(map[string]string{OptInLabel: "yes"}, nil) {
		t.Error("OptedIn")
	}
	if _, err := ParsePolicy([]byte("kubernetes: {namespace: [x]}\n")); err == nil || !strings.Contains(err.Error(), "kubernetes: {namespaces: {allow, deny}, optIn}") {
		t.Errorf("unknown key: %v", err)
	}
}
