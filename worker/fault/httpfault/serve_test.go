package httpfault

import (
	"net/http"
	"os"
	"os/signal"
	"testing"
)

// TestServeForLoad runs a bench upstream or a proxy until interrupted, so that external
// load generators (wrk) can measure them as separate processes:
//
//	go test -c -o /tmp/httpfault.test ./worker/fault/httpfault/
//	MURPHY_SERVE=upstream MURPHY_ADDR=127.0.0.1:19000 /tmp/httpfault.test -test.run TestServeForLoad &
//	MURPHY_SERVE=proxy MURPHY_ADDR=127.0.0.1:18080 MURPHY_UPSTREAM=http://127.0.0.1:19000 /tmp/httpfault.test -test.run TestServeForLoad &
//	wrk -t1 -c16 -d10s http://127.0.0.1:19000/ ; wrk -t1 -c16 -d10s http://127.0.0.1:18080/
func TestServeForLoad(t *testing.T) {
	mode, addr := os.Getenv("MURPHY_SERVE"), os.Getenv("MURPHY_ADDR")
	if mode == "" {
		t.Skip("set MURPHY_SERVE=upstream|proxy and MURPHY_ADDR to serve for an external load generator")
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	switch mode {
	case "upstream":
		body := []byte("hello, murphy")
		srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		})}
		go srv.ListenAndServe()
		<-stop
		srv.Close()
	case "proxy":
		p, err := Listen(Config{Listen: addr, Upstream: os.Getenv("MURPHY_UPSTREAM")})
		if err != nil {
			t.Fatal(err)
		}
		go p.Serve()
		<-stop
		p.Close()
	}
}
