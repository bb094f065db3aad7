package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/murphy-chaos/murphy/internal/tlsutil"
)

// benchPKI is the bench's throwaway CA and the certificates issued from it: one per
// coordinator, an admin's for the halt, and one per worker (a worker certificate is bound
// to its worker's ID), issued as the sizes need them and kept for the later sizes.
type benchPKI struct {
	dir     string
	mu      sync.Mutex
	workers []credentials.TransportCredentials
}

func newBenchPKI(dir string) (*benchPKI, error) {
	if err := tlsutil.InitCA(dir, 24*time.Hour); err != nil {
		return nil, err
	}
	return &benchPKI{dir: dir}, nil
}

func (p *benchPKI) files(role, name string) (tlsutil.Files, error) {
	crt, key, err := tlsutil.Issue(p.dir, p.dir, role, name, nil, 24*time.Hour, time.Time{})
	return tlsutil.Files{CA: filepath.Join(p.dir, "ca.crt"), Cert: crt, Key: key}, err
}

func (p *benchPKI) client(role, name string) (credentials.TransportCredentials, error) {
	f, err := p.files(role, name)
	if err != nil {
		return nil, err
	}
	cfg, err := tlsutil.ClientConfig(f)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

// issueWorkers makes sure the first n workers have certificates, issuing on every core.
func (p *benchPKI) issueWorkers(n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	have := len(p.workers)
	if n <= have {
		return nil
	}
	p.workers = append(p.workers, make([]credentials.TransportCredentials, n-have)...)
	errs := make(chan error, n-have)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := p.client(tlsutil.RoleWorker, benchWorkerID(i))
				if err != nil {
					errs <- err
					continue
				}
				p.workers[i] = c
			}
		}()
	}
	for i := have; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs // nil when the channel is empty
}

func benchWorkerID(i int) string { return fmt.Sprintf("bw-%05d", i) }

// benchNode is one coordinator process of the bench's cluster.
type benchNode struct {
	id, grpc, raft, http string
	cmd                  *exec.Cmd
	done                 chan struct{}
}

// benchCluster is the coordinators under test: separate processes of this binary on
// loopback, as users run them (mutual TLS with --tls).
type benchCluster struct {
	nodes  []*benchNode
	leader *benchNode
	pki    *benchPKI // nil without TLS
	http   *http.Client
	scheme string
}

func startBenchCluster(ctx context.Context, dir string, nodes int, pki *benchPKI) (*benchCluster, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &benchCluster{pki: pki, http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}, scheme: "http"}
	if pki != nil {
		// The nodes serve /metrics over HTTPS with their certificates.
		b, err := os.ReadFile(filepath.Join(pki.dir, "ca.crt"))
		if err != nil {
			return nil, err
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(b)
		c.http.Transport = &http.Transport{MaxIdleConnsPerHost: 8, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}}
		c.scheme = "https"
	}
	for i := range nodes {
		n := &benchNode{id: fmt.Sprintf("n%d", i+1), done: make(chan struct{})}
		for _, a := range []*string{&n.grpc, &n.raft, &n.http} {
			if *a, err = freePort(); err != nil {
				c.stop()
				return nil, err
			}
		}
		args := []string{"coordinator", "--node-id", n.id, "--data-dir", filepath.Join(dir, n.id),
			"--grpc-addr", n.grpc, "--raft-addr", n.raft, "--http-addr", n.http, "--log-level", "error",
			"--worker-lease", "30s", "--worker-lost-after", "5m",
			// The bench measures halts, not failover: with the LAN profile's 150 ms (and
			// even with 1 s), a node starved of CPU by thousands of workers' TLS
			// handshakes on a busy 2-core machine starts elections, and a leader change
			// mid-run moves every stream.
			"--raft-heartbeat-timeout", "5s", "--raft-election-timeout", "5s", "--raft-leader-lease-timeout", "2500ms"}
		if i == 0 {
			args = append(args, "--bootstrap")
		} else {
			args = append(args, "--join", c.nodes[0].grpc)
		}
		if pki != nil {
			f, err := pki.files(tlsutil.RoleCoordinator, n.id)
			if err != nil {
				c.stop()
				return nil, err
			}
			args = append(args, "--tls-ca", f.CA, "--tls-cert", f.Cert, "--tls-key", f.Key)
		} else {
			args = append(args, "--insecure")
		}
		n.cmd = exec.Command(self, args...)
		n.cmd.Stderr = os.Stderr
		if err := n.cmd.Start(); err != nil {
			c.stop()
			return nil, err
		}
		go func() { _ = n.cmd.Wait(); close(n.done) }()
		c.nodes = append(c.nodes, n)
		if err := waitFor(ctx, 30*time.Second, func() bool { return c.ready(n) }); err != nil {
			c.stop()
			return nil, fmt.Errorf("bench coordinator %s not ready: %w", n.id, err)
		}
	}
	if err := waitFor(ctx, 10*time.Second, func() bool {
		for _, n := range c.nodes {
			if v, err := c.gauge(n, "murphy_cluster_leader"); err == nil && v == 1 {
				c.leader = n
				return true
			}
		}
		return false
	}); err != nil {
		c.stop()
		return nil, fmt.Errorf("bench cluster has no leader: %w", err)
	}
	return c, nil
}

func (c *benchCluster) ready(n *benchNode) bool {
	select {
	case <-n.done:
		return false
	default:
	}
	resp, err := c.http.Get(c.scheme + "://" + n.http + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop kills the nodes: their state is thrown away, and a graceful stop would only fill
// the output with the survivors' complaints about the nodes stopped first.
func (c *benchCluster) stop() {
	for _, n := range c.nodes {
		_ = n.cmd.Process.Kill()
	}
	for _, n := range c.nodes {
		<-n.done
	}
}

// adminCreds are the transport credentials of an admin, who may halt the cluster.
func (c *benchCluster) adminCreds() (credentials.TransportCredentials, error) {
	if c.pki == nil {
		return insecure.NewCredentials(), nil
	}
	return c.pki.client(tlsutil.RoleAdmin, "bench-admin")
}

// scrape reads the unlabelled samples of a node's /metrics.
func (c *benchCluster) scrape(n *benchNode) (map[string]float64, error) {
	resp, err := c.http.Get(c.scheme + "://" + n.http + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			out[name] = f
		}
	}
	return out, sc.Err()
}

func (c *benchCluster) gauge(n *benchNode, name string) (float64, error) {
	m, err := c.scrape(n)
	if err != nil {
		return 0, err
	}
	v, ok := m[name]
	if !ok {
		return 0, fmt.Errorf("metric %s not found at %s", name, n.http)
	}
	return v, nil
}

// liveHeap is the heap a node's garbage collector found live, read after two collections
// that began once the caller's state was in place (the first may have started before).
// Heap in use would count garbage not yet collected, up to as much again as the live
// heap, which is noise larger than a worker's cost. An idle node collects rarely, so
// requests to /healthz make the garbage that brings the collections on. They allocate
// little each, and the same whatever the node holds, because whatever is allocated while
// a collection marks counts as live (scraping /metrics instead, which allocates in
// proportion to the workers, added kilobytes per worker).
func (c *benchCluster) liveHeap(ctx context.Context, n *benchNode) (float64, error) {
	m, err := c.scrape(n)
	if err != nil {
		return 0, err
	}
	start := m["go_gc_duration_seconds_count"]
	deadline := time.Now().Add(5 * time.Minute)
	for m["go_gc_duration_seconds_count"] < start+2 {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: no garbage collection within 5 minutes", n.id)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := c.churn(n, 4, 100); err != nil {
			return 0, err
		}
		if m, err = c.scrape(n); err != nil {
			return 0, err
		}
	}
	v, ok := m["go_gc_heap_live_bytes"]
	if !ok {
		return 0, errors.New("the coordinator does not report go_gc_heap_live_bytes")
	}
	return v, nil
}

// churn makes a node allocate: clients clients make requests calls to /healthz each,
// side by side.
func (c *benchCluster) churn(n *benchNode, clients, requests int) error {
	errs := make(chan error, clients)
	for range clients {
		go func() {
			for range requests {
				resp, err := c.http.Get(c.scheme + "://" + n.http + "/healthz")
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			errs <- nil
		}()
	}
	var first error
	for range clients {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// cpuTime is the CPU a node's process has used (user and system, all threads), from
// /proc; zero where there is no /proc.
func (n *benchNode) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after it are plain.
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	// Clock ticks are 1/100 s on every Linux Go supports (USER_HZ).
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// addrs are the nodes' gRPC addresses.
func (c *benchCluster) addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.grpc
	}
	return out
}

// benchDial connects to addr with creds.
func benchDial(addr string, creds credentials.TransportCredentials) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
}
