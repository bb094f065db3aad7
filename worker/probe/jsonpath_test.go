package probe

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// check builds a JSONPathCheck; expect holds plain Go values (structpb's shapes).
func check(path string, count *int32, expect ...any) *murphyv1.JSONPathCheck {
	c := &murphyv1.JSONPathCheck{Path: path, Count: count}
	for _, e := range expect {
		v, err := structpb.NewValue(e)
		if err != nil {
			panic(err)
		}
		c.Expect = append(c.Expect, v)
	}
	return c
}

func jsonProbe(measure, url string, c *murphyv1.JSONPathCheck) *murphyv1.Probe {
	p := httpProbe("json", measure, url)
	p.GetHttp().JsonPath = c
	return p
}

const healthJSON = `{"status": "ok", "version": 3, "ready": true, "error": null,
 "deps": [{"name": "db", "up": true}, {"name": "cache", "up": false}]}`

func TestHTTPProbeJSONPath(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, healthJSON)
		case "/down":
			w.WriteHeader(503)
			fmt.Fprint(w, healthJSON)
		case "/html":
			fmt.Fprint(w, "<html><body>ok</body></html>")
		case "/big":
			// Valid JSON, but longer than what the probe reads.
			fmt.Fprintf(w, `{"pad": %q, "status": "ok"}`, strings.Repeat("x", maxMatch))
		}
	}))
	defer srv.Close()
	u := srv.URL
	tests := []struct {
		name    string
		probe   *murphyv1.Probe
		wantOK  bool
		measure float64
	}{
		{"match", jsonProbe("success", u+"/health", check("$.status", nil)), true, 1},
		{"no match", jsonProbe("success", u+"/health", check("$.missing", nil)), false, 0},
		{"null is a match", jsonProbe("success", u+"/health", check("$.error", nil)), true, 1},
		{"expect a string", jsonProbe("success", u+"/health", check("$.status", nil, "ok")), true, 1},
		{"expect another string", jsonProbe("success", u+"/health", check("$.status", nil, "degraded")), false, 0},
		{"expect a number", jsonProbe("success", u+"/health", check("$.version", nil, 3)), true, 1},
		{"expect a number, not its text", jsonProbe("success", u+"/health", check("$.version", nil, "3")), false, 0},
		{"expect a list, in order", jsonProbe("success", u+"/health", check("$.deps[*].name", nil, "db", "cache")), true, 1},
		{"expect a list, out of order", jsonProbe("success", u+"/health", check("$.deps[*].name", nil, "cache", "db")), false, 0},
		{"expect fewer than selected", jsonProbe("success", u+"/health", check("$.deps[*].name", nil, "db")), false, 0},
		{"expect an object", jsonProbe("success", u+"/health", check("$.deps[0]", nil, map[string]any{"name": "db", "up": true})), true, 1},
		{"filter", jsonProbe("success", u+"/health", check("$.deps[?@.up == false].name", nil, "cache")), true, 1},
		{"count", jsonProbe("success", u+"/health", check("$.deps[*]", proto.Int32(2))), true, 1},
		{"count differs", jsonProbe("success", u+"/health", check("$.deps[*]", proto.Int32(1))), false, 0},
		{"count 0 of a missing field", jsonProbe("success", u+"/health", check("$.errors", proto.Int32(0))), true, 1},
		{"count 0 of a present field", jsonProbe("success", u+"/health", check("$.error", proto.Int32(0))), false, 0},
		{"count and expect both hold", jsonProbe("success", u+"/health", check("$.status", proto.Int32(1), "ok")), true, 1},
		{"count holds, expect does not", jsonProbe("success", u+"/health", check("$.status", proto.Int32(1), "down")), false, 0},
		{"not JSON", jsonProbe("success", u+"/html", check("$.status", nil)), false, 0},
		{"not JSON, count 0", jsonProbe("success", u+"/html", check("$.error", proto.Int32(0))), false, 0},
		{"cut off at the bound", jsonProbe("success", u+"/big", check("$.status", nil)), false, 0},
		{"holds but the status is not accepted", jsonProbe("success", u+"/down", check("$.status", nil)), false, 0},
		{"status measure keeps the status", jsonProbe("status", u+"/health", check("$.missing", nil)), false, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAll(t, samples(t, tt.probe, Options{}, 2), tt.wantOK, eq(tt.measure))
		})
	}
}

// TestHTTPProbeSendsHeadersAndBody checks what the server receives.
func TestHTTPProbeSendsHeadersAndBody(t *testing.T) {
	type request struct {
		method, host, body string
		header             http.Header
		contentLength      int64
	}
	var (
		mu   sync.Mutex
		seen []request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, request{r.Method, r.Host, string(b), r.Header.Clone(), r.ContentLength})
		mu.Unlock()
	}))
	defer srv.Close()

	p := httpProbe("post", "success", srv.URL+"/orders")
	h := p.GetHttp()
	h.Method = "POST"
	h.Headers = map[string]string{
		"Content-Type":  "application/json",
		"authorization": "Bearer s3cr3t",
		"User-Agent":    "murphy-probe-test",
		"Host":          "orders.internal",
		"X-Empty":       "",
	}
	h.Body = `{"sku": "A-1", "qty": 2}`
	checkAll(t, samples(t, p, Options{}, 2), true, eq(1))

	mu.Lock()
	defer mu.Unlock()
	for i, r := range seen {
		want := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer s3cr3t", "User-Agent": "murphy-probe-test"}
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("request %d: header %s = %q, want %q", i, k, got, v)
			}
		}
		if _, ok := r.header["X-Empty"]; !ok {
			t.Errorf("request %d: the empty header was not sent: %v", i, r.header)
		}
		if r.method != "POST" || r.host != "orders.internal" || r.body != h.Body || r.contentLength != int64(len(h.Body)) {
			t.Errorf("request %d: %s host %q body %q length %d", i, r.method, r.host, r.body, r.contentLength)
		}
	}
}

func TestCommandProbeJSONPath(t *testing.T) {
	sh := func(script string) []string { return []string{"sh", "-c", script} }
	const doc = `echo '{"queue": {"depth": 7, "consumers": ["a", "b"]}}'`
	big := `printf '{"pad": "'; i=0; while [ $i -lt 9000 ]; do printf 'xxxxxxxx'; i=$((i+1)); done; printf '", "ok": true}'`
	tests := []struct {
		name    string
		measure string
		argv    []string
		check   *murphyv1.JSONPathCheck
		wantOK  bool
		value   float64
	}{
		{"match", "success", sh(doc), check("$.queue.depth", nil), true, 1},
		{"no match", "success", sh(doc), check("$.queue.lag", nil), false, 0},
		{"expect", "success", sh(doc), check("$.queue.depth", nil, 7), true, 1},
		{"expect differs", "success", sh(doc), check("$.queue.depth", nil, 8), false, 0},
		{"count", "success", sh(doc), check("$.queue.consumers[*]", proto.Int32(2)), true, 1},
		{"count differs", "success", sh(doc), check("$.queue.consumers[*]", proto.Int32(3)), false, 0},
		{"not JSON", "success", sh("echo depth=7"), check("$.queue", nil), false, 0},
		{"JSON but exit 1", "success", sh(doc + "; exit 1"), check("$.queue.depth", nil), false, 0},
		{"exit code 0 but no match", "exit_code", sh(doc), check("$.queue.lag", nil), false, 0},
		{"number needs the check", "number", sh(doc + "; echo 42"), check("$.queue", nil), false, 0},
		{"number with a check that holds", "number", sh(`echo '{"depth": 42}'`), check("$.depth", nil, 42), true, 42},
		{"stdout past the bound", "success", sh(big), check("$.ok", nil), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := probeOf(tt.measure, &murphyv1.CommandProbe{Argv: tt.argv, JsonPath: tt.check})
			p.Timeout = durationpb.New(5 * time.Second)
			checkAll(t, samples(t, p, Options{AllowCommands: true}, 2), tt.wantOK, eq(tt.value))
		})
	}
}

func TestHead(t *testing.T) {
	h := &head{max: 5}
	h.Write([]byte("abc"))
	h.Write([]byte("de"))
	if string(h.buf) != "abcde" || h.cut {
		t.Fatalf("head %q cut %v", h.buf, h.cut)
	}
	if n, _ := h.Write([]byte("f")); n != 1 || string(h.buf) != "abcde" || !h.cut {
		t.Fatalf("head %q cut %v n %d", h.buf, h.cut, n)
	}
}
