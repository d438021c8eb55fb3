package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
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

// At 80 columns the link shown with l is longer than a line: it wraps, whole,
// rather than being cut at the secret, and each of its lines is a link to the
// whole URL.
func TestShownLinkWrapsAtEightyColumns(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 80, height: 24, tweak: func(d *Deps) { d.Pages = longLinkPages{d.Pages} }})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	u := h.m.session.sess.PageURL()
	if len(u) <= 80-8 {
		t.Fatalf("fixture: the link (%d) fits one line", len(u))
	}
	h.key("l")
	v := plain(h.m)
	var joined strings.Builder
	for _, l := range strings.Split(v, "\n") {
		l = strings.TrimSpace(l)
		if joined.Len() > 0 && joined.Len() < len(u) {
			joined.WriteString(l)
			continue
		}
		if rest, ok := strings.CutPrefix(l, "Page  "); ok {
			joined.WriteString(rest)
		}
	}
	if joined.String() != u {
		t.Fatalf("the shown link is not whole (%q):\n%s", joined.String(), v)
	}
	raw := h.m.View().Content
	if n := strings.Count(raw, ansi.SetHyperlink(u)); n < 2 {
		t.Fatalf("%d of the link's lines link to the whole URL", n)
	}
}

// longLinkPages opens pages whose links are as long as the page server's
// (a 32-character page id, a 43-character secret).
type longLinkPages struct{ Pages }

func (l longLinkPages) Open(ctx context.Context, req PageRequest) (Page, error) {
	p, err := l.Pages.Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return longLinkPage{p}, nil
}

type longLinkPage struct{ Page }

func (longLinkPage) URL() string {
	return "http://127.0.0.1:42685/s/k1s7do1o-9OtZZCk25iTxQ4n_D0ECgg#PRNrasr37kEV-q0Vb3x8bL1mWcY2nZt5uJ6oAa4rTy7s"
}

// Once the attempt's page is closed (the token expired, the agent ended
// it, a takeover), its link is not offered: no URL or code on screen, c
// and l off, and the header says the page is closed, not "connected" as
// the page last said.
func TestClosedPageOffersNoLink(t *testing.T) {
	for _, c := range goldenCases() {
		if c.name != "expired" {
			continue
		}
		h := newHarness(t, harnessOpts{width: 120, height: 40})
		c.setup(t, h)
		u := h.m.session.sess.PageURL()
		v := plain(h.m)
		if u == "" || strings.Contains(v, maskFragment(u)) || strings.Contains(v, "Code  ") ||
			!strings.Contains(v, "Page  closed — its link no longer works") || !strings.Contains(v, "○ page closed") || strings.Contains(v, "page connected") {
			t.Fatalf("an expired attempt's page:\n%s", v)
		}
		if h.m.keys.CopyLink.Enabled() || h.m.keys.ShowLink.Enabled() {
			t.Fatal("c or l is on for a closed page")
		}
		h.key("c")
		if h.m.session.notice != "" {
			t.Fatalf("c did something: %q", h.m.session.notice)
		}
		return
	}
	t.Fatal("fixture: no expired golden case")
}
