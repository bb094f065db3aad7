package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultHTTPAddr is where murphy worker serves /metrics, /healthz and /readyz unless told
// otherwise: loopback, since the endpoints need no credentials; a scraper on another host
// needs --http-addr set to an address it can reach.
const DefaultHTTPAddr = "127.0.0.1:7403"

// httpServer serves the worker's monitoring endpoints. It is plain HTTP and unauthenticated:
// what it exposes is counts and the fault kinds this host can run, never a fault's
// parameters, and it accepts nothing.
type httpServer struct {
	lis net.Listener
	srv *http.Server
}

// listenHTTP binds cfg.HTTPAddr, so a taken port fails New rather than Run.
func (a *Agent) listenHTTP() error {
	if a.cfg.HTTPAddr == "" {
		return nil
	}
	g := a.cfg.Gatherer
	if g == nil {
		var ok bool
		if g, ok = a.cfg.Registerer.(prometheus.Gatherer); !ok {
			return errors.New("worker config: HTTPAddr is set but Gatherer is not, and Registerer cannot gather")
		}
	}
	lis, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("worker: listen for HTTP on %s: %w", a.cfg.HTTPAddr, err)
	}
	a.http = &httpServer{lis: lis, srv: &http.Server{
		Handler:           a.httpHandler(g),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}}
	return nil
}

func (a *Agent) httpHandler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", a.healthz)
	mux.HandleFunc("/readyz", a.readyz)
	return mux
}

// healthz answers 200 while the process runs and its journal can be read: a worker that
// cannot read its journal cannot record or revert a fault, and should be restarted (which
// reverts what the journal holds) or looked at.
func (a *Agent) healthz(w http.ResponseWriter, _ *http.Request) {
	if _, err := a.journal.List(); err != nil {
		http.Error(w, "journal unreadable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// readyz answers 200 while a coordinator has welcomed this worker's stream, i.e. the
// worker can be assigned faults and reports what it does.
func (a *Agent) readyz(w http.ResponseWriter, _ *http.Request) {
	if !a.m.connected.on.Load() {
		http.Error(w, "not connected to a coordinator", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// serveHTTP serves until closeHTTP.
func (a *Agent) serveHTTP() {
	if a.http == nil {
		return
	}
	a.log.Info("serving /metrics, /healthz and /readyz", "addr", "http://"+a.http.lis.Addr().String())
	if err := a.http.srv.Serve(a.http.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Error("HTTP server stopped", "addr", a.http.lis.Addr().String(), "err", err)
	}
}

func (a *Agent) closeHTTP() {
	if a.http == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := a.http.srv.Shutdown(ctx); err != nil {
		a.http.srv.Close()
	}
	a.http.lis.Close() // Shutdown closes it only if Serve ran
}

// HTTPAddr is the bound address of /metrics, /healthz and /readyz, or "" when disabled.
func (a *Agent) HTTPAddr() string {
	if a.http == nil {
		return ""
	}
	return a.http.lis.Addr().String()
}
