package cluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// startEtcd runs a one-member etcd inside the test process. Embedding it spares building
// and supervising an etcd binary; the apiserver still reaches it over TCP on loopback,
// exactly as it reaches a separate etcd.
func startEtcd(ctx context.Context, dir string) (*embed.Etcd, string, error) {
	client, err := freeLoopbackURL("http")
	if err != nil {
		return nil, "", err
	}
	peer, err := freeLoopbackURL("http")
	if err != nil {
		return nil, "", err
	}
	cfg := embed.NewConfig()
	cfg.Name = "murphy-e2e"
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	// The data lives as long as one test binary; fsync only slows the 2-core CI machine.
	cfg.UnsafeNoFsync = true

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", fmt.Errorf("etcd stopped while starting: %w", err)
	case <-time.After(time.Minute):
		e.Close()
		return nil, "", fmt.Errorf("etcd not ready after a minute; its log is %s", cfg.LogOutputs[0])
	case <-ctx.Done():
		e.Close()
		return nil, "", ctx.Err()
	}
	return e, "http://" + e.Clients[0].Addr().String(), nil
}

// freeLoopbackURL finds a port nobody listens on. The servers started here take a port
// number, not a listener, so there is a short window in which another process could
// take it; Start retries the whole cluster once when a server loses that race.
func freeLoopbackURL(scheme string) (*url.URL, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return &url.URL{Scheme: scheme, Host: fmt.Sprintf("127.0.0.1:%d", port)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
