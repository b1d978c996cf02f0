package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium (scripts/system-deps.sh installs it).
// Missing, the test fails rather than skips: a machine without it would
// otherwise pass without testing the console in a browser.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the browser tests need Debian's chromium: run scripts/system-deps.sh (apt-get install chromium)")
	return ""
}

// newChromium starts a headless chromium of its own: its own cookies, so
// each is a separate signed-in user.
func newChromium(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// Root in a container has no user namespace to sandbox with.
		chromedp.NoSandbox,
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

func signInBrowser(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"signin"),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#queue-rows")),
	); err != nil {
		t.Fatalf("sign-in: %v", err)
	}
}

// absent reports whether nothing on the page matches the selector.
func absent(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	none, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`) === null`))
	if err != nil {
		t.Fatal(err)
	}
	return none
}

// text is the visible text of the first element matching the CSS selector.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func jsString(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// screenshot saves the page (the window, or the whole page when full):
// into docs/screenshots when
// RISKD_SCREENSHOTS=1 (to update the README's), else into the test's
// temporary directory (so a run does not change the tree).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if os.Getenv("RISKD_SCREENSHOTS") == "1" {
		dir = "../../docs/screenshots"
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserFromHeldOrderToFreezeList drives the console in chromium as
// an analyst would: the held order appears in the open queue by itself,
// is claimed and confirmed as fraud, and the freeze list shows; a second
// analyst, in Chinese, cannot act on the case; a reader sees no action.
func TestBrowserFromHeldOrderToFreezeList(t *testing.T) {
	p, base := deskRiskd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	a := newChromium(t, ctx)
	signInBrowser(t, a, base, analystToken)

	// The queue is open before the order is scored: it shows by itself.
	decided := time.Now()
	held, earlier := holdCoachedOrder(t, p.Addr)
	row := `tr[data-id="` + held + `"]`
	wait, cancelWait := context.WithTimeout(a, 5*time.Second)
	defer cancelWait()
	if err := chromedp.Do(wait, chromedp.WaitVisible(chromedp.CSS(row))); err != nil {
		t.Fatalf("the held order did not appear in the queue: %v", err)
	}
	// The page polls every second; allow for a loaded machine.
	if took := time.Since(decided); took > 2500*time.Millisecond {
		t.Errorf("the held order appeared %s after the decision, want about a second", took)
	} else {
		t.Logf("the held order appeared %s after the decision", took.Round(time.Millisecond))
	}
	if err := chromedp.Do(a, chromedp.Sleep(1100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	countdown := text(t, a, row+" time.countdown")
	if !strings.Contains(countdown, ":") || strings.Contains(countdown, "-") {
		t.Errorf("countdown %q, want minutes:seconds", countdown)
	}
	screenshot(t, a, "console-queue.png")

	if err := chromedp.Do(a,
		chromedp.Click(chromedp.CSS(row+" a")),
		chromedp.WaitVisible(chromedp.CSS("#claim")),
		chromedp.Click(chromedp.CSS("#claim")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-fraud")),
	); err != nil {
		t.Fatalf("claiming: %v", err)
	}

	// A second analyst, who chose Chinese, sees the claim and no action.
	b := newChromium(t, ctx)
	signInBrowser(t, b, base, analyst2Token)
	if err := chromedp.Do(b,
		chromedp.Click(chromedp.CSS("#lang")),
		chromedp.WaitVisible(chromedp.CSS("#queue-rows")),
	); err != nil {
		t.Fatal(err)
	}
	title := text(t, b, "h1")
	if err := chromedp.Do(b, chromedp.Navigate(base+"case/"+held)); err != nil {
		t.Fatal(err)
	}
	holder := text(t, b, "#holder")
	if title != "待处理案件" || !strings.Contains(holder, "analyst") || !strings.Contains(holder, "至") {
		t.Errorf("zh-CN: queue title %q, holder %q", title, holder)
	}
	if !absent(t, b, "#claim") || !absent(t, b, "#confirm-fraud") {
		t.Error("the second analyst is offered actions on a case another holds")
	}
	screenshot(t, b, "console-case-zh-CN.png")

	// A reader sees the case and no action.
	r := newChromium(t, ctx)
	signInBrowser(t, r, base, readerToken)
	if err := chromedp.Do(r, chromedp.Navigate(base+"case/"+held), chromedp.WaitVisible(chromedp.CSS("#audit"))); err != nil {
		t.Fatal(err)
	}
	if !absent(t, r, "#claim") || !absent(t, r, "#confirm-fraud") || !absent(t, r, "#release") {
		t.Error("a reader is offered actions")
	}

	if err := chromedp.Do(a, chromedp.SendKeys(chromedp.CSS("#note"), "holder confirmed a call from fake customer service")); err != nil {
		t.Fatal(err)
	}
	screenshot(t, a, "console-case.png")
	if err := chromedp.Do(a,
		chromedp.Click(chromedp.CSS("#confirm-fraud")),
		chromedp.WaitVisible(chromedp.CSS("#freeze")),
	); err != nil {
		t.Fatalf("resolving: %v", err)
	}
	freeze := text(t, a, "#freeze")
	if !strings.Contains(freeze, earlier) || !strings.Contains(freeze, "Freeze issued codes") {
		t.Errorf("the freeze list %q, want the earlier order on the device, to freeze", freeze)
	}
	screenshot(t, a, "console-resolved.png")

	// The second analyst, reloading, sees the resolution and still no action.
	if err := chromedp.Do(b, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	state := text(t, b, "#state")
	if !strings.Contains(state, "确认欺诈") || !absent(t, b, "#actions") {
		t.Errorf("after the resolution the second analyst sees state %q and actions: %v", state, !absent(t, b, "#actions"))
	}
}
