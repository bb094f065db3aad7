package probe

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
)

// httpCheck sends one request with the probe's headers and body. It succeeds when the
// status is expected and, with a body_match, the first maxMatch bytes of the body match
// and, with a json_path, the body is JSON of at most maxMatch bytes on which it holds.
type httpCheck struct {
	client *http.Client
	sp     spec
}

func (h *httpCheck) check(ctx context.Context) (bool, float64) {
	status := 0
	matched := true
	var body io.Reader
	if h.sp.reqBody != "" {
		body = strings.NewReader(h.sp.reqBody)
	}
	req, err := http.NewRequestWithContext(ctx, h.sp.method, h.sp.url, body)
	if err == nil {
		// A clone per request: the transport may keep the request after Do returns.
		req.Header = h.sp.header.Clone()
		if h.sp.host != "" {
			req.Host = h.sp.host
		}
		var resp *http.Response
		if resp, err = h.client.Do(req); err == nil {
			status = resp.StatusCode
			if h.sp.bodyMatch != nil || h.sp.jsonPath != nil {
				// One byte past the bound tells a cut-off document, which must not be
				// read as JSON, from one that fits.
				var head []byte
				head, err = io.ReadAll(io.LimitReader(resp.Body, maxMatch+1))
				if err == nil && h.sp.bodyMatch != nil {
					matched = h.sp.bodyMatch.Match(head[:min(len(head), maxMatch)])
				}
				if err == nil && matched && h.sp.jsonPath != nil {
					matched = len(head) <= maxMatch && h.sp.jsonPath.holds(head)
				}
			}
			if err == nil {
				// Read the rest (up to a bound), so latency covers the whole response
				// and the connection can be reused.
				_, err = io.CopyN(io.Discard, resp.Body, maxBody)
				if err == io.EOF {
					err = nil
				}
			}
			resp.Body.Close()
		}
	}
	ok := err == nil && matched && expected(status, h.sp.expect)
	switch h.sp.measure {
	case MeasureStatus:
		return ok, float64(status)
	case MeasureStatusClass:
		return ok, float64(status / 100)
	}
	return ok, 0
}

func (h *httpCheck) close() {}

func expected(status int, expect []int32) bool {
	if len(expect) == 0 {
		return status >= 200 && status < 400
	}
	return slices.Contains(expect, int32(status))
}
