package tui

import (
	"strings"
	"testing"
	"time"
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
