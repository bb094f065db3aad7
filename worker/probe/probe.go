package probe

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/client-go/kubernetes"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// The measures a probe can report. Every sample of a failed check has Ok false and the
// value given here.
const (
	MeasureLatency     = "latency"      // seconds the check took; on failure, until it failed
	MeasureSuccess     = "success"      // 1 when the check succeeded, else 0
	MeasureStatus      = "status"       // http: the status code; 0 when no response arrived
	MeasureStatusClass = "status_class" // http: status/100; 0 when no response arrived
	MeasureExitCode    = "exit_code"    // command: the exit code; -1 when it never exited on its own
	MeasureNumber      = "number"       // command: the last number on stdout; 0 on failure
)

// The probe kinds, named as in the spec.
const (
	KindHTTP    = "http"
	KindTCP     = "tcp"
	KindGRPC    = "grpc"
	KindCommand = "command"
)

// measures lists what each kind reports; the first is the default.
var measures = map[string][]string{
	KindHTTP:    {MeasureLatency, MeasureStatus, MeasureStatusClass, MeasureSuccess},
	KindTCP:     {MeasureLatency, MeasureSuccess},
	KindGRPC:    {MeasureLatency, MeasureSuccess},
	KindCommand: {MeasureLatency, MeasureSuccess, MeasureExitCode, MeasureNumber},
	KindKubernetes: {MeasureReadyReplicas, MeasureReadyFraction, MeasureRestarts, MeasureTimeToRecover,
		MeasureSuccess, MeasureLatency},
}

// ProxyPlaceholder in a probe URL, address or command argument is replaced by the
// host:port of the worker's first proxy, so workers sharing a host each probe through
// their own proxy.
const ProxyPlaceholder = "{{proxy}}"

// TargetPlaceholder in a probe URL or tcp or grpc address is replaced by the address of
// the run's unit the probe is for (a pod's IP; an IPv6 address in brackets, so that
// "{{target}}:8080" stays host:port), so one probe checks each pod of a run from the
// pod's own node. Command probes see the address and the unit's ID in the environment
// instead, as MURPHY_TARGET and MURPHY_UNIT.
const TargetPlaceholder = "{{target}}"

// The environment variables that tell a command probe which unit it is for.
const (
	EnvTarget = "MURPHY_TARGET"
	EnvUnit   = "MURPHY_UNIT"
)

// noAddress stands in for the address of a unit that has none, so the probe's syntax is
// still checked; a probe that needs it then fails every check without sending anything.
const noAddress = "unit-without-address.invalid"

const (
	defaultInterval = time.Second
	minInterval     = 10 * time.Millisecond
	maxTimeout      = 10 * time.Second
	maxBody         = 1 << 20  // bytes read from a response before it is cut off
	maxMatch        = 64 << 10 // bytes of a response body a body_match or json_path sees
	maxOutput       = 64 << 10 // bytes of a command's stdout kept for number or json_path
	maxHeaders      = 64       // headers one HTTP probe sends
	maxHeaderValue  = 8 << 10  // bytes of one header value, what common servers accept
	maxRequestBody  = 64 << 10 // bytes of the body an HTTP probe sends, every interval
)

// Sink receives every sample; it is called concurrently from the probes' goroutines.
type Sink func(metric string, s *murphyv1.Sample)

// Options configures a probe Set.
type Options struct {
	// Proxy replaces ProxyPlaceholder; empty makes probes that use it invalid.
	Proxy string
	// Transport carries the HTTP probes' requests; nil means a private keep-alive
	// transport.
	Transport http.RoundTripper
	// AllowCommands lets command probes run. A command probe runs any program the
	// worker's user can, so it is refused unless the worker's own policy says so.
	AllowCommands bool
	// Kubernetes is the worker's API client; nil makes kubernetes probes invalid.
	Kubernetes kubernetes.Interface
	// Unit is the run's unit the probes are for when it is not the worker itself (a
	// pod): its address replaces TargetPlaceholder. nil makes probes that use it invalid.
	Unit *murphyv1.Target
}

// spec is one validated probe.
type spec struct {
	metric   string
	kind     string
	measure  string
	interval time.Duration
	timeout  time.Duration
	// unaddressed: the probe needs the unit's address and the unit has none, so every
	// check fails at once.
	unaddressed bool

	// http
	method    string
	url       string
	header    http.Header
	host      string // overrides the URL's host in the request, from a Host header
	reqBody   string
	expect    []int32
	bodyMatch *regexp.Regexp
	// http (on the body), command (on stdout)
	jsonPath *jsonCheck
	// tcp, grpc
	address string
	service string
	// command
	path string   // argv[0] resolved in PATH
	argv []string // as sent, placeholder replaced
	env  []string
	// kubernetes
	kubeNamespace string
	kubeWorkload  catalogue.Workload
}

// Validate checks probes the way Start would, without starting anything. It looks up
// command probes' programs, so its answer is about this worker.
func Validate(probes []*murphyv1.Probe, opts Options) error {
	_, err := compile(probes, opts)
	return err
}

func compile(probes []*murphyv1.Probe, opts Options) ([]spec, error) {
	if len(probes) == 0 {
		return nil, errors.New("no probes")
	}
	seen := map[string]bool{}
	out := make([]spec, 0, len(probes))
	for i, p := range probes {
		s := spec{metric: p.GetMetric(), measure: p.GetMeasure(), interval: defaultInterval}
		where := fmt.Sprintf("probes[%d] (%s)", i, s.metric)
		if s.metric == "" {
			return nil, fmt.Errorf("probes[%d]: metric is required", i)
		}
		if seen[s.metric] {
			return nil, fmt.Errorf("%s: metric named twice; sequence numbers are per metric", where)
		}
		seen[s.metric] = true
		if d := p.GetInterval(); d != nil {
			s.interval = d.AsDuration()
		}
		if s.interval < minInterval {
			return nil, fmt.Errorf("%s: interval %s is below %s", where, s.interval, minInterval)
		}
		s.timeout = min(s.interval, maxTimeout)
		if d := p.GetTimeout(); d != nil {
			if s.timeout = d.AsDuration(); s.timeout <= 0 {
				return nil, fmt.Errorf("%s: timeout %s must be positive", where, s.timeout)
			}
		}
		var err error
		switch k := p.GetKind().(type) {
		case *murphyv1.Probe_Http:
			s.kind = KindHTTP
			err = s.compileHTTP(k.Http, opts)
		case *murphyv1.Probe_Tcp:
			s.kind = KindTCP
			err = s.compileAddress(k.Tcp.GetAddress(), opts)
		case *murphyv1.Probe_Grpc:
			s.kind = KindGRPC
			err = s.compileAddress(k.Grpc.GetAddress(), opts)
			s.service = k.Grpc.GetService()
		case *murphyv1.Probe_Command:
			s.kind = KindCommand
			err = s.compileCommand(k.Command, opts)
		case *murphyv1.Probe_Kubernetes:
			s.kind = KindKubernetes
			err = s.compileKubernetes(k.Kubernetes, opts)
		default:
			return nil, fmt.Errorf("%s: no probe kind; set http, tcp, grpc, command or kubernetes", where)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		known := measures[s.kind]
		if s.measure == "" {
			s.measure = known[0]
		}
		if !slices.Contains(known, s.measure) {
			return nil, fmt.Errorf("%s: measure %q does not apply to a %s probe (known: %s)",
				where, s.measure, s.kind, strings.Join(known, ", "))
		}
		out = append(out, s)
	}
	return out, nil
}

func replaceProxy(s, proxy string) (string, error) {
	if !strings.Contains(s, ProxyPlaceholder) {
		return s, nil
	}
	if proxy == "" {
		return "", fmt.Errorf("%q uses %s but this worker runs no proxy", s, ProxyPlaceholder)
	}
	return strings.ReplaceAll(s, ProxyPlaceholder, proxy), nil
}

// replacePlaceholders replaces both placeholders in a URL or address; addressed is false
// when it needs the unit's address and the unit has none.
func replacePlaceholders(s string, opts Options) (out string, addressed bool, err error) {
	if s, err = replaceProxy(s, opts.Proxy); err != nil {
		return "", false, err
	}
	if !strings.Contains(s, TargetPlaceholder) {
		return s, true, nil
	}
	if opts.Unit == nil {
		return "", false, fmt.Errorf("%q uses %s, a unit's address, but this run's units are the workers themselves", s, TargetPlaceholder)
	}
	host, addressed := opts.Unit.GetAddress(), true
	if host == "" {
		host, addressed = noAddress, false
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return strings.ReplaceAll(s, TargetPlaceholder, host), addressed, nil
}

func (s *spec) compileHTTP(h *murphyv1.HTTPProbe, opts Options) error {
	s.method = http.MethodGet
	if h.GetMethod() != "" {
		s.method = strings.ToUpper(h.GetMethod())
	}
	var err error
	var addressed bool
	if s.url, addressed, err = replacePlaceholders(h.GetUrl(), opts); err != nil {
		return err
	}
	s.unaddressed = !addressed
	u, err := url.Parse(s.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q is not an http(s) URL", s.url)
	}
	for _, c := range h.GetExpectStatus() {
		if c < 100 || c > 599 {
			return fmt.Errorf("expect_status %d is not an HTTP status", c)
		}
	}
	s.expect = slices.Clone(h.GetExpectStatus())
	if m := h.GetBodyMatch(); m != "" {
		if s.bodyMatch, err = regexp.Compile(m); err != nil {
			return fmt.Errorf("body_match: %w", err)
		}
	}
	if err := s.compileHeaders(h.GetHeaders()); err != nil {
		return err
	}
	if n := len(h.GetBody()); n > maxRequestBody {
		return fmt.Errorf("body is %d bytes; the limit is %d", n, maxRequestBody)
	}
	s.reqBody = h.GetBody()
	s.jsonPath, err = compileJSONPath(h.GetJsonPath())
	return err
}

// compileHeaders checks names and values by the rules net/http sends by, so a bad
// header fails here rather than on every request. Host is honoured the way net/http
// takes it, as the request's Host; the framing headers follow from the body.
func (s *spec) compileHeaders(headers map[string]string) error {
	if len(headers) > maxHeaders {
		return fmt.Errorf("%d headers; the limit is %d", len(headers), maxHeaders)
	}
	s.header = http.Header{}
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		v := headers[k]
		ck := http.CanonicalHeaderKey(k)
		switch {
		case !validHeaderName(k):
			return fmt.Errorf("header %q: not a valid header name", k)
		case !validHeaderValue(v):
			return fmt.Errorf("header %s: the value holds a control character", k)
		case len(v) > maxHeaderValue:
			return fmt.Errorf("header %s: the value is %d bytes; the limit is %d", k, len(v), maxHeaderValue)
		case ck == "Content-Length" || ck == "Transfer-Encoding" || ck == "Trailer":
			return fmt.Errorf("header %s: set from the body; leave it out", k)
		case s.header[ck] != nil:
			return fmt.Errorf("header %s: given twice (names are case-insensitive)", k)
		case ck == "Host":
			s.host = v
		}
		s.header[ck] = []string{v}
	}
	return nil
}

// validHeaderName reports whether k is an RFC 9110 token, as net/http requires.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters but tab, which is how a value could
// smuggle a second header or end the header block.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func (s *spec) compileAddress(a string, opts Options) error {
	a, addressed, err := replacePlaceholders(a, opts)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("address %q is not host:port", a)
	}
	if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address %q is not host:port with a port from 1 to 65535", a)
	}
	s.address, s.unaddressed = a, !addressed
	return nil
}

func (s *spec) compileCommand(c *murphyv1.CommandProbe, opts Options) error {
	if !opts.AllowCommands {
		return errors.New("command probes run programs, and this worker's policy does not allow them (its operator must allow the exec fault kind)")
	}
	if len(c.GetArgv()) == 0 || c.GetArgv()[0] == "" {
		return errors.New("command argv must name a program")
	}
	for _, a := range c.GetArgv() {
		a, err := replaceProxy(a, opts.Proxy)
		if err != nil {
			return err
		}
		s.argv = append(s.argv, a)
	}
	path, err := exec.LookPath(s.argv[0])
	if err != nil {
		return fmt.Errorf("command: %w", err)
	}
	s.path = path
	env := c.GetEnv()
	if u := opts.Unit; u != nil {
		// The unit's, whatever the probe's own env says: a spec cannot know them.
		env = maps.Clone(env)
		if env == nil {
			env = map[string]string{}
		}
		env[EnvTarget], env[EnvUnit] = u.GetAddress(), u.GetId()
	}
	s.env = commandEnv(env)
	for _, kv := range s.env {
		if strings.IndexByte(kv, 0) >= 0 || strings.IndexByte(kv, '=') < 1 {
			return fmt.Errorf("command env %q is not NAME=value", kv)
		}
	}
	s.jsonPath, err = compileJSONPath(c.GetJsonPath())
	return err
}

// commandEnv is the worker's PATH and HOME, LC_ALL=C (so numbers print with a decimal
// point) and the probe's own variables, which win; sorted, so every run is the same.
func commandEnv(extra map[string]string) []string {
	env := map[string]string{"LC_ALL": "C"}
	for _, k := range []string{"PATH", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	for k, v := range extra {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// checker takes one measurement of a probe under a context that carries its timeout.
// It reports whether the check succeeded and, for the kind's own measures (status,
// exit code, number), the value; latency and success are worked out by take. check is
// called from one goroutine at a time; close releases what the checker holds.
type checker interface {
	check(ctx context.Context) (ok bool, value float64)
	close()
}

// failing is the check of a probe whose unit has no address: it fails at once, as a
// check of an address nothing answers at would, and the sample says so.
type failing struct{}

func (failing) check(context.Context) (bool, float64) { return false, 0 }
func (failing) close()                                {}

// Set is the running probes of one run (of one unit of a run, with Options.Unit).
type Set struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	tr       *http.Transport // owned, closed on Stop; nil if the caller gave one
	checkers []checker
	once     sync.Once
}

// Start validates probes and starts each on its own interval, the first sample at once.
func Start(probes []*murphyv1.Probe, opts Options, sink Sink) (*Set, error) {
	specs, err := compile(probes, opts)
	if err != nil {
		return nil, err
	}
	s := &Set{}
	rt := opts.Transport
	if rt == nil {
		s.tr = &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true, Proxy: nil}
		rt = s.tr
	}
	client := &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a redirect is a status to measure, not to follow
	}}
	for _, sp := range specs {
		if sp.unaddressed {
			s.checkers = append(s.checkers, failing{})
			continue
		}
		var c checker
		switch sp.kind {
		case KindHTTP:
			c = &httpCheck{client: client, sp: sp}
		case KindTCP:
			c = tcpCheck(sp.address)
		case KindGRPC:
			c, err = newGRPCCheck(sp)
		case KindCommand:
			c = &commandCheck{sp: sp}
		case KindKubernetes:
			c, err = newKubeCheck(sp, opts.Kubernetes)
		}
		if err != nil {
			s.closeCheckers()
			if s.tr != nil {
				s.tr.CloseIdleConnections()
			}
			return nil, fmt.Errorf("probe %s: %w", sp.metric, err)
		}
		s.checkers = append(s.checkers, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for i, sp := range specs {
		c := s.checkers[i]
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			run(ctx, c, sp, sink)
		}()
	}
	return s, nil
}

// Stop stops every probe and waits for them; a probe in flight is cancelled and reports
// nothing. It is safe to call more than once.
func (s *Set) Stop() {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.closeCheckers()
		if s.tr != nil {
			s.tr.CloseIdleConnections()
		}
	})
}

func (s *Set) closeCheckers() {
	for _, c := range s.checkers {
		c.close()
	}
}

func run(ctx context.Context, c checker, sp spec, sink Sink) {
	t := time.NewTicker(sp.interval)
	defer t.Stop()
	var seq uint64
	for {
		sample, ok := take(ctx, c, sp)
		if !ok {
			return // cancelled mid-check
		}
		seq++
		sample.Seq = seq
		sink(sp.metric, sample)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func take(ctx context.Context, c checker, sp spec) (*murphyv1.Sample, bool) {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, sp.timeout)
	ok, value := c.check(cctx)
	cancel()
	if ctx.Err() != nil {
		return nil, false
	}
	elapsed := time.Since(start)
	s := &murphyv1.Sample{At: timestamppb.New(start), Ok: ok, Value: value}
	switch sp.measure {
	case MeasureLatency:
		s.Value = elapsed.Seconds()
	case MeasureSuccess:
		s.Value = 0
		if ok {
			s.Value = 1
		}
	}
	return s, true
}
