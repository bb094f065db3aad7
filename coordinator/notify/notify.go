package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Headers of every request.
const (
	HeaderSignature = "X-Murphy-Signature" // "sha256=" + hex HMAC-SHA256 of the body
	HeaderEvent     = "X-Murphy-Event"     // the event's kind, e.g. run.halted
	HeaderEventID   = "X-Murphy-Event-Id"  // the event's id, for deduplication
	HeaderAttempt   = "X-Murphy-Attempt"   // 1 for the first try
)

// Defaults for the zero values of Config.
const (
	DefaultAttempts       = 6
	DefaultBackoffMin     = time.Second
	DefaultBackoffMax     = time.Minute
	DefaultTimeout        = 10 * time.Second
	DefaultQueue          = 1000
	DefaultTakeoverMargin = 500 * time.Millisecond
	// recordLimit is how many finished deliveries Deliveries keeps.
	recordLimit = 256
)

// Config configures a Notifier.
type Config struct {
	// URLs receive every event.
	URLs []string
	// Secret signs bodies; empty sends them unsigned (no X-Murphy-Signature).
	Secret []byte
	Format Format
	// Attempts is the most tries per event and URL; BackoffMin and BackoffMax bound the
	// exponential wait between them.
	Attempts               int
	BackoffMin, BackoffMax time.Duration
	// Client posts the events; nil means one with DefaultTimeout.
	Client *http.Client
	// Queue is how many events wait per URL before new ones are dropped.
	Queue int
	// TakeoverMargin: see the package's DESIGN note.
	TakeoverMargin time.Duration
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
}

// Source is the committed state events are read from (*fsm.FSM). Both methods return
// copies the caller may keep, and are safe to call concurrently with Apply.
type Source interface {
	Run(id string) *murphyv1.Run
	Runs() []*murphyv1.Run
}

// Delivery is the outcome of one event at one URL.
type Delivery struct {
	EventID  string
	Kind     Kind
	RunID    string
	Endpoint string // scheme://host only
	// Result is delivered, failed (attempts exhausted or refused), dropped (queue full)
	// or abandoned (the node stopped first).
	Result   string
	Attempts int
	Status   int    // the last HTTP status, 0 if none came
	Error    string // the last error
	At       time.Time
}

// Notifier sends run events from the leader. Its methods are safe for concurrent use, and
// a nil *Notifier (no URLs configured) does nothing.
type Notifier struct {
	cfg Config
	log *slog.Logger
	m   *metrics
	eps []*endpoint

	mu      sync.Mutex
	src     Source // nil unless leading
	since   time.Time
	handled map[string]bool // event ids sent or skipped this term
	pending map[string]bool // runs changed since the last scan
	all     bool            // scan every run
	records []Delivery

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type endpoint struct {
	url   string
	label string // scheme://host
	queue chan job
}

type job struct {
	ev   Event
	body []byte
}

type metrics struct {
	deliveries *prometheus.CounterVec
	attempts   *prometheus.CounterVec
	events     *prometheus.CounterVec
	queued     *prometheus.GaugeVec
}

// New validates cfg and starts one sender per URL. It returns nil, nil when cfg names no
// URL. Close stops it.
func New(cfg Config) (*Notifier, error) {
	if len(cfg.URLs) == 0 {
		return nil, nil
	}
	if cfg.Format == "" {
		cfg.Format = FormatJSON
	}
	if _, err := ParseFormat(string(cfg.Format)); err != nil {
		return nil, err
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(DefaultBackoffMax, cfg.BackoffMin)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.TakeoverMargin == 0 {
		cfg.TakeoverMargin = DefaultTakeoverMargin
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	n := &Notifier{cfg: cfg, log: cfg.Logger.With("component", "notify"), handled: map[string]bool{},
		pending: map[string]bool{}, wake: make(chan struct{}, 1)}
	for _, raw := range cfg.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("webhook URL %q: want http(s)://host/path", redact(raw))
		}
		n.eps = append(n.eps, &endpoint{url: raw, label: u.Scheme + "://" + u.Host, queue: make(chan job, cfg.Queue)})
	}
	var err error
	if n.m, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	for _, ep := range n.eps {
		for _, r := range []string{"delivered", "failed", "dropped"} {
			n.m.deliveries.WithLabelValues(ep.label, r)
		}
		n.m.queued.WithLabelValues(ep.label)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.wg.Add(1)
	go n.scanLoop()
	for _, ep := range n.eps {
		n.wg.Add(1)
		go n.send(ep)
	}
	return n, nil
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murphy_webhook_deliveries_total",
			Help: "Run events finished per webhook endpoint, by result: delivered, failed (attempts exhausted or refused), dropped (queue full), abandoned (the coordinator stopped first).",
		}, []string{"endpoint", "result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murphy_webhook_attempts_total", Help: "HTTP requests made to webhook endpoints, by outcome (ok, error).",
		}, []string{"endpoint", "outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murphy_webhook_events_total", Help: "Run events this node queued for its webhooks while leading, by kind.",
		}, []string{"kind"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "murphy_webhook_queue_length", Help: "Events waiting to be delivered, per endpoint.",
		}, []string{"endpoint"}),
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.attempts, m.events, m.queued} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register webhook metrics: %w", err)
		}
	}
	return m, nil
}

// Changed tells the notifier the FSM applied a command about run ("" and all for
// cluster-wide changes). It never blocks: it is called from the FSM's Apply.
func (n *Notifier) Changed(run string, all bool) {
	if n == nil {
		return
	}
	n.mu.Lock()
	if n.src == nil {
		n.mu.Unlock()
		return
	}
	if all || run == "" {
		n.all = true
	} else {
		n.pending[run] = true
	}
	n.mu.Unlock()
	n.poke()
}

// Lead starts sending events read from src, for events stamped at or after won (less the
// takeover margin); won is when this node won the election. Call it once the leader's
// barrier has passed, so src holds everything earlier leaders committed.
func (n *Notifier) Lead(src Source, won time.Time) {
	if n == nil {
		return
	}
	n.mu.Lock()
	n.src, n.since, n.handled, n.all = src, won.Add(-n.cfg.TakeoverMargin), map[string]bool{}, true
	n.mu.Unlock()
	n.poke()
	n.log.Info("sending run events to webhooks", "since", n.since, "endpoints", len(n.eps))
}

// Follow stops reading new events; what is queued is still delivered.
func (n *Notifier) Follow() {
	if n == nil {
		return
	}
	n.mu.Lock()
	n.src, n.handled, n.pending, n.all = nil, map[string]bool{}, map[string]bool{}, false
	n.mu.Unlock()
}

// Close stops the notifier; events still queued or being retried are abandoned (and
// recorded as such).
func (n *Notifier) Close() {
	if n == nil {
		return
	}
	n.Follow()
	n.cancel()
	n.wg.Wait()
}

// Deliveries returns the most recent finished deliveries, oldest first.
func (n *Notifier) Deliveries() []Delivery {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Delivery(nil), n.records...)
}

func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Notifier) scanLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.wake:
		}
		n.scan()
	}
}

// scan reads the changed runs and queues the events not handled yet this term.
func (n *Notifier) scan() {
	n.mu.Lock()
	src, since, all, pending := n.src, n.since, n.all, n.pending
	n.all, n.pending = false, map[string]bool{}
	n.mu.Unlock()
	if src == nil {
		return
	}
	var runs []*murphyv1.Run
	if all {
		runs = src.Runs()
	} else {
		for id := range pending {
			if r := src.Run(id); r != nil {
				runs = append(runs, r)
			}
		}
	}
	for _, r := range runs {
		for _, ev := range Events(r) {
			n.mu.Lock()
			if n.src != src || n.handled[ev.ID] {
				// Leadership moved while scanning, or this term already saw the event.
				n.mu.Unlock()
				continue
			}
			n.handled[ev.ID] = true
			n.mu.Unlock()
			if ev.At.Before(since) {
				continue // committed under an earlier leader: its business (see DESIGN)
			}
			n.queue(ev)
		}
	}
}

func (n *Notifier) queue(ev Event) {
	b, err := Encode(ev, n.cfg.Format)
	if err != nil {
		n.log.Error("encode run event", "event", ev.ID, "err", err)
		return
	}
	n.m.events.WithLabelValues(string(ev.Kind)).Inc()
	for _, ep := range n.eps {
		select {
		case ep.queue <- job{ev: ev, body: b}:
			n.m.queued.WithLabelValues(ep.label).Set(float64(len(ep.queue)))
		default:
			n.finish(ep, ev, "dropped", 0, 0, errors.New("queue full"))
		}
	}
}

// send delivers ep's queue in order.
func (n *Notifier) send(ep *endpoint) {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			for {
				select {
				case j := <-ep.queue:
					n.finish(ep, j.ev, "abandoned", 0, 0, errors.New("coordinator stopped"))
				default:
					return
				}
			}
		case j := <-ep.queue:
			n.m.queued.WithLabelValues(ep.label).Set(float64(len(ep.queue)))
			n.deliver(ep, j)
		}
	}
}

// deliver posts one event with retries.
func (n *Notifier) deliver(ep *endpoint, j job) {
	var status int
	var lastErr error
	for attempt := 1; ; attempt++ {
		var retryAfter time.Duration
		var retry bool
		status, retryAfter, retry, lastErr = n.post(ep, j, attempt)
		if lastErr == nil {
			n.m.attempts.WithLabelValues(ep.label, "ok").Inc()
			n.finish(ep, j.ev, "delivered", attempt, status, nil)
			return
		}
		n.m.attempts.WithLabelValues(ep.label, "error").Inc()
		if !retry || attempt >= n.cfg.Attempts {
			n.finish(ep, j.ev, "failed", attempt, status, lastErr)
			return
		}
		wait := n.backoff(attempt)
		if retryAfter > wait {
			wait = min(retryAfter, n.cfg.BackoffMax)
		}
		n.log.Warn("webhook delivery failed; retrying", "endpoint", ep.label, "event", j.ev.ID, "attempt", attempt, "in", wait, "err", lastErr)
		t := time.NewTimer(wait)
		select {
		case <-n.ctx.Done():
			t.Stop()
			n.finish(ep, j.ev, "abandoned", attempt, status, lastErr)
			return
		case <-t.C:
		}
	}
}

// post makes one attempt. It returns the status, a Retry-After the receiver asked for,
// whether a failure is worth retrying, and the failure.
func (n *Notifier) post(ep *endpoint, j job, attempt int) (int, time.Duration, bool, error) {
	req, err := http.NewRequestWithContext(n.ctx, http.MethodPost, ep.url, bytes.NewReader(j.body))
	if err != nil {
		return 0, 0, false, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "murphy-webhook/1")
	req.Header.Set(HeaderEvent, string(j.ev.Kind))
	req.Header.Set(HeaderEventID, j.ev.ID)
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	if len(n.cfg.Secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(n.cfg.Secret, j.body))
	}
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		// The error may quote the URL, whose path can hold a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, 0, true, fmt.Errorf("post: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, 0, false, nil
	}
	var after time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		after = time.Duration(s) * time.Second
	}
	retry := resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return resp.StatusCode, after, retry, fmt.Errorf("answered %s", resp.Status)
}

// backoff is the wait after the attempt-th failure: doubling from BackoffMin, at most
// BackoffMax, with the upper half jittered so retries from many nodes spread.
func (n *Notifier) backoff(attempt int) time.Duration {
	d := n.cfg.BackoffMin << min(attempt-1, 30)
	if d <= 0 || d > n.cfg.BackoffMax {
		d = n.cfg.BackoffMax
	}
	return d/2 + rand.N(d/2+1)
}

func (n *Notifier) finish(ep *endpoint, ev Event, result string, attempts, status int, err error) {
	d := Delivery{EventID: ev.ID, Kind: ev.Kind, RunID: ev.Run.GetId(), Endpoint: ep.label, Result: result,
		Attempts: attempts, Status: status, At: time.Now()}
	if err != nil {
		d.Error = err.Error()
	}
	n.m.deliveries.WithLabelValues(ep.label, result).Inc()
	n.mu.Lock()
	n.records = append(n.records, d)
	if len(n.records) > recordLimit {
		n.records = n.records[len(n.records)-recordLimit:]
	}
	n.mu.Unlock()
	log := n.log.With("endpoint", ep.label, "event", ev.ID, "attempts", attempts, "status", status)
	switch result {
	case "delivered":
		log.Info("webhook delivered")
	default:
		log.Error("webhook not delivered", "result", result, "err", d.Error)
	}
}

// Sign returns the X-Murphy-Signature value of body: "sha256=" and the hex HMAC-SHA256.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header is body's signature under secret, in constant time. A
// receiver written in Go can use it as is.
func Verify(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

// redact keeps a URL's scheme and host.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host + "/…"
	}
	return "…"
}
