package tui

import (
	"strings"

	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// The link is masked until l shows it whole (secret included) and hides it
// again; c says the link was sent to the terminal's clipboard and how to
// check, and the notice goes after a while; the footer offers "v hide
// token" once the token is shown.
func TestLinkShownOnRequestAndCopyNoticeIsHonest(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 120, height: 40})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	u := h.m.session.sess.PageURL()
	_, secret, _ := strings.Cut(u, "#")
	if v := plain(h.m); strings.Contains(v, secret) || !strings.Contains(v, "#••••••") {
		t.Fatalf("the link is not masked:\n%s", v)
	}
	h.key("l")
	if v := plain(h.m); !strings.Contains(v, u) || !strings.Contains(v, "l hide link") {
		t.Fatalf("l did not show the whole link:\n%s", v)
	}
	h.key("l")
	if strings.Contains(plain(h.m), secret) {
		t.Fatal("l did not hide the link again")
	}
	h.key("c")
	if v := plain(h.m); !strings.Contains(v, "Link sent to your terminal's clipboard") || strings.Contains(v, "copied") {
		t.Fatalf("copy notice:\n%s", v)
	}
	h.tick(noticeFor + time.Second)
	if strings.Contains(plain(h.m), "Link sent") {
		t.Fatal("the notice stayed")
	}
	h.key("v")
	if v := plain(h.m); !strings.Contains(v, "v hide token") {
		t.Fatalf("the footer still says reveal:\n%s", v)
	}
}

// Live mode says LIVE in the header as plainly as the sandbox says SANDBOX.
func TestLiveBadge(t *testing.T) {
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) { d.Sandbox = false }})
	h.until("loaded", loaded)
	if v := plain(h.m); !strings.Contains(v, "LIVE") || strings.Contains(v, "SANDBOX") {
		t.Fatalf("header:\n%s", v)
	}
}

// w brings the reason's evidence and script back once the page is open;
// a terminal too small for the session screen says so instead of dropping
// lines silently.
func TestWhyStaysReachableAndTooSmallSaysSo(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 100, height: 40})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	if strings.Contains(plain(h.m), "Say ") {
		t.Fatal("the script is shown in full while the page is open")
	}
	h.key("w")
	if v := plain(h.m); !strings.Contains(v, "Say ") || h.m.keys.ShowWhy.Help().Desc != "hide why" {
		t.Fatalf("w did not bring the script back:\n%s", v)
	}
	h.send(tea.WindowSizeMsg{Width: 40, Height: 10})
	if v := plain(h.m); !strings.Contains(v, "Terminal too small (") || !strings.Contains(v, h.m.session.sess.PairingCode()) {
		t.Fatalf("40x10:\n%s", v)
	}
}
