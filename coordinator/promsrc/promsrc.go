// Package promsrc reads steady-state metrics from Prometheus for the leader: instant
// queries every interval for the guardrails, and a range query over the baseline and the
// fault window for the verdict (so samples lost with a previous leader are not lost for
// the analysis). A spec's query is a template rendered with the instances it selects;
// its result series carry an instance label, which the runner reads each series' target
// from. DropsInstance tells, where the text shows it, when a query aggregates that
// label away.
package promsrc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Config says where Prometheus is and how to authenticate.
type Config struct {
	URL string
	// BearerTokenFile, or Username with PasswordFile, authenticate every request. Secrets
	// are read from files so they never appear in specs, flags or the replicated log.
	BearerTokenFile string
	Username        string
	PasswordFile    string
	// Timeout bounds each query (default 5s).
	Timeout time.Duration
}

// Client queries one Prometheus server. Safe for concurrent use.
type Client struct {
	base    *url.URL
	http    *http.Client
	timeout time.Duration
	auth    func(*http.Request)
}

// New checks cfg and reads the credentials.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus: URL %q must be http(s)://host[:port]", cfg.URL)
	}
	c := &Client{base: u, http: &http.Client{}, timeout: cfg.Timeout, auth: func(*http.Request) {}}
	if c.timeout == 0 {
		c.timeout = 5 * time.Second
	}
	switch {
	case cfg.BearerTokenFile != "":
		tok, err := readSecret(cfg.BearerTokenFile)
		if err != nil {
			return nil, err
		}
		c.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	case cfg.Username != "":
		pw, err := readSecret(cfg.PasswordFile)
		if err != nil {
			return nil, err
		}
		c.auth = func(r *http.Request) { r.SetBasicAuth(cfg.Username, pw) }
	}
	return c, nil
}

func readSecret(path string) (string, error) {
	if path == "" {
		return "", errors.New("prometheus: a username needs a password file")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("prometheus: read secret: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Point is one value of one series.
type Point struct {
	At    time.Time
	Value float64
}

// Series is a labelled list of points (one point for an instant query).
type Series struct {
	Labels map[string]string
	Points []Point
}

// Instant evaluates query at time at.
func (c *Client) Instant(ctx context.Context, query string, at time.Time) ([]Series, error) {
	q := url.Values{"query": {query}, "time": {fmtTime(at)}}
	return c.get(ctx, "/api/v1/query", q)
}

// Range evaluates query over [start, end] every step.
func (c *Client) Range(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	if step <= 0 {
		return nil, errors.New("prometheus: range step must be positive")
	}
	q := url.Values{"query": {query}, "start": {fmtTime(start)}, "end": {fmtTime(end)}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	return c.get(ctx, "/api/v1/query_range", q)
}

func fmtTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64)
}

type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

type sample [2]json.RawMessage // [unix seconds, "value"]

func (c *Client) get(ctx context.Context, path string, q url.Values) ([]Series, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base.JoinPath(path)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", c.base.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: read: %w", c.base.Host, err)
	}
	var ar apiResponse
	if err := json.Unmarshal(body, &ar); err != nil {
		return nil, fmt.Errorf("prometheus %s: HTTP %d, not an API response: %.200s", c.base.Host, resp.StatusCode, body)
	}
	if ar.Status != "success" {
		return nil, fmt.Errorf("prometheus %s: %s: %s", c.base.Host, ar.ErrorType, ar.Error)
	}
	return decode(ar.Data.ResultType, ar.Data.Result)
}

func decode(kind string, raw json.RawMessage) ([]Series, error) {
	switch kind {
	case "vector":
		var rs []struct {
			Metric map[string]string `json:"metric"`
			Value  sample            `json:"value"`
		}
		if err := json.Unmarshal(raw, &rs); err != nil {
			return nil, fmt.Errorf("prometheus: decode vector: %w", err)
		}
		out := make([]Series, 0, len(rs))
		for _, r := range rs {
			p, err := r.Value.point()
			if err != nil {
				return nil, err
			}
			out = append(out, Series{Labels: r.Metric, Points: []Point{p}})
		}
		return out, nil
	case "matrix":
		var rs []struct {
			Metric map[string]string `json:"metric"`
			Values []sample          `json:"values"`
		}
		if err := json.Unmarshal(raw, &rs); err != nil {
			return nil, fmt.Errorf("prometheus: decode matrix: %w", err)
		}
		out := make([]Series, 0, len(rs))
		for _, r := range rs {
			s := Series{Labels: r.Metric}
			for _, v := range r.Values {
				p, err := v.point()
				if err != nil {
					return nil, err
				}
				s.Points = append(s.Points, p)
			}
			out = append(out, s)
		}
		return out, nil
	case "scalar":
		var v sample
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("prometheus: decode scalar: %w", err)
		}
		p, err := v.point()
		if err != nil {
			return nil, err
		}
		return []Series{{Points: []Point{p}}}, nil
	}
	return nil, fmt.Errorf("prometheus: result type %q is not a number series", kind)
}

func (s sample) point() (Point, error) {
	var ts float64
	var val string
	if err := json.Unmarshal(s[0], &ts); err != nil {
		return Point{}, fmt.Errorf("prometheus: bad timestamp: %w", err)
	}
	if err := json.Unmarshal(s[1], &val); err != nil {
		return Point{}, fmt.Errorf("prometheus: bad value: %w", err)
	}
	v, err := strconv.ParseFloat(val, 64)
	if err != nil {
		return Point{}, fmt.Errorf("prometheus: bad value %q", val)
	}
	sec, frac := math.Modf(ts)
	return Point{At: time.Unix(int64(sec), int64(frac*1e9)).UTC(), Value: v}, nil
}

// Render fills a spec's query template. {{.Instances}} is a regex alternation of the
// instances to select (every member's, or one group's) for use inside a quoted PromQL string with =~
// (`instance=~"{{.Instances}}"`): regex metacharacters are escaped, and the escapes are
// escaped again because PromQL strings read backslashes. {{.Group}} is "control" or
// "experiment".
func Render(query, group string, instances []string) (string, error) {
	t, err := template.New("query").Option("missingkey=error").Parse(query)
	if err != nil {
		return "", fmt.Errorf("query template: %w", err)
	}
	quoted := make([]string, len(instances))
	for i, in := range instances {
		quoted[i] = strings.ReplaceAll(regexp.QuoteMeta(in), `\`, `\\`)
	}
	var b strings.Builder
	if err := t.Execute(&b, struct {
		Instances string
		Group     string
	}{strings.Join(quoted, "|"), group}); err != nil {
		return "", fmt.Errorf("query template: %w", err)
	}
	return b.String(), nil
}
