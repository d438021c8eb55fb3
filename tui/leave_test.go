package tui

import (
	"slices"
	"strings"
	"testing"

	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// Leaving a live attempt never drops its page or token silently: esc and q
// ask; n keeps everything; y ends the attempt as the agent's own outcome,
// with a pane line and an audit record.
func TestLeavingALiveAttemptAsks(t *testing.T) {
	for _, key := range []string{"esc", "q", "ctrl+c"} {
		t.Run(key, func(t *testing.T) {
			h := newHarness(t, harnessOpts{width: 100, height: 40})
			openWrongOTP(t, h)
			h.mintAndOpenPage() // served, not yet loaded by the customer
			h.key(key)
			if h.m.session == nil || h.m.session.dialog == noDialog || h.quit {
				t.Fatalf("%s with a live page did not ask", key)
			}
			if v := plain(h.m); !strings.Contains(v, "This attempt is live") || !strings.Contains(v, "y / n") {
				t.Fatalf("no question on screen:\n%s", v)
			}
			h.key("n")
			if h.m.session.dialog != noDialog || h.m.session.sess.Phase() != state.PageOpened || h.m.session.page == nil {
				t.Fatalf("n changed the attempt: %s", h.m.session.sess.Phase())
			}
			h.key(key)
			h.key("y")
			if key == "esc" {
				if h.m.screen != screenSearch {
					t.Fatal("y did not leave")
				}
			} else if !h.quit {
				h.until("quit", func(Model) bool { return h.quit })
			}
			h.until("the agent's end recorded", func(Model) bool {
				for _, r := range h.audit.recsCopy() {
					if r.Action == audit.ActionOutcome && r.Outcome == "ENDED BY AGENT" {
						return true
					}
				}
				return false
			})
		})
	}
	// Nothing live: esc goes straight back, q straight out.
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	h.key("esc")
	if h.m.screen != screenSearch {
		t.Fatal("esc on the reason screen asked or stayed")
	}
	if slices.Contains(h.audit.actions(), audit.ActionOutcome) {
		t.Error("an outcome was recorded without an attempt")
	}
}
