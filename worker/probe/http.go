package probe

import (
	"context"
	"io"
	"net/http"
	"slices"
)

// httpCheck sends one request. It succeeds when the status is expected and, with a
// body_match, the first maxMatch bytes of the body match.
type httpCheck struct {
	client *http.Client
	sp     spec
}

func (h *httpCheck) check(ctx context.Context) (bool, float64) {
	status := 0
	matched := true
	req, err := http.NewRequestWithContext(ctx, h.sp.method, h.sp.url, nil)
	if err == nil {
		var resp *http.Response
		if resp, err = h.client.Do(req); err == nil {
			status = resp.StatusCode
			if h.sp.body != nil {
				var head []byte
				head, err = io.ReadAll(io.LimitReader(resp.Body, maxMatch))
				matched = err == nil && h.sp.body.Match(head)
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
