package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reauth/reauth/mono/webhook"
)

// linkProc is `reauth link --json` running, its JSON lines read as they come.
type linkProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan map[string]any
	stderr bytes.Buffer
	url    string
	seen   []string // event names and callbacks so far
}

func startLinkProc(t *testing.T, env []string, args ...string) *linkProc {
	t.Helper()
	state := t.TempDir()
	p := &linkProc{t: t, lines: make(chan map[string]any, 256)}
	p.cmd = exec.Command(binPath, append([]string{"link", "5ca1ab1e0000000000000002", "--no-browser", "--json", "--timeout", "3m"}, args...)...)
	p.cmd.Env = append([]string{"HOME=" + state, "XDG_STATE_HOME=" + state, "PATH=" + os.Getenv("PATH")}, env...)
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				p.lines <- m
			}
		}
	}()
	first := p.next(20 * time.Second)
	p.url, _ = first["url"].(string)
	if p.url == "" {
		t.Fatalf("first line %v; stderr %s", first, p.stderr.String())
	}
	return p
}

func (p *linkProc) next(limit time.Duration) map[string]any {
	p.t.Helper()
	select {
	case m, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("stdout ended; seen %v; stderr %s", p.seen, p.stderr.String())
		}
		return m
	case <-time.After(limit):
		p.t.Fatalf("nothing printed in %s; seen %v", limit, p.seen)
	}
	return nil
}

// until reads lines until an event named name (or an outcome) and returns
// the outcome line if that came first.
func (p *linkProc) until(name string) map[string]any {
	p.t.Helper()
	for {
		m := p.next(60 * time.Second)
		if _, ok := m["outcome"]; ok {
			return m
		}
		n, _ := m["name"].(string)
		if n == "" {
			n, _ = m["callback"].(string)
		}
		p.seen = append(p.seen, n)
		if n == name {
			return nil
		}
	}
}

// A reload and a closed tab opened again from the same link continue the
// same attempt to SUCCEEDED: `reauth link` (which runs the TUI's machine)
// sees the page reopen and the autoplayed customer finish.
func TestLinkSurvivesReloadAndReopenedTab(t *testing.T) {
	p := startLinkProc(t, nil, "--autoplay")
	browser := newBrowser(t)
	if _, err := chromedp.Run(browser, chromedp.Navigate("about:blank")); err != nil { // starts the browser; its first tab stays unused
		t.Fatal(err)
	}
	ctx, closeTab := chromedp.NewContext(browser)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.url)); err != nil {
		t.Fatal(err)
	}
	if o := p.until("OPENED"); o != nil {
		t.Fatalf("outcome before the widget opened: %v", o)
	}
	if _, err := chromedp.Run(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	if o := p.until("PAGE_REOPENED"); o != nil {
		t.Fatalf("the reload ended the attempt: %v (seen %v)", o, p.seen)
	}
	// The reloaded page has set itself up (its widget opened again), so
	// leaving it sends its unload.
	if o := p.until("OPENED"); o != nil {
		t.Fatalf("outcome before the reloaded widget opened: %v (seen %v)", o, p.seen)
	}
	// The customer leaves the page and closes that tab, then opens the link
	// again in a new one.
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	if o := p.until("unload"); o != nil {
		t.Fatalf("leaving the page ended the attempt: %v (seen %v)", o, p.seen)
	}
	closeTab()
	tab2, cancel2 := chromedp.NewContext(browser)
	defer cancel2()
	if _, err := chromedp.Run(tab2, chromedp.Navigate(p.url)); err != nil {
		t.Fatal(err)
	}
	out := p.until("never")
	if out["outcome"] != "SUCCEEDED" {
		t.Fatalf("outcome %v; events %v; stderr %s", out, p.seen, p.stderr.String())
	}
	if n := strings.Count(strings.Join(p.seen, " "), "PAGE_REOPENED"); n < 2 {
		t.Errorf("%d reopens seen, want the reload's and the new tab's: %v", n, p.seen)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

// The page is gone (the tab closed) and Mono's account_reauthorized arrives
// at `reauth link --webhook-addr`: the attempt is SUCCEEDED.
func TestLinkPageGoneThenWebhookSucceeds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const secret = "whsec-test-0123456789"
	p := startLinkProc(t, []string{"MONO_WEBHOOK_SECRET=" + secret}, "--webhook-addr", addr)
	ctx := newBrowser(t)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.url)); err != nil {
		t.Fatal(err)
	}
	if o := p.until("OPENED"); o != nil {
		t.Fatalf("outcome before the widget opened: %v", o)
	}
	// The customer leaves the page (its unload beacon says so).
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	if o := p.until("unload"); o != nil {
		t.Fatalf("the closed tab ended the attempt: %v", o)
	}
	body := webhook.Payload(webhook.Reauthorized, "5ca1ab1e0000000000000002", "evt-test-1")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := webhook.Send(sctx, "http://"+addr+"/", secret, json.RawMessage(body)); err != nil {
		t.Fatalf("webhook: %v", err)
	}
	out := p.until("never")
	if out["outcome"] != "SUCCEEDED" || !strings.Contains(out["reason"].(string), "account_reauthorized") {
		t.Fatalf("outcome %v; events %v", out, p.seen)
	}
}
