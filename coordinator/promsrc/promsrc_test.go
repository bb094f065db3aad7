package promsrc

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRender(t *testing.T) {
	tests := []struct {
		query     string
		instances []string
		want      string
		err       string
	}{
		{`up{instance=~"{{.Instances}}"}`, []string{"127.0.0.1:9100", "h2"}, `up{instance=~"127\\.0\\.0\\.1:9100|h2"}`, ""},
		{`rate(x{group="{{.Group}}"}[1m])`, nil, `rate(x{group="control"}[1m])`, ""},
		{`up{instance=~"{{.Hosts}}"}`, nil, "", "can't evaluate field Hosts"},
		{`up{{`, nil, "", "query template"},
	}
	for _, tc := range tests {
		got, err := Render(tc.query, "control", tc.instances)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Render(%q) error %v, want %q", tc.query, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tc.query, got, err, tc.want)
		}
	}
}

// fakeAPI answers like Prometheus's HTTP API and records the request.
func fakeAPI(t *testing.T, body string, seen *http.Request) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*seen = *r.Clone(context.Background())
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDecodeAndAuth(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	pw := filepath.Join(dir, "pw")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	os.WriteFile(pw, []byte("hunter2"), 0o600)
	tests := []struct {
		name   string
		cfg    func(url string) Config
		body   string
		rng    bool
		want   string // fmt of the series
		auth   string
		errMsg string
	}{
		{"vector with bearer token", func(u string) Config { return Config{URL: u, BearerTokenFile: tok} },
			`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a"},"value":[1700000000.5,"0.25"]}]}}`,
			false, "map[instance:a] 0.25 1700000000500", "Bearer s3cret", ""},
		{"matrix with basic auth", func(u string) Config { return Config{URL: u, Username: "u", PasswordFile: pw} },
			`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}}`,
			true, "map[] 1 1000 2 2000", "Basic dTpodW50ZXIy", ""},
		{"scalar", func(u string) Config { return Config{URL: u} },
			`{"status":"success","data":{"resultType":"scalar","result":[3,"7"]}}`, false, "map[] 7 3000", "", ""},
		{"API error", func(u string) Config { return Config{URL: u} },
			`{"status":"error","errorType":"bad_data","error":"parse error at char 4"}`, false, "", "", "bad_data: parse error at char 4"},
		{"not an API", func(u string) Config { return Config{URL: u} }, `<html>`, false, "", "", "not an API response"},
		{"string result", func(u string) Config { return Config{URL: u} },
			`{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`, false, "", "", "not a number series"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen http.Request
			srv := fakeAPI(t, tc.body, &seen)
			c, err := New(tc.cfg(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			var ss []Series
			if tc.rng {
				ss, err = c.Range(context.Background(), "up", time.Unix(1, 0), time.Unix(2, 0), time.Second)
			} else {
				ss, err = c.Instant(context.Background(), "up", time.Unix(1700000000, 0))
			}
			if tc.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errMsg) {
					t.Fatalf("err = %v, want %q", err, tc.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, s := range ss {
				fmt.Fprint(&b, s.Labels)
				for _, p := range s.Points {
					fmt.Fprintf(&b, " %g %d", p.Value, p.At.UnixMilli())
				}
			}
			if b.String() != tc.want {
				t.Errorf("series %q, want %q", b.String(), tc.want)
			}
			if got := seen.Header.Get("Authorization"); got != tc.auth {
				t.Errorf("Authorization %q, want %q", got, tc.auth)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{URL: "prometheus:9090"}, {URL: "ftp://x"}, {URL: "http://x", Username: "u"}, {URL: "http://x", BearerTokenFile: "/nonexistent"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestDropsInstance(t *testing.T) {
	tests := []struct {
		query string
		want  string // a substring of the reason; "" when it keeps the label
	}{
		{`up{job="demo",instance=~"{{.Instances}}"}`, ""},
		{`sum by (instance) (rate(http_requests_total{instance=~"{{.Instances}}"}[30s]))`, ""},
		{`sum(rate(x{instance=~"a|b"}[30s])) by (job, instance)`, ""},
		{`max without (cpu) (node_load1)`, ""},
		{`topk(3, x)`, ""},
		{`rate(errors[1m]) / on (instance) rate(requests[1m])`, ""},
		{`a / on (job) group_left b`, ""},
		{`sum(rate(x{instance=~"{{.Instances}}"}[30s]))`, "sum(...) without a by clause"},
		{`AVG(x)`, "avg(...) without a by clause"},
		{`histogram_quantile(0.99, sum by (le) (rate(h_bucket{instance=~"a"}[1m])))`, "sum by (le)"},
		{`sum(x) by (job)`, "sum by (job)"},
		{`avg without (instance) (x)`, "avg without (instance)"},
		{`a / on (job) b`, "on (job) matches one to one"},
		{`a / ignoring (instance) b`, "ignoring (instance)"},
		// Words inside strings, matchers and comments are not keywords.
		{`x{name="sum(y)", by="z"} # sum(x)`, ""},
		{`x{instance=~"sum|count"}`, ""},
	}
	for _, tc := range tests {
		got := DropsInstance(tc.query)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("DropsInstance(%q) = %q, want %q", tc.query, got, tc.want)
		}
	}
}

func TestDependsOnGroup(t *testing.T) {
	for q, want := range map[string]bool{
		`x{group="{{.Group}}"}`:         true,
		`x{instance=~"{{.Instances}}"}`: false,
		`x{{`:                           false,
	} {
		if got := DependsOnGroup(q); got != want {
			t.Errorf("DependsOnGroup(%q) = %v, want %v", q, got, want)
		}
	}
}
