package action

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

func TestCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	proxy := strings.TrimPrefix(srv.URL, "http://")
	c := &Call{Proxy: func() string { return proxy }}

	tests := []struct {
		name    string
		params  map[string]string
		wantErr string
	}{
		{"get", map[string]string{"url": srv.URL + "/"}, ""},
		{"post with headers and body", map[string]string{"url": "http://{{proxy}}/x", "method": "POST", "body": "hi", "headers": `{"X-Test":"yes"}`}, ""},
		{"error status", map[string]string{"url": srv.URL + "/fail"}, "answered 503"},
		{"expected error status", map[string]string{"url": srv.URL + "/fail", "expectStatus": "503, 504"}, ""},
		{"status range", map[string]string{"url": srv.URL + "/fail", "expectStatus": "100-599"}, ""},
		{"bad range", map[string]string{"url": srv.URL, "expectStatus": "500-200"}, "empty range"},
		{"unexpected status", map[string]string{"url": srv.URL + "/", "expectStatus": "201"}, "answered 200, expected 201"},
		{"bad method", map[string]string{"url": srv.URL, "method": "FETCH"}, `params.method: "FETCH" is not one of`},
		{"bad url", map[string]string{"url": "ftp://x"}, "is not an http:// or https:// URL"},
		{"bad headers", map[string]string{"url": srv.URL, "headers": "X: y"}, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Decoded where the worker decodes an Assign, then injected.
			f, err := fault.New("a", "", 0, Kind, tt.params, time.Time{})
			if err == nil {
				err = c.Inject(context.Background(), f)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Inject: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Inject error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if !catalogue.IsInstant(Kind) {
		t.Error("http.call must be instantaneous")
	}
	noProxy := &Call{}
	if err := noProxy.Validate(catalogue.MustDecode(Kind, map[string]string{"url": "http://{{proxy}}/"})); err == nil {
		t.Error("{{proxy}} accepted on a worker without a proxy")
	}
}

func TestCallSendsMethodBodyAndHeaders(t *testing.T) {
	var method, body, header string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		method, body, header = r.Method, string(b), r.Header.Get("X-Test")
	}))
	defer srv.Close()
	err := (&Call{}).Inject(context.Background(), fault.Fault{Kind: Kind, Params: catalogue.MustDecode(Kind, map[string]string{
		"url": srv.URL, "method": "PUT", "body": `{"a":1}`, "headers": `{"X-Test":"yes"}`})})
	if err != nil {
		t.Fatal(err)
	}
	if method != "PUT" || body != `{"a":1}` || header != "yes" {
		t.Fatalf("server saw %s %q header %q", method, body, header)
	}
}
