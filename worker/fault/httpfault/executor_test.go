package httpfault

import (
	"context"
	"strings"
	"testing"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

func TestExecutor(t *testing.T) {
	p1, err := Listen(Config{Listen: "127.0.0.1:0", Upstream: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	p2, err := Listen(Config{Listen: "127.0.0.1:0", Upstream: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	reg, err := fault.NewRegistry(Executors([]*Proxy{p1, p2})...)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(reg.Kinds(), ","); got != "http.abort,http.delay" {
		t.Fatalf("kinds %s", got)
	}
	delay, _ := reg.Get(KindDelay)
	ctx := context.Background()

	if err := delay.Validate(catalogue.MustDecode(KindDelay, map[string]string{"delay": "1s", "proxy": "10.0.0.1:80"})); err == nil ||
		!strings.Contains(err.Error(), `no proxy of this worker listens on "10.0.0.1:80"`) {
		t.Fatalf("Validate unknown proxy: %v", err)
	}
	one := fault.Fault{AssignmentID: "a", Kind: KindDelay, Params: catalogue.MustDecode(KindDelay, map[string]string{"delay": "1s", "proxy": p2.Addr()})}
	for range 2 { // idempotent
		if err := delay.Inject(ctx, one); err != nil {
			t.Fatal(err)
		}
	}
	if p1.Active("a") || !p2.Active("a") {
		t.Fatalf("proxy param ignored: p1=%v p2=%v", p1.Active("a"), p2.Active("a"))
	}
	all := fault.Fault{AssignmentID: "b", Kind: KindDelay, Params: catalogue.MustDecode(KindDelay, map[string]string{"delay": "1s"})}
	if err := delay.Inject(ctx, all); err != nil {
		t.Fatal(err)
	}
	if !p1.Active("b") || !p2.Active("b") {
		t.Fatal("fault without proxy param must reach every proxy")
	}
	for range 2 {
		for _, f := range []fault.Fault{one, all} {
			if err := delay.Revert(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	if p1.Active("a") || p2.Active("a") || p1.Active("b") || p2.Active("b") {
		t.Fatal("faults left after revert")
	}
	if got := catalogue.MustDecode(KindDelay, map[string]string{"delay": "200ms", "jitter": "20ms", "percent": "50"}).String(); got != "delay 200ms ± 20ms on 50% of HTTP requests through every proxy" {
		t.Fatalf("Describe: %s", got)
	}
	none := Executors(nil)[1]
	if err := none.Validate(catalogue.MustDecode(KindAbort, map[string]string{"status": "503"})); err == nil || !strings.Contains(err.Error(), "runs no HTTP fault proxy") {
		t.Fatalf("Validate without proxies: %v", err)
	}
}
