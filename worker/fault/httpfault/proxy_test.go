package httpfault

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixture is an upstream with a few handlers, the proxy in front of it, and a client
// that keeps connections alive.
type fixture struct {
	up      *httptest.Server
	p       *Proxy
	client  *http.Client
	base    string
	newConn atomic.Int64 // upstream connections accepted
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		w.Write(big)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := range 50 {
			fmt.Fprintf(w, "chunk-%02d;", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // until the client hangs up
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	f.up = httptest.NewUnstartedServer(mux)
	f.up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.newConn.Add(1)
		}
	}
	f.up.Start()
	t.Cleanup(f.up.Close)
	p, err := Listen(Config{Listen: "127.0.0.1:0", Upstream: f.up.URL})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	done := make(chan error, 1)
	go func() { done <- p.Serve() }()
	tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
	f.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	f.base = "http://" + p.Addr()
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		p.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return f
}

func (f *fixture) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := f.client.Get(f.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s body: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

func TestProxyForwards(t *testing.T) {
	f := newFixture(t)
	payload := bytes.Repeat([]byte("murphy"), 1<<20) // 6 MiB
	sum := fmt.Sprintf("%d %x", len(payload), sha256.Sum256(payload))
	bigSum := sha256.Sum256(bytes.Repeat([]byte("0123456789abcdef"), 1<<19))
	tests := []struct {
		name     string
		req      func() *http.Request
		status   int
		body     string
		bodyHash [32]byte // checked instead of body when set
	}{
		{"get", func() *http.Request { r, _ := http.NewRequest("GET", f.base+"/hello", nil); return r }, 200, "hello", [32]byte{}},
		{"post content-length", func() *http.Request {
			r, _ := http.NewRequest("POST", f.base+"/echo", bytes.NewReader(payload))
			return r
		}, 200, sum, [32]byte{}},
		{"post chunked", func() *http.Request {
			r, _ := http.NewRequest("POST", f.base+"/echo", io.MultiReader(bytes.NewReader(payload))) // unknown length
			return r
		}, 200, sum, [32]byte{}},
		{"post expect continue", func() *http.Request {
			r, _ := http.NewRequest("POST", f.base+"/echo", bytes.NewReader(payload))
			r.Header.Set("Expect", "100-continue")
			return r
		}, 200, sum, [32]byte{}},
		{"large response", func() *http.Request { r, _ := http.NewRequest("GET", f.base+"/big", nil); return r }, 200, "", bigSum},
		{"chunked response", func() *http.Request { r, _ := http.NewRequest("GET", f.base+"/chunked", nil); return r }, 200, chunks(50), [32]byte{}},
		{"head", func() *http.Request { r, _ := http.NewRequest("HEAD", f.base+"/big", nil); return r }, 200, "", [32]byte{}},
		{"no content", func() *http.Request { r, _ := http.NewRequest("GET", f.base+"/nocontent", nil); return r }, 204, "", [32]byte{}},
		{"upstream closes", func() *http.Request { r, _ := http.NewRequest("GET", f.base+"/close", nil); return r }, 200, "bye", [32]byte{}},
		{"not found", func() *http.Request { r, _ := http.NewRequest("GET", f.base+"/missing", nil); return r }, 404, "404 page not found\n", [32]byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 3 { // again on the kept-alive connection
				resp, err := f.client.Do(tt.req())
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
				}
				if tt.bodyHash != [32]byte{} {
					if sha256.Sum256(b) != tt.bodyHash {
						t.Fatalf("body of %d bytes corrupted", len(b))
					}
				} else if string(b) != tt.body {
					t.Fatalf("body %.80q, want %.80q", b, tt.body)
				}
			}
		})
	}
}

func chunks(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "chunk-%02d;", i)
	}
	return b.String()
}

func TestProxyKeepAlive(t *testing.T) {
	f := newFixture(t)
	for range 50 {
		if code, _ := f.get(t, "/hello"); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if n := f.newConn.Load(); n != 1 {
		t.Fatalf("upstream saw %d connections for 50 sequential keep-alive requests, want 1", n)
	}
}

func TestProxyStreamsBeforeResponseEnds(t *testing.T) {
	f := newFixture(t)
	resp, err := f.client.Get(f.base + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first;" {
		t.Fatalf("first chunk %q, %v", buf, err)
	}
}

func TestProxyRawFraming(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		send string
		want string // prefix of the status line
	}{
		{"pipelined", "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200"},
		{"http/1.0", "GET /hello HTTP/1.0\r\n\r\n", "HTTP/1.0 200"},
		{"smuggling shape", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400"},
		{"folded header", "GET /hello HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "HTTP/1.1 400"},
		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 505"},
		{"garbage", "hello\r\n\r\n", "HTTP/1.1 400"},
		{"huge header", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 20000) + "\r\n\r\n", "HTTP/1.1 431"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", f.p.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(line, tt.want) {
				t.Fatalf("status line %q, want %q", line, tt.want)
			}
		})
	}
}

func TestProxyUpgradeTunnels(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // an upstream that switches protocols and then echoes
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		io.Copy(c, r)
	}()
	p, err := Listen(Config{Listen: "127.0.0.1:0", Upstream: "http://" + ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve()
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	r := bufio.NewReader(c)
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "HTTP/1.1 101") {
		t.Fatalf("status line %q", l)
	}
	for {
		if l, err := r.ReadString('\n'); err != nil || l == "\r\n" {
			break
		}
	}
	io.WriteString(c, "ping over the tunnel")
	buf := make([]byte, len("ping over the tunnel"))
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "ping over the tunnel" {
		t.Fatalf("echo %q, %v", buf, err)
	}
}

func TestProxyUpstreamDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	p, err := Listen(Config{Listen: "127.0.0.1:0", Upstream: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve()
	defer p.Close()
	resp, err := http.Get("http://" + p.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
}

func TestDelay(t *testing.T) {
	f := newFixture(t)
	const delay = 80 * time.Millisecond
	f.get(t, "/hello") // connection established before the fault, as in a live service
	f.p.Apply("a1", Rule{Kind: KindDelay, Delay: delay, Percent: 1})
	for range 3 {
		start := time.Now()
		if code, body := f.get(t, "/hello"); code != 200 || body != "hello" {
			t.Fatalf("delayed request: %d %q", code, body)
		}
		if el := time.Since(start); el < delay {
			t.Fatalf("request took %v with a %v delay", el, delay)
		}
	}
	if !f.p.Remove("a1") {
		t.Fatal("Remove: a1 not active")
	}
	if f.p.Remove("a1") {
		t.Fatal("second Remove reported a1 active")
	}
	start := time.Now()
	f.get(t, "/hello")
	if el := time.Since(start); el >= delay {
		t.Fatalf("request took %v after the delay was removed", el)
	}
}

func TestJitterBounds(t *testing.T) {
	rs := compile(map[string]Rule{"j": {Kind: KindDelay, Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, Percent: 1}})
	c := &conn{}
	c.rng.Seed(1, 2)
	r := &rs.delays[0]
	for range 10000 {
		d := r.delay + time.Duration(int64(c.rng.Uint64()%uint64(2*r.jitter+1))-r.jitter)
		if d < 40*time.Millisecond || d > 60*time.Millisecond {
			t.Fatalf("delay %v outside 50ms ± 10ms", d)
		}
	}
}

func TestAbortPercent(t *testing.T) {
	tests := []struct {
		name    string
		percent float64
		status  int
	}{
		{"all", 1, 503},
		{"thirty percent", 0.3, 500},
		{"one in ten", 0.1, 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.p.Apply("abort", Rule{Kind: KindAbort, Status: tt.status, Percent: tt.percent})
			const n = 2000
			aborted := 0
			for range n {
				code, body := f.get(t, "/hello")
				switch {
				case code == tt.status:
					aborted++
				case code != 200 || body != "hello":
					t.Fatalf("unexpected %d %q", code, body)
				}
			}
			// Binomial: allow five standard deviations either side.
			mean := n * tt.percent
			sd := max(1, 5*math.Sqrt(n*tt.percent*(1-tt.percent)))
			if float64(aborted) < mean-sd || float64(aborted) > mean+sd {
				t.Fatalf("%d of %d aborted, want %.0f ± %.0f", aborted, n, mean, sd)
			}
			if n := f.newConn.Load(); n > 1 {
				t.Fatalf("aborts broke keep-alive: %d upstream connections", n)
			}
		})
	}
}

func TestAbortWithBodyKeepsConnection(t *testing.T) {
	f := newFixture(t)
	f.p.Apply("abort", Rule{Kind: KindAbort, Status: 503, Percent: 1})
	for range 5 {
		resp, err := f.client.Post(f.base+"/echo", "text/plain", strings.NewReader(strings.Repeat("x", 100000)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("X-Murphy-Fault") != "http.abort" {
			t.Fatalf("status %d, fault header %q", resp.StatusCode, resp.Header.Get("X-Murphy-Fault"))
		}
	}
	f.p.Remove("abort")
	if code, body := f.get(t, "/hello"); code != 200 || body != "hello" {
		t.Fatalf("after revert: %d %q", code, body)
	}
}

func TestConcurrentApplyWhileServing(t *testing.T) {
	f := newFixture(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := rand.New(rand.NewPCG(1, 1))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprint("f", r.IntN(4))
			if i%2 == 0 {
				f.p.Apply(id, Rule{Kind: KindAbort, Status: 503, Percent: 0.5})
			} else {
				f.p.Remove(id)
			}
		}
	}()
	for range 300 {
		if code, _ := f.get(t, "/hello"); code != 200 && code != 503 {
			t.Errorf("status %d", code)
		}
	}
	close(stop)
	<-done
}
