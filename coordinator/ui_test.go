package coordinator_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/murphy-chaos/murphy/internal/testenv"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// browser starts a headless Chromium driven over the DevTools protocol. Without Chromium
// the test is skipped and listed at the end of `make test`, unless MURPHY_REQUIRE_CHROMIUM
// is set (CI sets it).
func browser(t *testing.T) context.Context {
	// One deadline covers the whole browser session, cluster waits included; under a full
	// `make test` on two cores Chromium alone has needed most of 90 s, so allow more. The
	// coordinators' certificates come from the test's own CA.
	return testenv.Browser(t, 4*time.Minute, chromedp.IgnoreCertErrors, chromedp.WindowSize(1280, 1600))
}

// screenshot keeps a full-page PNG as a test artifact in $MURPHY_ARTIFACTS/ui (or the
// system temp dir).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("MURPHY_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "murphy-ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

// uiTokens are the sign-in tokens of the browser test's cluster.
var uiTokens = map[string]string{
	tlsutil.RoleViewer:   "viewer-token-0123456789abcdef",
	tlsutil.RoleOperator: "operator-token-0123456789abcdef",
	tlsutil.RoleAdmin:    "admin-token-0123456789abcdef",
}

// startUICluster is startCluster with a tokens file, so people can sign in to the pages.
func startUICluster(t *testing.T, n int) *testCluster {
	t.Helper()
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	doc := fmt.Sprintf("- {token: %s, role: viewer, name: vera}\n- {token: %s, role: operator, name: olga}\n- {token: %s, role: admin, name: ada}\n",
		uiTokens[tlsutil.RoleViewer], uiTokens[tlsutil.RoleOperator], uiTokens[tlsutil.RoleAdmin])
	if err := os.WriteFile(tokens, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t}
	t.Cleanup(c.stopAll)
	for i := range n {
		cfg := nodeConfig(t, fmt.Sprintf("n%d", i+1), filepath.Join(t.TempDir(), fmt.Sprintf("n%d", i+1)))
		cfg.TokensFile = tokens
		if i == 0 {
			cfg.Bootstrap = true
		} else {
			cfg.Join = []string{c.nodes[0].GRPCAddr()}
		}
		c.start(cfg)
		if i == 0 {
			waitUntil(t, 10*time.Second, "n1 leads", c.nodes[0].IsLeader)
		}
	}
	waitUntil(t, 10*time.Second, "every node knows every node", func() bool {
		for _, s := range c.nodes {
			if len(s.FSM().Nodes()) != n {
				return false
			}
		}
		return true
	})
	return c
}

// signIn signs the browser out, then in with role's token, and waits for the runs list.
func signIn(t *testing.T, ctx context.Context, ui, role string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		navigate(ui+"login"),
		chromedp.WaitVisible(`#token`),
		chromedp.SendKeys(`#token`, uiTokens[role]),
		chromedp.Click(`#login`),
		chromedp.WaitVisible(`table.runs`),
	); err != nil {
		t.Fatalf("sign in as %s: %v", role, err)
	}
	if who := text(t, ctx, `#who`); !strings.Contains(who, role) || !strings.Contains(who, "(by token)") {
		t.Fatalf("signed in as %s, the page says %q", role, who)
	}
}

// TestWebUI drives the pages of a follower, over HTTPS with roles, in a real browser:
// signing in, the runs list, a finished run's verdict and charts, a viewer refused a
// halt, an operator halting a running run, an admin offered halt all and pausing the
// schedules, and the audit trail recording the people, not the node.
func TestWebUI(t *testing.T) {
	ctx := browser(t)
	c := startUICluster(t, 3)
	startWorkers(t, c, 4)
	// A 2 s baseline, as TestRunEndToEnd's, and a 300 ms delay: with two hosts per group
	// the interval is wide on a loaded machine (CI measured +2837%, 95% CI +17% to
	// +73494%, against the 50% tolerance with 30 ms), and the page must show a verdict.
	done := submit(t, c.nodes[0].GRPCAddr(), strings.Replace(fmt.Sprintf(testSpec, "2s", "2s"), "delay: 30ms", "delay: 300ms", 1))
	run := waitPhase(t, c, done, 20*time.Second, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED)
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_COMPLETED {
		t.Fatalf("run ended %v: %s", run.Phase, run.Error)
	}
	f := c.follower()
	waitUntil(t, 10*time.Second, "final summaries on the follower", func() bool {
		s := c.nodes[f].FSM().Summaries(done)
		return s.GetFinal() && len(s.GetIntervals()) > 0 && len(s.GetWindows()) == 2
	})
	active := submit(t, c.nodes[0].GRPCAddr(), fmt.Sprintf(testSpec, "500ms", "60s"))
	waitUntil(t, 10*time.Second, "injections acknowledged", func() bool {
		r := c.run(active)
		return r != nil && len(r.Steps) == 1 && len(r.Steps[0].Injected) == 2
	})
	sched := submitResponse(t, c.nodes[0].GRPCAddr(), strings.Replace(fmt.Sprintf(testSpec, "200ms", "500ms"), "steps:", "schedule:\n  cron: \"0 0 3 * * *\"\n  optIn: false\nsteps:", 1)).GetSchedule()
	if sched == nil {
		t.Fatal("the scheduled spec made no schedule")
	}
	waitUntil(t, 10*time.Second, "the schedule on the follower", func() bool {
		ss, _ := c.nodes[f].FSM().Schedules()
		return len(ss) == 1
	})
	ui := "https://" + c.nodes[f].HTTPAddr() + "/ui/"

	// Without a certificate or a token: the sign-in page.
	if err := chromedp.Do(ctx, navigate(ui), chromedp.WaitVisible(`#token`)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "sign-in")

	// A viewer reads: the list, both runs, newest first, with their state.
	signIn(t, ctx, ui, tlsutil.RoleViewer)
	list := text(t, ctx, `table.runs tbody`)
	if !strings.Contains(list, done) || !strings.Contains(list, active) || strings.Index(list, active) > strings.Index(list, done) {
		t.Fatalf("runs list, newest first:\n%s", list)
	}
	if !strings.Contains(list, "refuted") || !strings.Contains(list, "injecting") {
		t.Errorf("runs list lacks the verdict or the live state:\n%s", list)
	}
	screenshot(t, ctx, "runs")

	// A finished run: the verdict in words and its charts.
	if err := chromedp.Do(ctx, navigate(ui+"runs/"+done), chromedp.WaitVisible(`#verdict`)); err != nil {
		t.Fatal(err)
	}
	verdict := text(t, ctx, `#verdict`)
	lines := count(t, ctx, `figure.timechart svg polyline`)
	dots := count(t, ctx, `svg circle.est`)
	if !strings.Contains(verdict, "Hypothesis refuted") {
		t.Errorf("verdict reads %q", verdict)
	}
	if lines < 2 || dots != 1 {
		t.Errorf("charts: %d lines in the time chart, %d estimates in the forest plot", lines, dots)
	}
	screenshot(t, ctx, "run-completed")

	// The viewer is told a halt needs another role, and a halt posted anyway is refused.
	const viewerRefused = `Halt needs the operator or admin role; you are viewer "vera" (by token)`
	if err := chromedp.Do(ctx, navigate(ui+"runs/"+active), chromedp.WaitVisible(`#denied`)); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, `#denied`); !strings.Contains(got, viewerRefused) || count(t, ctx, `#halt`) != 0 {
		t.Errorf("a viewer's run page says %q and offers %d halt buttons", got, count(t, ctx, `#halt`))
	}
	// The follower serves the live panel itself, from the leader's progress fetched
	// server-side, and keeps it current without a reload.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}
	liveNow := func() string {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const l = document.querySelector("#live"); return l ? l.textContent : ""; })()`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var first string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if first = liveNow(); strings.Contains(first, "Samples so far") && strings.Contains(first, "from the leader") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follower's live panel reads %q, want the leader's progress", first)
		}
	}
	waitUntil(t, 10*time.Second, "the follower's live panel updates", func() bool { return liveNow() != first })
	// Its charts are drawn from committed summaries; before the first batch they say what
	// the leader holds, never that nothing was recorded.
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const m = document.querySelector("#metrics"); return !m ? "" : m.querySelector("svg.chart") ? "chart" : m.textContent; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if charts != "chart" && (!strings.Contains(charts, "No summary of latency committed yet") || !strings.Contains(charts, "control and") || strings.Contains(charts, "No summaries recorded")) {
		t.Errorf("the follower's charts read %q, want a chart or the samples the leader holds", charts)
	}
	if kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !kept {
		t.Errorf("the follower's page reloaded to update its live panel (%v)", err)
	}
	// On a 390 px phone too: the panel updates, and the page is no wider than the screen.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), navigate(ui+"runs/"+active), chromedp.WaitVisible(`#live`)); err != nil {
		t.Fatal(err)
	}
	phone := liveNow()
	waitUntil(t, 10*time.Second, "the follower's live panel updates on a phone", func() bool { return liveNow() != phone })
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)); err != nil || w[0] != 390 || w[1] != 390 {
		t.Errorf("the follower's run page at 390 px: scroll and client widths %v (%v)", w, err)
	}
	screenshot(t, ctx, "follower-live-390")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 1600)); err != nil {
		t.Fatal(err)
	}
	post := fmt.Sprintf(`(() => {
		const f = document.createElement("form");
		f.method = "post";
		f.action = %q;
		for (const [k, v] of [["reason", "viewer tries"], ["confirm", "yes"]]) {
			const i = document.createElement("input");
			i.type = "hidden"; i.name = k; i.value = v;
			f.appendChild(i);
		}
		document.body.appendChild(f);
		f.submit();
		return true;
	})()`, "/ui/runs/"+active+"/halt")
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](post)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the refusal page", func() bool {
		title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState === "complete" ? document.title : ""`))
		return err == nil && strings.HasPrefix(title, "Not allowed")
	})
	if got := text(t, ctx, `main`); !strings.Contains(got, viewerRefused) {
		t.Errorf("the refusal reads %q", got)
	}
	screenshot(t, ctx, "viewer-refused")
	if r := c.nodes[f].FSM().Run(active); r.GetPhase() != murphyv1.RunPhase_RUN_PHASE_INJECTING {
		t.Fatalf("after a viewer's refused halt the run is %v", r.GetPhase())
	}

	// An operator halts the active run: a reason, a confirmation, then it shows halted.
	if err := chromedp.Do(ctx, navigate(ui), chromedp.WaitVisible(`#logout`), chromedp.Click(`#logout`), chromedp.WaitVisible(`#token`)); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	signIn(t, ctx, ui, tlsutil.RoleOperator)
	if err := chromedp.Do(ctx,
		navigate(ui+"runs/"+active),
		chromedp.WaitVisible(`#reason`),
		chromedp.SendKeys(`#reason`, "browser test"),
		chromedp.Click(`#halt`),
		chromedp.WaitVisible(`#confirm-halt`),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "halt-confirm")
	if err := chromedp.Do(ctx, chromedp.Click(`#confirm-halt`), chromedp.WaitVisible(`#halt-reason`)); err != nil {
		t.Fatal(err)
	}
	if phase := text(t, ctx, `#phase`); phase != "halted" {
		t.Errorf("phase after the halt reads %q", phase)
	}
	if r := c.run(active); r.GetPhase() != murphyv1.RunPhase_RUN_PHASE_HALTED || r.Halt.GetReason() != "browser test" || !strings.HasPrefix(r.Halt.GetBy(), "operator:olga@") {
		t.Errorf("run after the halt: %v %v", r.GetPhase(), r.GetHalt())
	}
	screenshot(t, ctx, "run-halted")
	if err := chromedp.Do(ctx, navigate(ui+"cluster"), chromedp.WaitVisible(`#denied`)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, ctx, `#halt-all`); n != 0 {
		t.Errorf("an operator is offered halt all")
	}

	// An admin is offered halt all, and pauses the schedules after confirming.
	if err := chromedp.Do(ctx, chromedp.Click(`#logout`), chromedp.WaitVisible(`#token`)); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	signIn(t, ctx, ui, tlsutil.RoleAdmin)
	if err := chromedp.Do(ctx, navigate(ui+"cluster"), chromedp.WaitVisible(`#halt-all`)); err != nil {
		t.Fatalf("an admin is not offered halt all: %v", err)
	}
	screenshot(t, ctx, "cluster-admin")
	if err := chromedp.Do(ctx, navigate(ui+"schedules"), chromedp.WaitVisible(`table.schedules`)); err != nil {
		t.Fatal(err)
	}
	if rows := text(t, ctx, `table.schedules tbody`); !strings.Contains(rows, sched.Id) || !strings.Contains(rows, sched.Name) || !strings.Contains(rows, "never") {
		t.Errorf("schedules table:\n%s", rows)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`#pause-schedules`), chromedp.WaitVisible(`#confirm-pause-schedules`)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "schedules-confirm")
	if err := chromedp.Do(ctx, chromedp.Click(`#confirm-pause-schedules`), chromedp.WaitVisible(`#paused`)); err != nil {
		t.Fatalf("pause the schedules: %v", err)
	}
	screenshot(t, ctx, "schedules-paused")

	// The audit trail names the people who acted through the pages.
	waitUntil(t, 10*time.Second, "the pause on the follower", func() bool { _, p := c.nodes[f].FSM().Schedules(); return p })
	if err := chromedp.Do(ctx, navigate(ui+"audit"), chromedp.WaitVisible(`table.audit`)); err != nil {
		t.Fatal(err)
	}
	trail := text(t, ctx, `table.audit tbody`)
	pause, halt := strings.Index(trail, "schedules.pause"), strings.Index(trail, "run.halt")
	if pause < 0 || halt < 0 || pause > halt || !strings.Contains(trail, "admin:ada") || !strings.Contains(trail, "operator:olga") || strings.Contains(trail, "coordinator:") {
		t.Errorf("audit trail, newest first, naming the people:\n%s", trail)
	}
	if err := chromedp.Do(ctx, navigate(ui+"audit?action=run.halt"), chromedp.WaitVisible(`table.audit`)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, ctx, `table.audit tbody tr`); n != 1 {
		t.Errorf("%d entries for action run.halt, want 1", n)
	}
	screenshot(t, ctx, "audit")
}

// TestWebClientCertificate reads the pages over HTTPS with a viewer's client certificate,
// is refused a halt with the API's words, and reads the monitoring endpoints with no
// certificate at all.
func TestWebClientCertificate(t *testing.T) {
	c := startCluster(t, 1)
	addr := c.nodes[0].HTTPAddr()
	client := func(role, name string) *http.Client {
		f := tlsutil.Files{CA: filepath.Join(testPKI.dir, "ca.crt")}
		if role != "" {
			f = certFor(t, role, name)
		}
		cfg, err := tlsutil.ClientConfig(f)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	read := func(resp *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	vera := client(tlsutil.RoleViewer, "vera")
	if code, body := read(vera.Get("https://" + addr + "/ui/")); code != http.StatusOK || !strings.Contains(body, "viewer “vera” (by certificate)") {
		t.Errorf("a viewer's runs list: %d\n%s", code, body)
	}
	code, body := read(vera.PostForm("https://"+addr+"/ui/cluster/halt-all", url.Values{"reason": {"x"}, "confirm": {"yes"}}))
	if want := `HaltAll needs the admin role; you are viewer &#34;vera&#34; (by certificate)`; code != http.StatusForbidden || !strings.Contains(body, want) {
		t.Errorf("a viewer's halt all: %d, want 403 saying %s\n%s", code, want, body)
	}
	if c.nodes[0].FSM().ClusterHalt() != nil {
		t.Fatal("a viewer halted the cluster")
	}
	anon := client("", "")
	if code, _ := read(anon.Get("https://" + addr + "/ui/")); code != http.StatusUnauthorized {
		t.Errorf("no certificate, no token: %d", code)
	}
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		if code, _ := read(anon.Get("https://" + addr + p)); code != http.StatusOK {
			t.Errorf("%s without a certificate: %d", p, code)
		}
	}
	if resp, err := http.Get("http://" + addr + "/ui/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the pages answer over plain HTTP")
		}
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

// navigate is chromedp.Navigate, tried again when Chromium reports that the machine's
// network changed: tests running alongside create and remove interfaces.
func navigate(url string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		var err error
		for range 3 {
			var v chromedp.Void
			// A live page's own refresh can interrupt a navigation (ERR_ABORTED), as can
			// Chromium noticing interfaces change (ERR_NETWORK_CHANGED): both are transient.
			if v, err = chromedp.Navigate(url)(ctx, t); err == nil || !(strings.Contains(err.Error(), "ERR_NETWORK_CHANGED") || strings.Contains(err.Error(), "ERR_ABORTED")) {
				return v, err
			}
			time.Sleep(200 * time.Millisecond)
		}
		return chromedp.Void{}, err
	}
}
