package main

import (
	"bufio"
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/murphy-chaos/murphy/internal/testenv"
)

// TestDevSignInLink runs murphy dev in-process and follows the review page link it
// prints in headless Chromium, which has no client certificate: the link signs it in and
// shows the runs page, and the link is spent after one use. With
// MURPHY_README_SCREENSHOT=FILE it also waits for the demo's verdict and saves the run's
// page there (the README's screenshot, deploy/docs/review-page.png).
func TestDevSignInLink(t *testing.T) {
	ctx := devBrowser(t)
	pr, pw := io.Pipe()
	devCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := runDev(devCtx, devOptions{basePort: 0, logLevel: "error"}, pw)
		done <- err
		pw.CloseWithError(err)
	}()
	t.Cleanup(func() {
		stop()
		// runDev stops its workers, services and nodes before it returns.
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("murphy dev did not stop within a minute")
		}
	})

	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// next returns the first output line with prefix, skipping the others.
	next := func(prefix string, within time.Duration) string {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					err := <-done
					done <- err // for the cleanup
					t.Fatalf("murphy dev ended before printing %q: %v", prefix, err)
				}
				if strings.HasPrefix(l, prefix) {
					return l
				}
			case <-deadline:
				t.Fatalf("murphy dev printed no %q within %s", prefix, within)
			}
		}
	}

	link := strings.TrimPrefix(next("review page ", time.Minute), "review page ")
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "https" || u.Path != "/ui/login" || u.Query().Get("code") == "" {
		t.Fatalf("the review page link %q is not an https sign-in link", link)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(`table.runs`)); err != nil {
		t.Fatalf("follow %s: %v", link, err)
	}
	if who, err := chromedp.Run(ctx, chromedp.Text(`#who`)); err != nil || !strings.Contains(who, "dev-browser") {
		t.Errorf("signed in by the link, the page names %q (%v)", who, err)
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(loc, "/ui/") {
		t.Errorf("the link landed on %q (%v), want the runs page", loc, err)
	}

	// The link works once: followed again, it is refused with the sign-in page.
	if err := chromedp.Do(ctx, chromedp.Navigate(link)); err != nil {
		t.Fatal(err)
	}
	if body, err := chromedp.Run(ctx, chromedp.Text(`body`)); err != nil || !strings.Contains(body, "has been used already") {
		t.Errorf("the link followed a second time: %v\n%s", err, body)
	}

	shot := os.Getenv("MURPHY_README_SCREENSHOT")
	if shot == "" {
		return
	}
	run := strings.Fields(next("run ", 2*time.Minute))[1]
	next("Verdict:", 2*time.Minute)
	// The link printed once the demo is over is a fresh one.
	fresh := strings.TrimPrefix(next("Review page: ", time.Minute), "Review page: ")
	png, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
		if err := chromedp.Do(ctx, chromedp.Navigate(fresh), chromedp.WaitVisible(`table.runs`),
			chromedp.Navigate(u.Scheme+"://"+u.Host+"/ui/runs/"+run), chromedp.WaitVisible(`#verdict`)); err != nil {
			return nil, err
		}
		return chromedp.CaptureScreenshot()(ctx, tg)
	})
	if err != nil {
		t.Fatalf("screenshot of run %s: %v", run, err)
	}
	if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of run %s in %s", run, shot)
}

// devBrowser starts headless Chromium with no client certificate; it accepts the dev
// CA's certificate as a person would by clicking through the warning.
func devBrowser(t *testing.T) context.Context {
	return testenv.Browser(t, 4*time.Minute, chromedp.IgnoreCertErrors, chromedp.WindowSize(1280, 900))
}
