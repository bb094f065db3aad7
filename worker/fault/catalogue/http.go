package catalogue

import (
	"fmt"
	"time"
)

// HTTPDelay is http.delay's parameters.
type HTTPDelay struct {
	Delay, Jitter time.Duration
	// Fraction is the share of requests affected, in (0,1].
	Fraction float64
	// Proxy is the listen address of the one proxy to act on; "" for every proxy.
	Proxy string
}

// HTTPAbort is http.abort's parameters.
type HTTPAbort struct {
	Status int
	// Fraction is the share of requests affected, in (0,1].
	Fraction float64
	// Proxy is the listen address of the one proxy to act on; "" for every proxy.
	Proxy string
}

func proxyName(p string) string {
	if p == "" {
		return "every proxy"
	}
	return "proxy " + p
}

func (p HTTPDelay) String() string {
	s := fmt.Sprintf("delay %s", p.Delay)
	if p.Jitter > 0 {
		s += fmt.Sprintf(" ± %s", p.Jitter)
	}
	return fmt.Sprintf("%s on %g%% of HTTP requests through %s", s, p.Fraction*100, proxyName(p.Proxy))
}

func (p HTTPAbort) String() string {
	return fmt.Sprintf("answer %d to %g%% of HTTP requests through %s", p.Status, p.Fraction*100, proxyName(p.Proxy))
}

const httpNeeds = "an HTTP fault proxy (murphy worker --proxy listen=...,upstream=...)"

const httpReverts = "the worker removes the rule from its proxy; the proxy dies with the worker, so a crash ends it too"

func init() {
	percent := Param{Name: "percent", Type: TypePercent, Default: "100",
		Help: "share of requests affected, in (0,100]"}
	proxy := Param{Name: "proxy", Type: TypeAddr,
		Help: "listen address of one proxy; default every proxy of the worker"}
	register(
		Kind{
			Name:    "http.delay",
			Summary: "delay requests passing through the worker's HTTP fault proxy",
			Needs:   httpNeeds,
			Reverts: httpReverts,
			Params: []Param{
				{Name: "delay", Type: TypeDuration, Required: true, Min: 1, Max: int64(maxFaultDelay),
					Help: "added latency, e.g. 200ms"},
				{Name: "jitter", Type: TypeDuration, Default: "0s", Min: 0, Max: int64(maxFaultDelay),
					Help: "each request gets delay ± a uniform jitter, clamped at zero"},
				percent, proxy,
			},
			decode: func(v values) (Params, error) {
				return HTTPDelay{Delay: v.dur("delay"), Jitter: v.dur("jitter"), Fraction: v.percent("percent") / 100, Proxy: v.str("proxy")}, nil
			},
		},
		Kind{
			Name:    "http.abort",
			Summary: "answer requests passing through the worker's HTTP fault proxy with an error status",
			Needs:   httpNeeds,
			Reverts: httpReverts,
			Params: []Param{
				{Name: "status", Type: TypeInt, Required: true, Min: 100, Max: 599,
					Help: "HTTP status to answer with, e.g. 503"},
				percent, proxy,
			},
			decode: func(v values) (Params, error) {
				return HTTPAbort{Status: int(v.int("status")), Fraction: v.percent("percent") / 100, Proxy: v.str("proxy")}, nil
			},
		},
	)
}
