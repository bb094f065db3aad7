package fault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultMaxDuration caps a fault's life when the policy file says nothing else.
const DefaultMaxDuration = time.Hour

// Policy is the worker's local safety policy. It is configured on the worker host (see
// LoadPolicy for the file) and the coordinator cannot override it: an assignment that
// breaks it fails with the policy's reason.
//
// Whatever the configuration says, the worker never signals itself, PID 1, its own
// ancestors or any other Murphy process on the host (the process family finds those in
// /proc), and the coordinators' addresses are always among ProtectedCIDRs.
//
// A Policy is a value; copies share the set of coordinator addresses learnt at run time
// (NoteCoordinator), so executors built from the agent's policy see every leader the
// agent followed.
type Policy struct {
	// Allowed lists the kinds this worker may inject. Empty allows every kind the worker
	// has an executor for, except "exec", which must always be named.
	Allowed []string
	// Denied lists kinds that are never injected, even if Allowed names them.
	Denied []string
	// MaxDuration caps how long any fault may stay active, whatever deadline the
	// coordinator sends. Zero means no cap beyond the assignment's own deadline.
	MaxDuration time.Duration

	// ProtectedPIDs, ProtectedNames and ProtectedPIDFiles name processes the process
	// family never signals, besides what is always protected (see Policy). A name matches a
	// process's /proc/PID/comm or the base name of its argv[0]; a pid file is read at
	// every check, so a restarted daemon stays protected.
	ProtectedPIDs     []int
	ProtectedNames    []string
	ProtectedPIDFiles []string
	// ProtectedNets are networks the network family never touches, besides the
	// coordinators (see ProtectedCIDRs).
	ProtectedNets []netip.Prefix
	// Coordinators are coordinator addresses (host:port or host) whose hosts are always
	// protected. The agent adds its configured coordinators.
	Coordinators []string
	// DiskPaths, when set, are the only directory trees stress.disk may fill.
	DiskPaths []string
	// Kubernetes limits what the Kubernetes kinds (pod.delete, node.*, workload.*) may
	// touch through the API server.
	Kubernetes KubernetesPolicy

	learnt *addrSet
}

type addrSet struct {
	mu    sync.Mutex
	addrs []string
}

// DefaultPolicy is the policy of a worker started without a policy file: every kind but
// exec, faults capped at an hour, sshd protected (so an operator can always log in),
// kube-system out of reach, plus what is always protected.
func DefaultPolicy() Policy {
	return Policy{MaxDuration: DefaultMaxDuration, ProtectedNames: []string{"sshd"},
		Kubernetes: KubernetesPolicy{DeniedNamespaces: []string{"kube-system"}}}
}

// OptInLabel and OptInValue mark the pods, namespaces, Deployments and nodes the
// Kubernetes kinds may act on, as kube-monkey's kube-monkey/enabled does.
const (
	OptInLabel = "murphy.io/chaos"
	OptInValue = "enabled"
)

// KubernetesPolicy is the part of a worker's policy that bounds its Kubernetes kinds. The
// zero value requires opt-in and allows every namespace.
type KubernetesPolicy struct {
	// AllowedNamespaces, when set, are the only namespaces whose objects may be touched.
	AllowedNamespaces []string
	// DeniedNamespaces are never touched, even if allowed (default: kube-system).
	DeniedNamespaces []string
	// NoOptIn lets the kinds act on objects that did not opt in: by default a pod or
	// Deployment is touched only if it or its namespace carries OptInLabel=OptInValue,
	// and a node only if it carries it.
	NoOptIn bool
}

// AllowsNamespace returns why objects in ns must not be touched, or nil.
func (k KubernetesPolicy) AllowsNamespace(ns string) error {
	if slices.Contains(k.DeniedNamespaces, ns) {
		return fmt.Errorf("namespace %q is denied by this worker's policy", ns)
	}
	if len(k.AllowedNamespaces) > 0 && !slices.Contains(k.AllowedNamespaces, ns) {
		return fmt.Errorf("namespace %q is not allowed by this worker's policy (allowed: %s)",
			ns, strings.Join(k.AllowedNamespaces, ", "))
	}
	return nil
}

// OptedIn reports whether an object with objLabels, in a namespace with nsLabels (nil
// for cluster-scoped objects), may be touched as far as opt-in goes.
func (k KubernetesPolicy) OptedIn(objLabels, nsLabels map[string]string) bool {
	return k.NoOptIn || objLabels[OptInLabel] == OptInValue || nsLabels[OptInLabel] == OptInValue
}

// Allows reports whether the policy lets kind be injected; the error is the reason.
func (p Policy) Allows(kind string) error {
	if slices.Contains(p.Denied, kind) {
		return fmt.Errorf("fault kind %q is denied by this worker's policy", kind)
	}
	if len(p.Allowed) > 0 && !slices.Contains(p.Allowed, kind) {
		return fmt.Errorf("fault kind %q is not allowed by this worker's policy (allowed: %s)",
			kind, strings.Join(p.Allowed, ", "))
	}
	if catalogue.NeedsConsent(kind) && !slices.Contains(p.Allowed, kind) {
		return fmt.Errorf("fault kind %q runs arbitrary commands and is refused unless this worker's policy lists it under allow", kind)
	}
	return nil
}

// Deadline returns the earlier of the requested deadline and now+MaxDuration.
func (p Policy) Deadline(now, requested time.Time) time.Time {
	if p.MaxDuration > 0 {
		if limit := now.Add(p.MaxDuration); requested.IsZero() || limit.Before(requested) {
			return limit
		}
	}
	return requested
}

// ProtectsPID returns why pid must never be signalled, or nil.
func (p Policy) ProtectsPID(pid int) error {
	switch {
	case pid == 1:
		return errors.New("pid 1 (init) is always protected")
	case pid == os.Getpid():
		return fmt.Errorf("pid %d is the worker itself, which is always protected", pid)
	case slices.Contains(p.ProtectedPIDs, pid):
		return fmt.Errorf("pid %d is protected by this worker's policy", pid)
	}
	for _, f := range p.ProtectedPIDFiles {
		if n, err := ReadPIDFile(f); err == nil && n == pid {
			return fmt.Errorf("pid %d (from %s) is protected by this worker's policy", pid, f)
		}
	}
	return nil
}

// ProtectsName returns why processes called name must never be signalled, or nil.
func (p Policy) ProtectsName(name string) error {
	if slices.Contains(p.ProtectedNames, name) {
		return fmt.Errorf("process name %q is protected by this worker's policy", name)
	}
	return nil
}

// ReadPIDFile reads the decimal process id a daemon wrote to path.
func ReadPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("pid file %s does not hold a process id", path)
	}
	return n, nil
}

// WithCoordinators returns a copy that also protects addrs, and from which copies share
// the addresses later passed to NoteCoordinator.
func (p Policy) WithCoordinators(addrs []string) Policy {
	p.Coordinators = append(slices.Clip(p.Coordinators), addrs...)
	p.learnt = &addrSet{}
	return p
}

// NoteCoordinator protects one more coordinator address, e.g. a leader the agent was
// redirected to. It is a no-op on a policy not made by WithCoordinators. Safe for
// concurrent use.
func (p Policy) NoteCoordinator(addr string) {
	if p.learnt == nil || addr == "" {
		return
	}
	p.learnt.mu.Lock()
	defer p.learnt.mu.Unlock()
	if !slices.Contains(p.learnt.addrs, addr) {
		p.learnt.addrs = append(p.learnt.addrs, addr)
	}
}

// resolveTimeout bounds the name lookups of ProtectedCIDRs.
const resolveTimeout = 2 * time.Second

// ProtectedCIDRs returns the networks no network fault may touch: the configured ones
// plus every coordinator address as a single-host prefix, sorted and without duplicates.
// Coordinator host names are resolved on each call. The error names every coordinator
// that could not be resolved; the prefixes returned are still valid, but a network fault
// should be refused, since it could cut the worker from a coordinator it cannot see.
func (p Policy) ProtectedCIDRs() ([]netip.Prefix, error) {
	out := slices.Clone(p.ProtectedNets)
	addrs := slices.Clone(p.Coordinators)
	if p.learnt != nil {
		p.learnt.mu.Lock()
		addrs = append(addrs, p.learnt.addrs...)
		p.learnt.mu.Unlock()
	}
	var errs []error
	for _, a := range addrs {
		host := a
		if h, _, err := net.SplitHostPort(a); err == nil {
			host = h
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("coordinator %s: %w", a, err))
			continue
		}
		for _, ip := range ips {
			out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
		}
	}
	for i, pf := range out {
		out[i] = pf.Masked()
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	out = slices.Compact(out)
	if len(errs) > 0 {
		return out, fmt.Errorf("cannot resolve every coordinator address to protect it: %w", errors.Join(errs...))
	}
	return out, nil
}

// AllowsDiskPath returns why stress.disk may not fill dir, or nil. dir must be clean and
// absolute; symbolic links are resolved before the check.
func (p Policy) AllowsDiskPath(dir string) error {
	if len(p.DiskPaths) == 0 {
		return nil
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	for _, root := range p.DiskPaths {
		r, err := filepath.EvalSymlinks(root)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(r, real); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return nil
		}
	}
	return fmt.Errorf("%s is outside the directories this worker's policy lets stress.disk fill (%s)",
		dir, strings.Join(p.DiskPaths, ", "))
}

// policyFile is the YAML a worker operator writes; see LoadPolicy.
type policyFile struct {
	Allow       []string `yaml:"allow"`
	Deny        []string `yaml:"deny"`
	MaxDuration string   `yaml:"maxDuration"`
	Protect     struct {
		PIDs     []int    `yaml:"pids"`
		Names    []string `yaml:"names"`
		PIDFiles []string `yaml:"pidfiles"`
		CIDRs    []string `yaml:"cidrs"`
	} `yaml:"protect"`
	Stress struct {
		DiskPaths []string `yaml:"diskPaths"`
	} `yaml:"stress"`
	Kubernetes struct {
		Namespaces struct {
			Allow []string  `yaml:"allow"`
			Deny  *[]string `yaml:"deny"`
		} `yaml:"namespaces"`
		OptIn *bool `yaml:"optIn"`
	} `yaml:"kubernetes"`
}

// LoadPolicy reads a worker's policy file. The format:
//
//	allow: [process.kill, process.stop, stress.cpu, exec]  # default: every kind but exec
//	deny: [stress.disk]                                    # wins over allow
//	maxDuration: 30m                                       # default 1h
//	protect:
//	  names: [sshd, etcd]    # default [sshd]; the worker itself and PID 1 always
//	  pids: [4242]
//	  pidfiles: [/run/nginx.pid]
//	  cidrs: [10.0.0.0/8]    # the coordinators' addresses always
//	stress:
//	  diskPaths: [/var/tmp]  # default: anywhere
//	kubernetes:
//	  namespaces:
//	    allow: [shop]        # default: every namespace
//	    deny: [kube-system]  # default [kube-system]; wins over allow
//	  optIn: true            # default true: only objects (or namespaces) labelled murphy.io/chaos=enabled
//
// A key that is present replaces its default; an unknown key, an unknown fault kind or a
// malformed value is an error naming it.
func LoadPolicy(path string) (Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Policy{}, fmt.Errorf("policy: %w", err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return Policy{}, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy parses the policy file format of LoadPolicy.
func ParsePolicy(data []byte) (Policy, error) {
	var pf policyFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&pf); err != nil && !errors.Is(err, io.EOF) {
		return Policy{}, yamlError(err)
	}
	p := DefaultPolicy()
	var errs []error
	kinds := func(field string, ks []string) []string {
		for i, k := range ks {
			if _, ok := catalogue.Lookup(k); !ok {
				errs = append(errs, fmt.Errorf("%s[%d]: unknown fault kind %q (known: %s)", field, i, k, strings.Join(catalogue.Kinds(), ", ")))
			}
		}
		return ks
	}
	p.Allowed = kinds("allow", pf.Allow)
	p.Denied = kinds("deny", pf.Deny)
	if pf.MaxDuration != "" {
		d, err := time.ParseDuration(pf.MaxDuration)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("maxDuration: %q is not a positive duration (e.g. 30m)", pf.MaxDuration))
		}
		p.MaxDuration = d
	}
	if pf.Protect.Names != nil {
		p.ProtectedNames = nil
		for i, n := range pf.Protect.Names {
			if strings.TrimSpace(n) == "" {
				errs = append(errs, fmt.Errorf("protect.names[%d]: empty name", i))
			}
			p.ProtectedNames = append(p.ProtectedNames, n)
		}
	}
	for i, n := range pf.Protect.PIDs {
		if n <= 0 {
			errs = append(errs, fmt.Errorf("protect.pids[%d]: %d is not a process id", i, n))
		}
	}
	p.ProtectedPIDs = pf.Protect.PIDs
	for i, f := range pf.Protect.PIDFiles {
		if !filepath.IsAbs(f) {
			errs = append(errs, fmt.Errorf("protect.pidfiles[%d]: %q is not an absolute path", i, f))
		}
	}
	p.ProtectedPIDFiles = pf.Protect.PIDFiles
	for i, c := range pf.Protect.CIDRs {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			if ip, err2 := netip.ParseAddr(c); err2 == nil {
				pfx, err = netip.PrefixFrom(ip, ip.BitLen()), nil
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("protect.cidrs[%d]: %q is not a CIDR (e.g. 10.0.0.0/8) or an IP address", i, c))
			continue
		}
		p.ProtectedNets = append(p.ProtectedNets, pfx.Masked())
	}
	p.Kubernetes.AllowedNamespaces = pf.Kubernetes.Namespaces.Allow
	if pf.Kubernetes.Namespaces.Deny != nil {
		p.Kubernetes.DeniedNamespaces = *pf.Kubernetes.Namespaces.Deny
	}
	if pf.Kubernetes.OptIn != nil {
		p.Kubernetes.NoOptIn = !*pf.Kubernetes.OptIn
	}
	for i, d := range pf.Stress.DiskPaths {
		if !filepath.IsAbs(d) {
			errs = append(errs, fmt.Errorf("stress.diskPaths[%d]: %q is not an absolute path", i, d))
		}
		p.DiskPaths = append(p.DiskPaths, filepath.Clean(d))
	}
	return p, errors.Join(errs...)
}

var unknownField = regexp.MustCompile(`field (\S+) not found in type .*`)

// yamlError rewords the decoder's errors for the person who wrote the file: no Go types.
func yamlError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = unknownField.ReplaceAllString(m, `unknown key "$1" (known: allow, deny, maxDuration, `+
			`protect: {names, pids, pidfiles, cidrs}, stress: {diskPaths}, kubernetes: {namespaces: {allow, deny}, optIn})`)
		msgs[i] = strings.ReplaceAll(msgs[i], "!!", "")
	}
	return errors.New(strings.Join(msgs, "; "))
}

// Defaults of FleetLimits: generous enough for any experiment on a real host, small
// enough that a typo or a hostile "1TB" is refused before a worker has to judge it.
const (
	DefaultMaxStressMemory = 64 << 30 // 64 GiB
	DefaultMaxStressDisk   = 1 << 40  // 1 TiB
)

// FleetLimits are what a coordinator holds every step to at submission, on top of the
// catalogue's Decode. The catalogue says whether a step is well formed; these say
// whether a well-formed step would wreck the hosts it lands on instead of testing them:
// select every process, cut a host off from everyone, or take more memory or disk than
// the fleet's operators allow. Each worker still applies its own Policy; these exist so
// that such a spec is refused with a reason when it is submitted, not halfway through a
// run on the one worker whose policy happens to catch it.
type FleetLimits struct {
	// MaxStressMemory caps stress.memory's bytes; zero means DefaultMaxStressMemory.
	MaxStressMemory int64
	// MaxStressDisk caps stress.disk's bytes; zero means DefaultMaxStressDisk.
	MaxStressDisk int64
}

// cmdlineCanaries are command lines of unrelated processes every host runs. A cmdline
// pattern that matches all of them matches any process (".*", "^.*$", ".", "a*"): RE2
// cannot answer "matches everything?" directly, but a pattern aimed at one service
// fails on most of these. No canary is empty, because no selectable process has an empty
// command line (kernel threads never match), so ".+" counts as "everything" too.
var cmdlineCanaries = []string{
	"x",
	"/sbin/init",
	"/usr/sbin/sshd -D",
	"/usr/local/bin/murphy worker --id w1",
	"nginx: master process /usr/sbin/nginx",
	"/usr/bin/python3 -m http.server 8080",
}

// hostNetns matches the paths of PID 1's network namespace, which is the host's.
var hostNetns = regexp.MustCompile(`^/proc/1/(task/[0-9]+/)?ns/net$`)

// cutKinds are the network kinds that drop every matching packet, so with every peer
// selected they cut a namespace off; network.loss only at 100%.
var cutKinds = map[string]string{
	"network.partition": "a partition",
	"network.blackhole": "a blackhole",
	"network.loss":      "100% loss",
}

// systemDirs are trees stress.disk must not fill: a fill file there sits among the
// host's own files, on the file system the host boots and runs from (or, for /proc, /sys,
// /dev and /run, on a pseudo or memory file system). "/lib" stands for every top-level
// lib* directory (lib32, lib64, libx32).
var (
	systemDirs = []string{"/etc", "/usr", "/bin", "/sbin", "/lib", "/boot", "/proc", "/sys", "/dev", "/run"}
	libDir     = regexp.MustCompile(`^lib(32|64|x32)?$`)
)

// Judge returns why a step whose params the catalogue decoded is refused, and the
// parameter to blame ("" for the step as a whole). The reason does not repeat the kind or
// the parameter's name: the caller places it on the parameter. Decisions read the decoded
// parameters; messages quote written, the parameters as the spec wrote them.
func (l FleetLimits) Judge(decoded catalogue.Params, written map[string]string) (param string, err error) {
	switch p := decoded.(type) {
	case catalogue.ProcessKill:
		return checkSelection(p.ProcessSelector)
	case catalogue.ProcessStop:
		return checkSelection(p.ProcessSelector)
	case catalogue.Network:
		switch p.Kind {
		case "network.partition", "network.blackhole", "network.loss":
			return l.checkCut(p, written["cidrs"])
		}
	case catalogue.StressMemory:
		if max := l.maxMemory(); p.Bytes > max {
			return "bytes", fmt.Errorf("%s is more than this cluster lets stress.memory take on one host (%s; coordinator flag --max-stress-memory)", p.Size, FormatBytes(max))
		}
	case catalogue.StressDisk:
		if dir := p.Path; dir == "/" || systemDir(dir) != "" {
			what := "the root directory"
			if d := systemDir(dir); d != "" {
				what = "a system directory (under " + d + ")"
			}
			return "path", fmt.Errorf("%s is %s: stress.disk would fill the file system the host runs from among its own files; use a data directory such as /var/tmp", dir, what)
		}
		if max := l.maxDisk(); p.Bytes > max {
			return "bytes", fmt.Errorf("%s is more than this cluster lets stress.disk take on one host (%s; coordinator flag --max-stress-disk)", p.Size, FormatBytes(max))
		}
	}
	return "", nil
}

// checkSelection refuses a selection of every process, or of Murphy's own.
func checkSelection(s catalogue.ProcessSelector) (string, error) {
	// A name, pid or pid file narrows the selection whatever the pattern says.
	narrowed := s.Name != "" || s.PID != 0 || s.PIDFile != ""
	if s.Cmdline != nil && !narrowed && matchesAll(s.Cmdline, cmdlineCanaries) {
		return "cmdline", fmt.Errorf(`/%s/ matches any command line (even "x" and "/sbin/init"): it would select every process on the host; narrow it to the processes you mean`, s.Cmdline)
	}
	if s.Name == "murphy" {
		return "name", errors.New(`"murphy" names Murphy's own processes, which are always protected`)
	}
	return "", nil
}

// checkCut refuses a fault that drops all traffic of the host's network namespace with
// every peer. The worker keeps its coordinators reachable, but nothing else on the host
// would be: not the operators' SSH, not the services, not their health checks. cidrs is
// the peers as the spec wrote them.
func (l FleetLimits) checkCut(p catalogue.Network, cidrs string) (string, error) {
	if !hostNetns.MatchString(p.Netns) {
		return "", nil
	}
	if p.Kind == "network.loss" && p.Percent < 100 {
		return "", nil
	}
	// Only some ports, or protocols most services do not speak, leave the host reachable.
	if len(p.Ports) > 0 || p.Protocol == "udp" || p.Protocol == "icmp" {
		return "", nil
	}
	host := fmt.Sprintf("in the host's network namespace (%s) %s would cut the host off from everything, its operators' SSH included", p.Netns, cutKinds[p.Kind])
	if len(p.CIDRs) == 0 {
		return "netns", fmt.Errorf("no cidrs means every peer: %s; name the peers to cut off in params.cidrs", host)
	}
	if fam := coveredFamily(p.CIDRs); fam != "" {
		return "cidrs", fmt.Errorf("%s covers every %s peer: %s; name the peers to cut off", cidrs, fam, host)
	}
	return "", nil
}

func matchesAll(rx *regexp.Regexp, ss []string) bool {
	for _, s := range ss {
		if !rx.MatchString(s) {
			return false
		}
	}
	return true
}

// coveredFamily returns "IPv4" or "IPv6" when the prefixes together cover that whole
// address family ("0.0.0.0/1, 128.0.0.0/1" as much as "0.0.0.0/0"), or "".
func coveredFamily(ps []netip.Prefix) string {
	for _, fam := range []struct {
		name string
		is4  bool
		bits int
	}{{"IPv4", true, 32}, {"IPv6", false, 128}} {
		var own []netip.Prefix
		for _, p := range ps {
			if p.Addr().Is4() == fam.is4 {
				own = append(own, p.Masked())
			}
		}
		// Two prefixes either are disjoint or one holds the other, so summing the sizes
		// of those not inside a shorter one counts every address once.
		slices.SortFunc(own, func(a, b netip.Prefix) int { return a.Bits() - b.Bits() })
		var kept []netip.Prefix
		sum := new(big.Int)
		for _, p := range own {
			if slices.ContainsFunc(kept, func(k netip.Prefix) bool { return k.Overlaps(p) }) {
				continue
			}
			kept = append(kept, p)
			sum.Add(sum, new(big.Int).Lsh(big.NewInt(1), uint(fam.bits-p.Bits())))
		}
		if sum.Cmp(new(big.Int).Lsh(big.NewInt(1), uint(fam.bits))) == 0 {
			return fam.name
		}
	}
	return ""
}

// systemDir returns the system tree dir (clean, absolute) lies in, or "".
func systemDir(dir string) string {
	top, _, _ := strings.Cut(strings.TrimPrefix(dir, "/"), "/")
	for _, d := range systemDirs {
		if "/"+top == d || (d == "/lib" && libDir.MatchString(top)) {
			return "/" + top
		}
	}
	return ""
}

func (l FleetLimits) maxMemory() int64 {
	if l.MaxStressMemory > 0 {
		return l.MaxStressMemory
	}
	return DefaultMaxStressMemory
}

func (l FleetLimits) maxDisk() int64 {
	if l.MaxStressDisk > 0 {
		return l.MaxStressDisk
	}
	return DefaultMaxStressDisk
}

// FormatBytes renders n in the largest binary unit that keeps it whole, e.g. 64GiB.
func FormatBytes(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
