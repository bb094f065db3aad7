package httpfault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config configures one proxy.
type Config struct {
	// Listen is the address the proxy accepts clients on, e.g. 127.0.0.1:18080.
	Listen string
	// Upstream is the service behind the proxy, e.g. http://127.0.0.1:9000. Only plain
	// http is supported: the proxy forwards bytes, it does not terminate TLS.
	Upstream string
	Logger   *slog.Logger
}

// Rule is one active fault on a proxy.
type Rule struct {
	Kind   string // KindDelay or KindAbort
	Delay  time.Duration
	Jitter time.Duration
	Status int
	// Percent is the share of requests the rule hits, in (0,1].
	Percent float64
}

// Stats counts requests since the proxy started.
type Stats struct {
	Requests uint64
	Delayed  uint64
	Aborted  uint64
}

// Proxy is an HTTP/1.1 fault-injecting forwarder. Each client connection is paired with
// one upstream connection for its lifetime; the proxy reads only message heads and copies
// bodies by their framing. Faults are read with one atomic load per request, so applying
// or removing one takes effect at the next request boundary of every connection.
type Proxy struct {
	listen   string
	upstream string // host:port
	log      *slog.Logger
	ln       net.Listener

	rules atomic.Pointer[ruleSet]

	ctx    context.Context // canceled by Close; aborts dials and delays
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex // guards active, conns, closed
	active map[string]Rule
	conns  map[*conn]struct{}
	closed bool

	requests, delayed, aborted atomic.Uint64
}

// Listen opens the proxy's listener. Call Serve to accept clients and Close to stop.
func Listen(cfg Config) (*Proxy, error) {
	up, err := ParseUpstream(cfg.Upstream)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("proxy listen %s: %w", cfg.Listen, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Proxy{
		listen:   cfg.Listen,
		upstream: up,
		log:      log.With("proxy", ln.Addr().String()),
		ln:       ln,
		ctx:      ctx,
		cancel:   cancel,
		active:   map[string]Rule{},
		conns:    map[*conn]struct{}{},
	}, nil
}

// ParseUpstream checks an upstream URL and returns its host:port.
func ParseUpstream(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("proxy upstream %q: %w", s, err)
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("proxy upstream %q: scheme must be http (the proxy does not speak TLS)", s)
	}
	if u.Host == "" {
		return "", fmt.Errorf("proxy upstream %q: missing host", s)
	}
	if u.Path != "" && u.Path != "/" {
		return "", fmt.Errorf("proxy upstream %q: paths are not rewritten, give scheme://host:port only", s)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	return host, nil
}

// Addr returns the address the proxy listens on (with the real port if Listen used :0).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// ConfiguredAddr returns the listen address as configured, which is what fault params name.
func (p *Proxy) ConfiguredAddr() string { return p.listen }

// Stats returns the request counters.
func (p *Proxy) Stats() Stats {
	return Stats{Requests: p.requests.Load(), Delayed: p.delayed.Load(), Aborted: p.aborted.Load()}
}

// Serve accepts clients until Close. It returns nil after Close.
func (p *Proxy) Serve() error {
	var backoff time.Duration
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			if p.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				// Out of file descriptors or similar: wait rather than spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				p.log.Warn("proxy accept", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
				case <-p.ctx.Done():
					return nil
				}
				continue
			}
			return fmt.Errorf("proxy accept: %w", err)
		}
		backoff = 0
		c := newConn(p, nc)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			nc.Close()
			return nil
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go c.serve()
	}
}

// Close stops accepting, closes every connection and waits for their goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.cancel()
	err := p.ln.Close()
	for c := range p.conns {
		c.c.Close()
		if c.u != nil {
			c.u.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// Apply activates rule under id. Applying an id that is already active replaces its rule,
// so a repeated Assign does not stack. It costs a copy of the active set and one atomic
// store; connections see the change at their next request.
func (p *Proxy) Apply(id string, r Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active[id] = r
	p.rules.Store(compile(p.active))
}

// Remove deactivates id and reports whether it was active.
func (p *Proxy) Remove(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.active[id]; !ok {
		return false
	}
	delete(p.active, id)
	p.rules.Store(compile(p.active))
	return true
}

// Active reports whether id is active on this proxy.
func (p *Proxy) Active(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.active[id]
	return ok
}

// ruleSet is the immutable, precompiled form of the active rules. A nil set means no fault
// and costs the request path one pointer load and compare.
type ruleSet struct {
	delays []compiled
	aborts []compiled
}

type compiled struct {
	always    bool
	threshold uint64 // hit when rng.Uint64() < threshold
	delay     time.Duration
	jitter    int64
	// Preformatted abort responses, so an abort costs no allocation.
	keepAlive, closing []byte
}

func compile(active map[string]Rule) *ruleSet {
	if len(active) == 0 {
		return nil
	}
	rs := &ruleSet{}
	for _, r := range active {
		c := compiled{always: r.Percent >= 1, delay: r.Delay, jitter: int64(r.Jitter)}
		if !c.always {
			c.threshold = uint64(math.Ldexp(r.Percent, 64))
		}
		switch r.Kind {
		case KindDelay:
			rs.delays = append(rs.delays, c)
		case KindAbort:
			c.keepAlive = abortResponse(r.Status, false)
			c.closing = abortResponse(r.Status, true)
			rs.aborts = append(rs.aborts, c)
		}
	}
	return rs
}

func (c *compiled) hit(rng *rand.PCG) bool {
	return c.always || rng.Uint64() < c.threshold
}

func abortResponse(status int, closing bool) []byte {
	body := fmt.Sprintf("murphy: injected fault http.abort (status %d)\n", status)
	conn := ""
	if closing {
		conn = "Connection: close\r\n"
	}
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nX-Murphy-Fault: http.abort\r\n%s\r\n%s",
		status, statusText(status), len(body), conn, body)
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Injected Fault"
}
