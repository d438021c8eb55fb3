package tui

import (
	"context"
	"testing"
	"time"
)

// HandOff gives the receiving replica the event the stopped program's page
// wait had just taken off the channel (it stops that wait and waits for it
// first): the customer's success is among the pending events, not lost.
func TestHandOffWaitsForTheStoppedProgramsLastRead(t *testing.T) {
	h, sa := stalledSuccess(t, "code_live_handoff")
	type result struct {
		ho  Handoff
		ok  bool
		err error
	}
	got := make(chan result, 1)
	go func() {
		ho, _, ok, err := h.m.HandOff("r1")
		got <- result{ho, ok, err}
	}()
	waitStopAsked(t, h.m.session.inbox, func() bool { return len(got) > 0 })
	close(sa.release)
	var r result
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("HandOff did not return")
	}
	if !r.ok || r.err != nil {
		t.Fatalf("HandOff: ok %v, err %v", r.ok, r.err)
	}
	if len(r.ho.Pending) != 1 || !r.ho.Pending[0].IsSuccess() {
		t.Fatalf("pending events handed over %+v, want the customer's success", r.ho.Pending)
	}
}

// A handed-over attempt's reason came from the details the old replica
// read: the account screen counts them as in, so a mint after Back to
// Explaining goes ahead instead of waiting for a read nobody asked for.
func TestHandedOverReasonCountsAsRead(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	ho, _, ok, err := h.m.HandOff("r1")
	if !ok || err != nil {
		t.Fatalf("HandOff: ok %v, err %v", ok, err)
	}
	m, err := ResumeHandedOver(context.Background(), context.Background(), h.deps, ho)
	if err != nil {
		t.Fatal(err)
	}
	if !m.session.detailsIn() {
		t.Fatal("the handed-over screen waits for details it never asked for")
	}
}
