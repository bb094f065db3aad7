package action

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/murphy-chaos/murphy/worker/fault"
)

// Kind is the fault kind of Call.
const Kind = "http.call"

// Call sends one HTTP request at inject. Revert has nothing to do.
type Call struct {
	// Client sends the requests; http.DefaultClient's transport when nil.
	Client *http.Client
	// Proxy returns the host:port of the worker's own fault proxy, which {{proxy}} in a
	// URL stands for; "" when the worker runs none.
	Proxy func() string
}

var _ fault.Executor = (*Call)(nil)

// Kind implements fault.Executor.
func (*Call) Kind() string { return Kind }

// Validate implements fault.Executor.
func (c *Call) Validate(params map[string]string) error {
	if err := fault.Validate(Kind, params); err != nil {
		return err
	}
	if strings.Contains(params["url"], "{{proxy}}") && c.proxy() == "" {
		return fmt.Errorf("%s: params.url uses {{proxy}} but this worker runs no proxy", Kind)
	}
	return nil
}

func (c *Call) proxy() string {
	if c.Proxy == nil {
		return ""
	}
	return c.Proxy()
}

// Describe implements fault.Executor.
func (*Call) Describe(params map[string]string) string {
	m := params["method"]
	if m == "" {
		m = "GET"
	}
	return fmt.Sprintf("http.call: %s %s", m, params["url"])
}

// Inject implements fault.Executor: it sends the request and fails when no answer
// arrives in time or its status is not accepted. A resent assignment sends again; the
// worker never passes the same assignment twice.
func (c *Call) Inject(ctx context.Context, f fault.Fault) error {
	if err := c.Validate(f.Params); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, fault.Duration(f.Params, Kind, "timeout"))
	defer cancel()
	url := strings.ReplaceAll(f.Params["url"], "{{proxy}}", c.proxy())
	method := f.Params["method"]
	if method == "" {
		method = "GET"
	}
	var body io.Reader
	if b := f.Params["body"]; b != "" {
		body = bytes.NewReader([]byte(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return fmt.Errorf("%s: %w", Kind, err)
	}
	headers, _ := fault.ParseHeaders(f.Params["headers"])
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := c.Client
	if client == nil {
		client = &http.Client{}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %s %s: %w", Kind, method, url, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if want := f.Params["expectStatus"]; want != "" {
		accepted, _ := fault.ParseStatuses(want)
		if !fault.StatusAccepted(accepted, resp.StatusCode) {
			return fmt.Errorf("%s: %s %s answered %d, expected %s", Kind, method, url, resp.StatusCode, want)
		}
	} else if resp.StatusCode >= 400 {
		return fmt.Errorf("%s: %s %s answered %d", Kind, method, url, resp.StatusCode)
	}
	return nil
}

// Revert implements fault.Executor: a request cannot be taken back.
func (*Call) Revert(context.Context, fault.Fault) error { return nil }
