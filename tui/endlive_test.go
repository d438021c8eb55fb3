package tui

import (
	"testing"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// A program that stopped under a live attempt (its connection dropped, the
// server shut down) is ended with EndLive. Events its page received that
// no Update applied come first: a customer who succeeded in that moment is
// SUCCEEDED in the audit, not ENDED BY AGENT, and EndLive says it ended
// nothing.
func TestEndLiveAppliesWhatThePageSentFirst(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess}
	// No h.until: no Update applies it, as when the program has stopped.
	if h.m.EndLive("The server restarted while the attempt was live.") {
		t.Fatal("EndLive ended an attempt whose customer had succeeded")
	}
	if ph := h.m.session.sess.Phase(); !ph.Succeeded() {
		t.Fatalf("phase %v, want a success", ph)
	}
	var outcomes []string
	for _, r := range h.audit.records() {
		if r.Action == audit.ActionOutcome {
			outcomes = append(outcomes, r.Outcome)
		}
	}
	if len(outcomes) != 1 || outcomes[0] != "SUCCEEDED" {
		t.Fatalf("outcomes recorded %v, want [SUCCEEDED]", outcomes)
	}
}

// With nothing waiting, EndLive ends the attempt with the reason given.
func TestEndLiveEndsALiveAttempt(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	if !h.m.EndLive("The server restarted while the attempt was live.") {
		t.Fatal("EndLive ended nothing")
	}
	if ph := h.m.session.sess.Phase(); ph != state.EndedByAgent {
		t.Fatalf("phase %v, want EndedByAgent", ph)
	}
}
