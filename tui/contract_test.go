package tui

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// accountPages are pages whose widget script takes the account id.
type accountPages struct{ *fakePages }

func (accountPages) ResolveContract(context.Context) (string, error) { return ContractAccount, nil }

// When the widget takes the account id, t prepares the link and no token
// is minted; the page is opened with the account contract and no token,
// and the audit says which contract ran.
func TestAccountContractMintsNoToken(t *testing.T) {
	var pages accountPages
	h := newHarness(t, harnessOpts{width: 100, height: 40, tweak: func(d *Deps) {
		pages = accountPages{d.Pages.(*fakePages)}
		d.Pages = pages
	}})
	openWrongOTP(t, h)
	h.key("t")
	h.until("link prepared", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	if v := plain(h.m); !strings.Contains(v, "prepared, no token") || !strings.Contains(v, "t prepare link") {
		t.Fatalf("screen:\n%s", v)
	}
	if slices.Contains(h.sb.RequestLog(), "POST /accounts/"+h.m.session.account.ID+"/reauthorise") {
		t.Fatal("a token was minted for the account contract")
	}
	h.key("o")
	h.until("page", func(m Model) bool { return m.session.sess.Phase() == state.PageOpened })
	req := pages.reqs[len(pages.reqs)-1]
	if req.Contract != ContractAccount || req.Token.Value != "" {
		t.Fatalf("page request %+v", req)
	}
	h.until("the link_prepared record", func(Model) bool { return slices.Contains(h.audit.actions(), audit.ActionLinkPrepared) })
	if slices.Contains(h.audit.actions(), audit.ActionTokenMintRequested) {
		t.Fatal("a mint was recorded")
	}
}

// An account with no sign that it needs reauth asks before a token is
// minted; n mints nothing.
func TestHealthyAccountAsksBeforeMinting(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 100, height: 40})
	h.until("loaded", loaded)
	var healthy string
	for _, a := range h.m.search.accounts {
		if !h.m.needsReauth(a) && a.DataStatus.Is("AVAILABLE") {
			healthy = a.ID
			break
		}
	}
	if healthy == "" {
		t.Fatal("fixture: no healthy account")
	}
	h.typeText(healthy)
	h.until("opened", func(m Model) bool { return m.session != nil })
	h.until("details", func(m Model) bool {
		return !m.session.sess.Reason().NeedsReauth() && m.session.account.DataRequestID != ""
	})
	h.key("t")
	if h.m.session.dialog != confirmHealthyMint || !strings.Contains(plain(h.m), "No sign this account needs reauth") {
		t.Fatalf("t did not ask:\n%s", plain(h.m))
	}
	h.key("n")
	if h.m.session.sess.Phase() != state.Explaining {
		t.Fatalf("n minted: %s", h.m.session.sess.Phase())
	}
	if !strings.Contains(plain(h.m), "data_request_id ") {
		t.Errorf("Mono support's data_request_id is not shown:\n%s", plain(h.m))
	}
	h.key("t", "y")
	h.until("minted", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
}

// A verified success clears the account's "needs reauth" mark.
func TestVerifiedSuccessClearsTheMark(t *testing.T) {
	cleared := make(chan string, 1)
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) {
		d.ClearMark = func(id string, _ time.Time) { cleared <- id }
	}})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess}
	h.until("verifying", func(m Model) bool { return m.session.sess.Phase() == state.Verifying })
	select {
	case id := <-cleared:
		t.Fatalf("cleared %s before any fresh signal", id)
	default:
	}
	h.monoSynced()
	h.until("verified", func(m Model) bool { return m.session.sess.Phase() == state.Verified })
	select {
	case id := <-cleared:
		if id != h.m.session.account.ID {
			t.Fatalf("cleared %s", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the mark was not cleared after the verified success")
	}
}
