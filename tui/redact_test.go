package tui

import (
	"strings"
	"testing"

	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/state"
)

// A page (or a widget error) that quotes the reauth token, the page secret
// or an onSuccess code cannot put it on the screen or in the audit: the
// page server redacts the session's secrets from event text, and the event
// is still shown and recorded.
func TestSecretsPostedByThePageAreRedacted(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 160, height: 50, tweak: func(d *Deps) {
		d.Pages = ConnectPages{Server: startPageServer(t, d.Now)}
	}})
	pageURL := openRealPage(t, h)
	p := posterFor(t, pageURL)
	token := h.m.session.sess.Token().Value
	secret := p.secret
	const code = "code_SECRET_77aa11"
	if len(token) < 8 || len(secret) < 8 {
		t.Fatalf("token %d / secret %d bytes: too short to test", len(token), len(secret))
	}

	p.mustPost("event", "ERROR", map[string]any{"errorType": "BAD_" + token, "errorMessage": "token " + token + " secret " + secret})
	p.mustPost("event", "EXIT", map[string]any{"pageName": "MFA " + secret})
	p.mustPost("success", "", map[string]any{"code": code})
	p.mustPost("event", "ERROR", map[string]any{"errorType": "LATE", "errorMessage": "the code was " + code})
	h.until("the late error shown", func(m Model) bool { return strings.Contains(plain(m), "the code was") })
	h.until("the records written", func(Model) bool {
		n := 0
		for _, r := range h.audit.recsCopy() {
			if strings.Contains(r.Event, "the code was") {
				n++
			}
		}
		return n == 1
	})

	view := plain(h.m)
	if !strings.Contains(view, connect.Redacted) {
		t.Errorf("nothing shown as redacted:\n%s", view)
	}
	for _, s := range []string{token, secret, code} {
		if strings.Contains(view, s) {
			t.Errorf("the screen shows a secret %q:\n%s", s, view)
		}
		for _, r := range h.audit.recsCopy() {
			for _, f := range []string{r.Event, r.Detail, r.Reason, r.Outcome, r.PageURL} {
				if strings.Contains(f, s) {
					t.Errorf("audit record %s holds a secret: %q", r.Action, f)
				}
			}
		}
	}
	if h.m.session.sess.Phase() < state.Succeeded {
		t.Errorf("phase %s", h.m.session.sess.Phase())
	}
}
