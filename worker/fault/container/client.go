package container

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/moby/moby/client"
)

// DefaultHost is where the Docker engine listens unless the worker is told otherwise.
const DefaultHost = "unix:///var/run/docker.sock"

// ErrNoEngine means no Docker engine answers at the configured host; the container kinds
// are then left out of the worker's capabilities.
var ErrNoEngine = errors.New("container: no Docker engine")

// API is the part of the Docker Engine API the container faults use. *client.Client
// implements it; its methods are safe for concurrent use.
type API interface {
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerKill(ctx context.Context, id string, options client.ContainerKillOptions) (client.ContainerKillResult, error)
	ContainerStop(ctx context.Context, id string, options client.ContainerStopOptions) (client.ContainerStopResult, error)
	ContainerStart(ctx context.Context, id string, options client.ContainerStartOptions) (client.ContainerStartResult, error)
	ContainerRestart(ctx context.Context, id string, options client.ContainerRestartOptions) (client.ContainerRestartResult, error)
	ContainerPause(ctx context.Context, id string, options client.ContainerPauseOptions) (client.ContainerPauseResult, error)
	ContainerUnpause(ctx context.Context, id string, options client.ContainerUnpauseOptions) (client.ContainerUnpauseResult, error)
}

var _ API = (*client.Client)(nil)

// Dial connects to the Docker engine at host ("" means DefaultHost) and checks that it
// answers. The API version is negotiated with the engine (1.40 or later).
//
// A host that cannot be parsed is a configuration error. An absent unix socket or an
// engine that does not answer within five seconds wraps ErrNoEngine. The client returned
// holds no idle connection; call Release after each use to keep it so.
func Dial(ctx context.Context, host string) (*client.Client, error) {
	if host == "" {
		host = DefaultHost
	}
	u, err := client.ParseHostURL(host)
	if err != nil {
		return nil, fmt.Errorf("docker host %q: %w (want e.g. %s or tcp://HOST:2375)", host, err, DefaultHost)
	}
	switch u.Scheme {
	case "unix", "tcp", "http", "https":
	default:
		return nil, fmt.Errorf("docker host %q: scheme %q is not supported (want unix://PATH or tcp://HOST:PORT)", host, u.Scheme)
	}
	if u.Scheme == "unix" {
		// ParseHostURL keeps a unix socket's path in Host.
		if _, err := os.Stat(u.Host + u.Path); err != nil {
			return nil, fmt.Errorf("%w at %s: %v", ErrNoEngine, host, err)
		}
	}
	cli, err := client.New(client.WithHost(host))
	if err != nil {
		return nil, fmt.Errorf("docker host %q: %w", host, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w answering at %s: %v", ErrNoEngine, redact(host), err)
	}
	Release(cli)
	return cli, nil
}

// Release drops the client's idle connections. The client stays usable; the next call
// dials again. The executors call it after every operation so an idle worker holds no
// connection (and no goroutine) to the engine.
func Release(cli API) {
	if c, ok := cli.(interface{ Close() error }); ok {
		_ = c.Close() // *client.Client.Close only closes idle connections
	}
}

// redact drops user information from a host URL before it is logged.
func redact(host string) string {
	u, err := url.Parse(host)
	if err != nil || u.User == nil {
		return host
	}
	u.User = nil
	return u.String()
}
