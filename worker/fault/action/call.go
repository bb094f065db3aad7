package action

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
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
func (c *Call) Validate(p catalogue.Params) error {
	call, ok := p.(catalogue.HTTPCall)
	if !ok {
		return fmt.Errorf("%s: params of type %T", Kind, p)
	}
	if strings.Contains(call.URL, "{{proxy}}") && c.proxy() == "" {
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

// Inject implements fault.Executor: it sends the request and fails when no answer
// arrives in time or its status is not accepted. A resent assignment sends again; the
// worker never passes the same assignment twice.
func (c *Call) Inject(ctx context.Context, f fault.Fault) error {
	if err := c.Validate(f.Params); err != nil {
		return err
	}
	p := f.Params.(catalogue.HTTPCall)
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	url := strings.ReplaceAll(p.URL, "{{proxy}}", c.proxy())
	var body io.Reader
	if p.Body != "" {
		body = strings.NewReader(p.Body)
	}
	req, err := http.NewRequestWithContext(ctx, p.Method, url, body)
	if err != nil {
		return fmt.Errorf("%s: %w", Kind, err)
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	client := c.Client
	if client == nil {
		client = &http.Client{}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %s %s: %w", Kind, p.Method, url, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if p.Expect != nil {
		if !catalogue.StatusAccepted(p.Expect, resp.StatusCode) {
			return fmt.Errorf("%s: %s %s answered %d, expected %s", Kind, p.Method, url, resp.StatusCode, p.ExpectText)
		}
	} else if resp.StatusCode >= 400 {
		return fmt.Errorf("%s: %s %s answered %d", Kind, p.Method, url, resp.StatusCode)
	}
	return nil
}

// Revert implements fault.Executor: a request cannot be taken back.
func (*Call) Revert(context.Context, fault.Fault) error { return nil }
