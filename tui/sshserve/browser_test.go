package sshserve

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return "/usr/bin/chromium"
}

// newBrowser starts headless Chromium for one test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath()),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		// Two tabs play at once; neither may have its timers throttled.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("cannot start Chromium (%s): %v — install Debian's chromium", chromiumPath(), err)
	}
	return ctx
}

// The "done when": two agents ssh in at once, each runs a full
// sandbox reauth with the page opened in Chromium from the link shown in
// their own session, and neither sees the other's events.
func TestTwoAgentsCompleteSandboxReauthsInChromium(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada", "bob"}, autoplay: true})
	ada := f.open("ada", termOpts{})
	bob := f.open("bob", termOpts{})
	// Ada's customer gets the OTP wrong once; Bob's succeeds first time.
	adaURL := openPage(t, ada, "okonkwo", "Adaeze Okonkwo")
	bobURL := openPage(t, bob, "folake", "Folake Adeyemi-Bello")

	browser := newBrowser(t)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, u := range []string{adaURL, bobURL} {
		tab, cancel := chromedp.NewContext(browser)
		t.Cleanup(cancel)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(tab, 2*time.Minute)
			defer cancel()
			errs <- chromedp.Do(ctx, chromedp.Navigate(u))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("opening a page in Chromium: %v", err)
		}
	}

	for _, tm := range []*terminal{ada, bob} {
		tm.waitText("SUCCEEDED")
		tm.waitText("fresh data confirmed") // the sandbox's account_updated SUCCESSFUL after the reauth
	}
	// Ada's scripted customer typed a wrong OTP first; Bob's never did.
	ada.waitText("INVALID_OTP")
	if s := bob.screen(); strings.Contains(s, "INVALID_OTP") || strings.Contains(s, "Adaeze") {
		t.Fatalf("bob's screen shows ada's session:\n%s", s)
	}
	if s := ada.screen(); strings.Contains(s, "Folake") {
		t.Fatalf("ada's screen shows bob's session:\n%s", s)
	}
	f.mu.Lock()
	calls := f.browserCalls
	f.mu.Unlock()
	if calls != 0 {
		t.Fatalf("the server launched a browser %d times", calls)
	}
}
