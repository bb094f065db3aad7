package catalogue

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxCallTimeout bounds one http.call request, inside the worker's bound on an executor
// call, like the exec kind's commands.
const maxCallTimeout = 9 * time.Second

// callMethods are the methods http.call sends.
var callMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// ParseHeaders reads http.call's headers: a JSON object of strings.
func ParseHeaders(s string) (map[string]string, error) {
	h := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return h, nil
	}
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		return nil, fmt.Errorf("%q is not a JSON object of strings: %v", s, err)
	}
	return h, nil
}

// ParseStatuses reads http.call's expectStatus: status codes and inclusive ranges
// separated by commas ("200,404" or "200-299"), as accepted [low, high] pairs.
func ParseStatuses(s string) ([][2]int, error) {
	var out [][2]int
	code := func(v string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 100 || n > 599 {
			return 0, fmt.Errorf("%q is not an HTTP status between 100 and 599", strings.TrimSpace(v))
		}
		return n, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := code(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = code(hi); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("%q is an empty range", strings.TrimSpace(part))
			}
		}
		out = append(out, [2]int{a, b})
	}
	return out, nil
}

// StatusAccepted reports whether status falls in one of the accepted ranges.
func StatusAccepted(accepted [][2]int, status int) bool {
	for _, r := range accepted {
		if status >= r[0] && status <= r[1] {
			return true
		}
	}
	return false
}

// HTTPCall is http.call's parameters.
type HTTPCall struct {
	// URL may hold {{proxy}}, which the worker replaces with its own proxy's address.
	URL     string
	Method  string
	Headers map[string]string
	Body    string
	Timeout time.Duration
	// Expect are the accepted statuses as [low, high] ranges; nil means any below 400.
	Expect [][2]int
	// ExpectText is Expect as written, for messages.
	ExpectText string
}

func (p HTTPCall) String() string { return fmt.Sprintf("http.call: %s %s", p.Method, p.URL) }

func checkCallURL(v string) error {
	u, err := url.Parse(strings.ReplaceAll(v, "{{proxy}}", "proxy.invalid:1"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL with a host", v)
	}
	return nil
}

func init() {
	register(Kind{
		Name: "http.call",
		Summary: "send one HTTP request from the worker and check the answer's status " +
			"(an action, such as a Chaos Toolkit http activity); nothing to revert",
		Instant: true,
		Needs:   "nothing: every worker offers it",
		Reverts: "nothing: a request cannot be taken back",
		Params: []Param{
			{Name: "url", Type: TypeString, Required: true, Parse: check(checkCallURL),
				Help: "http:// or https:// URL; {{proxy}} stands for the worker's own fault proxy"},
			{Name: "method", Type: TypeString, Default: "GET", Parse: check(func(v string) error {
				if !slices.Contains(callMethods, v) {
					return fmt.Errorf("%q is not one of %s", v, strings.Join(callMethods, ", "))
				}
				return nil
			}), Help: "request method"},
			{Name: "headers", Type: TypeString, Parse: func(v string) (any, error) { return ParseHeaders(v) },
				Help: `request headers as a JSON object, e.g. {"Accept":"application/json"}`},
			{Name: "body", Type: TypeString, Help: "request body, sent as is"},
			{Name: "timeout", Type: TypeDuration, Default: "5s", Min: int64(time.Millisecond), Max: int64(maxCallTimeout),
				Help: "the request is abandoned after this long, at most 9s"},
			{Name: "expectStatus", Type: TypeString, Parse: func(v string) (any, error) { return ParseStatuses(v) },
				Help: "accepted status codes and ranges separated by commas, e.g. 200,204 or 100-599; default any status below 400"},
		},
		decode: func(v values) (Params, error) {
			p := HTTPCall{URL: v.str("url"), Method: v.str("method"), Headers: value[map[string]string](v, "headers"),
				Body: v.str("body"), Timeout: v.dur("timeout"), Expect: value[[][2]int](v, "expectStatus")}
			if p.Expect != nil {
				p.ExpectText = v.raw("expectStatus")
			}
			return p, nil
		},
	})
}
