package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options says where the binaries are and where the cluster keeps its files.
type Options struct {
	// BinDir holds kube-apiserver and kube-controller-manager (`make e2e-kubernetes`
	// builds them into bin/kube).
	BinDir string
	// Dir receives certificates, keys, kubeconfigs, etcd's data and every log. It must
	// exist; the caller removes it.
	Dir string
	// Ready bounds the wait for the apiserver's /readyz and the controller manager's
	// /healthz. The first start on a loaded 2-core machine takes tens of seconds (the
	// apiserver creates its bootstrap RBAC roles and priority levels in etcd).
	Ready time.Duration
}

// Cluster is a running control plane. Its fields are read-only.
type Cluster struct {
	// Kubeconfig is the path of a kubeconfig for a cluster administrator (group
	// system:masters), for tests and for kubectl when a test is debugged by hand.
	Kubeconfig string
	// Admin is the same identity as a client-go configuration.
	Admin *rest.Config
	// Host is the apiserver's https://127.0.0.1:port.
	Host string
	// Logs lists the log files, to print when a test fails.
	Logs []string

	caPEM      []byte
	etcd       *embed.Etcd
	apiserver  *process
	controller *process
}

// Start brings up etcd, kube-apiserver and kube-controller-manager and returns once the
// apiserver answers /readyz and the controller manager /healthz. On error nothing is
// left running.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Ready == 0 {
		opts.Ready = 3 * time.Minute
	}
	for _, bin := range []string{"kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(opts.BinDir, bin)); err != nil {
			return nil, fmt.Errorf("%s not found in %s (build it with `make e2e-kubernetes` at the repository root): %w", bin, opts.BinDir, err)
		}
	}
	c, err := start(ctx, opts, filepath.Join(opts.Dir, "try1"))
	if err != nil && errors.Is(err, errPortTaken) {
		// Another process took a port between freePort and the server's bind; the
		// second try draws new ports.
		c, err = start(ctx, opts, filepath.Join(opts.Dir, "try2"))
	}
	return c, err
}

var errPortTaken = errors.New("port taken")

func start(ctx context.Context, opts Options, dir string) (_ *Cluster, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create cluster dir: %w", err)
	}
	c := &Cluster{}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	ca, err := newAuthority()
	if err != nil {
		return nil, err
	}
	c.caPEM = ca.pem
	// 10.0.0.1 is the first address of the service range: in-cluster clients reach the
	// apiserver as the `kubernetes` service, and its certificate must name that address.
	serving, err := ca.issue("kube-apiserver", nil, true,
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"})
	if err != nil {
		return nil, err
	}
	admin, err := ca.issue("murphy-e2e-admin", []string{"system:masters"}, false, nil, nil)
	if err != nil {
		return nil, err
	}
	// The bootstrap RBAC policy binds this exact user name to the controller manager's
	// role; with --use-service-account-credentials it only needs enough to mint one
	// service account per controller, each bound to that controller's own role.
	kcm, err := ca.issue("system:kube-controller-manager", nil, false, nil, nil)
	if err != nil {
		return nil, err
	}
	saKey, saPub, err := serviceAccountKey()
	if err != nil {
		return nil, err
	}
	if err := writeFiles(dir, map[string][]byte{
		"ca.crt": ca.pem, "apiserver.crt": serving.cert, "apiserver.key": serving.key,
		"sa.key": saKey, "sa.pub": saPub,
	}); err != nil {
		return nil, err
	}

	var etcdURL string
	c.etcd, etcdURL, err = startEtcd(ctx, dir)
	if err != nil {
		return nil, err
	}
	c.Logs = append(c.Logs, filepath.Join(dir, "etcd.log"))

	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	c.Host = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	f := func(name string) string { return filepath.Join(dir, name) }
	c.apiserver, err = startProcess(filepath.Join(opts.BinDir, "kube-apiserver"), f("kube-apiserver.log"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--cert-dir="+f("apiserver-certs"),
		"--tls-cert-file="+f("apiserver.crt"),
		"--tls-private-key-file="+f("apiserver.key"),
		"--client-ca-file="+f("ca.crt"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+f("sa.pub"),
		"--service-account-signing-key-file="+f("sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		// The endpoint reconciler would publish 127.0.0.1 as the kubernetes service's
		// endpoint, which the API rejects as a loopback address, and retry for ever.
		"--endpoint-reconciler-type=none",
	)
	if err != nil {
		return nil, err
	}
	c.Logs = append(c.Logs, c.apiserver.log)

	c.Admin = &rest.Config{
		Host: c.Host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: ca.pem, CertData: admin.cert, KeyData: admin.key,
		},
		// The defaults (5 QPS, burst 10) would make the tests measure client-side
		// throttling instead of the controllers.
		QPS: 100, Burst: 200,
	}
	c.Kubeconfig = f("admin.kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, c.Host, ca.pem, admin); err != nil {
		return nil, err
	}
	readyCtx, cancel := context.WithTimeout(ctx, opts.Ready)
	defer cancel()
	if err := c.waitHealthy(readyCtx, c.apiserver, c.Host+"/readyz", admin); err != nil {
		return nil, fmt.Errorf("kube-apiserver: %w", err)
	}

	kcmKubeconfig := f("kube-controller-manager.kubeconfig")
	if err := writeKubeconfig(kcmKubeconfig, c.Host, ca.pem, kcm); err != nil {
		return nil, err
	}
	kcmPort, err := freePort()
	if err != nil {
		return nil, err
	}
	c.controller, err = startProcess(filepath.Join(opts.BinDir, "kube-controller-manager"), f("kube-controller-manager.log"),
		"--kubeconfig="+kcmKubeconfig,
		"--authentication-kubeconfig="+kcmKubeconfig,
		"--authorization-kubeconfig="+kcmKubeconfig,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", kcmPort),
		"--cert-dir="+f("kcm-certs"),
		"--leader-elect=false",
		// Every controller acts as its own service account with its own bootstrap role,
		// as in a production cluster, so the RBAC the controllers run under is the real
		// one.
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+f("sa.key"),
		"--root-ca-file="+f("ca.crt"),
		"--controllers=*",
	)
	if err != nil {
		return nil, err
	}
	c.Logs = append(c.Logs, c.controller.log)
	if err := c.waitHealthy(readyCtx, c.controller, fmt.Sprintf("https://127.0.0.1:%d/healthz", kcmPort), keyPair{}); err != nil {
		return nil, fmt.Errorf("kube-controller-manager: %w", err)
	}
	return c, nil
}

// waitHealthy polls a health endpoint until it answers 200, the process exits, or ctx
// ends. The controller manager serves a self-signed certificate from its cert dir, so
// it is checked without verification when no client identity is given: only its
// liveness matters here, never what it says.
func (c *Cluster) waitHealthy(ctx context.Context, p *process, url string, id keyPair) error {
	tlsConfig := &tls.Config{InsecureSkipVerify: true}
	if id.cert != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(c.caPEM)
		pair, err := tls.X509KeyPair(id.cert, id.key)
		if err != nil {
			return fmt.Errorf("client certificate: %w", err)
		}
		tlsConfig = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	last := "no answer yet"
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err != nil {
			last = err.Error()
		} else {
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(body.String()))
		}
		select {
		case <-p.exited:
			tail := p.tail(20)
			if strings.Contains(tail, "address already in use") {
				return fmt.Errorf("%w: exited: %v\n%s", errPortTaken, p.err, tail)
			}
			return fmt.Errorf("exited before %s answered (%v); the end of %s:\n%s", url, p.err, p.log, tail)
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy (%v), last answer: %s; see %s", url, ctx.Err(), last, p.log)
		case <-tick.C:
		}
	}
}

// Stop ends the controller manager, then the apiserver, then etcd: each depends on the
// next, and stopping them in this order keeps their logs free of errors caused by the
// teardown itself. It is safe on a partly started cluster and to call twice.
func (c *Cluster) Stop() {
	if c.controller != nil {
		c.controller.stop()
	}
	if c.apiserver != nil {
		c.apiserver.stop()
	}
	if c.etcd != nil {
		c.etcd.Close()
		c.etcd = nil
	}
}

func writeKubeconfig(path, host string, ca []byte, id keyPair) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["murphy-e2e"] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: ca}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{ClientCertificateData: id.cert, ClientKeyData: id.key}
	cfg.Contexts["murphy-e2e"] = &clientcmdapi.Context{Cluster: "murphy-e2e", AuthInfo: "user"}
	cfg.CurrentContext = "murphy-e2e"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
