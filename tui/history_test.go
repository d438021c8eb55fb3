package tui

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// seedHistory writes four earlier attempts at the wrong-OTP account
// through the deps' recorder, as other agents' sessions would have left
// them: the newest three are the History's rows, the oldest is not shown.
func seedHistory(h *harness) {
	h.t.Helper()
	now := h.clock.Now() // 25 Nov 14:00
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	rec := func(session, who string, t time.Time, r audit.Record) {
		r.Session, r.Account, r.Time, r.Agent = session, wrongOTPID, t, audit.Agent{User: who}
		h.deps.Audit.Record(r)
	}
	// Today 13:12, bola: the customer got the OTP wrong twice, the token ran out.
	rec("a4", "bola", at(48*time.Minute), audit.Record{Action: audit.ActionTokenMintRequested})
	rec("a4", "bola", at(48*time.Minute), audit.Record{Action: audit.ActionTokenMinted})
	rec("a4", "bola", at(47*time.Minute), audit.Record{Action: audit.ActionPageOpened})
	rec("a4", "bola", at(45*time.Minute), audit.Record{Action: audit.ActionWidgetEvent, Event: "Error: INVALID_OTP — The OTP entered is wrong"})
	rec("a4", "bola", at(44*time.Minute), audit.Record{Action: audit.ActionWidgetEvent, Event: "Error: INVALID_OTP — The OTP entered is wrong"})
	rec("a4", "bola", at(38*time.Minute), audit.Record{Action: audit.ActionOutcome, Outcome: "EXPIRED"})
	// Yesterday, tunde: the account contract, the bank was down.
	rec("a3", "tunde", at(21*time.Hour+20*time.Minute), audit.Record{Action: audit.ActionLinkPrepared})
	rec("a3", "tunde", at(21*time.Hour+19*time.Minute), audit.Record{Action: audit.ActionWidgetEvent, Event: "Error: BANK_UNAVAILABLE — The bank is not responding"})
	rec("a3", "tunde", at(21*time.Hour+18*time.Minute), audit.Record{Action: audit.ActionOutcome, Outcome: "FAILED"})
	// 20 Nov, ada: it worked and Mono confirmed fresh data.
	rec("a2", "ada@support", at(5*24*time.Hour+5*time.Hour), audit.Record{Action: audit.ActionTokenMinted})
	rec("a2", "ada@support", at(5*24*time.Hour+4*time.Hour+50*time.Minute), audit.Record{Action: audit.ActionOutcome, Outcome: "SUCCEEDED"})
	rec("a2", "ada@support", at(5*24*time.Hour+4*time.Hour+48*time.Minute), audit.Record{Action: audit.ActionVerification, Outcome: "verified"})
	// October: too old for the three rows.
	rec("a1", "kemi", at(40*24*time.Hour), audit.Record{Action: audit.ActionTokenMinted})
	rec("a1", "kemi", at(40*24*time.Hour), audit.Record{Action: audit.ActionOutcome, Outcome: "ENDED BY AGENT"})
}

// historyBlock is the History block of the view, plain: its lines from
// "History" to the blank line before the token.
func historyBlock(t *testing.T, m Model) []string {
	t.Helper()
	lines := strings.Split(plain(m), "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "History ") {
			end := i + 1
			for end < len(lines) && strings.TrimSpace(lines[end]) != "" {
				end++
			}
			out := lines[i:end]
			for j := range out {
				out[j] = strings.TrimSpace(out[j])
			}
			return out
		}
	}
	t.Fatalf("no History block:\n%s", plain(m))
	return nil
}

// The account screen shows the account's earlier attempts, read from the
// audit: the summary line, then the newest three, one line each (when, who,
// contract, outcome and verification, the errors seen).
func TestAccountHistoryShowsEarlierAttempts(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 120, height: 40})
	seedHistory(h)
	openWrongOTP(t, h)
	h.until("history read", func(m Model) bool { return m.session.history != nil })
	got := historyBlock(t, h.m)
	want := []string{
		"History last attempt 13:12 by bola: EXPIRED (INVALID_OTP ×2)",
		"13:12         bola         token    EXPIRED              INVALID_OTP ×2",
		"24 Nov 16:40  tunde        account  FAILED               BANK_UNAVAILABLE",
		"20 Nov 09:00  ada@support  token    SUCCEEDED, verified",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("History block:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v := plain(h.m); strings.Contains(v, "kemi") {
		t.Fatalf("a fourth attempt is listed:\n%s", v)
	}
	// The same at 80×24 before the page opens: the whole block fits, every
	// line within the width, the screen its height.
	h.send(tea80x24)
	got = historyBlock(t, h.m)
	if len(got) != 4 {
		t.Fatalf("80×24: History has %d lines, want 4:\n%s", len(got), plain(h.m))
	}
	checkFits(t, h.m, 80, 24)
}

// When the audit cannot be read the History says so: never "no earlier
// attempts".
func TestAccountHistoryUnavailable(t *testing.T) {
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) {
		d.Attempts = func(context.Context, string, time.Time) (audit.Summary, bool) { return audit.Summary{}, false }
	}})
	openWrongOTP(t, h)
	h.until("history read", func(m Model) bool { return m.session.history != nil })
	v := plain(h.m)
	if !strings.Contains(v, "History history unavailable (the audit could not be read)") || strings.Contains(v, "no earlier attempts") {
		t.Fatalf("unreadable audit not said:\n%s", v)
	}
}

// Without Deps.Attempts there is no History block at all.
func TestAccountHistoryNotConfigured(t *testing.T) {
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) { d.Attempts = nil }})
	openWrongOTP(t, h)
	if v := plain(h.m); strings.Contains(v, "History") {
		t.Fatalf("History shown without Deps.Attempts:\n%s", v)
	}
}

// The attempt on screen is not an earlier attempt: a re-read after its
// failed mint (a webhook's news while the reason is shown again) finds it in
// the audit and leaves it out.
func TestAccountHistoryLeavesOutTheAttemptOnScreen(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	h.until("history read", func(m Model) bool { return m.session.history != nil })
	if got := historyBlock(t, h.m); !slices.Equal(got, []string{"History no earlier attempts"}) {
		t.Fatalf("fresh account: %q", got)
	}
	// Mono fails the mint once: the attempt has begun (its records are in
	// the audit) and the reason is shown again.
	h.sb.SetFault(sandbox.Fault{Path: "/accounts/" + wrongOTPID + "/reauthorise", Kind: sandbox.FaultStatus, Status: 500, Times: 1})
	h.key("t")
	h.until("mint failed", func(m Model) bool { return m.session.sess.MintError() != "" })
	h.until("mint failure audited", func(Model) bool { return slices.Contains(h.audit.actions(), audit.ActionTokenMintFailed) })
	if ph := h.m.session.sess.Phase(); ph != state.Explaining {
		t.Fatalf("phase %v after a failed mint, want Explaining", ph)
	}
	seen := h.m.session.detailSeen
	h.webhooks <- AccountSignal{AccountID: wrongOTPID, Event: "mono.events.reauthorisation_required", NeedsReauth: true, At: h.clock.Now()}
	h.until("re-read", func(m Model) bool { return m.session.detailSeen > seen })
	if a := h.m.session.history.summary.Attempts; len(a) == 0 || a[0].Session != h.m.session.id() {
		t.Fatalf("the re-read did not see this attempt (%+v): the test proves nothing", a)
	}
	if got := historyBlock(t, h.m); !slices.Equal(got, []string{"History no earlier attempts"}) {
		t.Fatalf("the attempt on screen is listed: %q\n%s", got, plain(h.m))
	}
}

// After an attempt ends, the account's History shows it the next time the
// account is opened.
func TestAccountHistoryAfterAnOutcome(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackPageError,
		Data: mono.EventData{ErrorMessage: "Re-auth token is required for reauthorisation"}}
	h.until("failed", func(m Model) bool { return m.session.sess.Phase() == state.Failed })
	h.until("outcome audited", func(Model) bool { return slices.Contains(h.audit.actions(), audit.ActionOutcome) })
	first := h.m.session.id()
	h.key("esc")
	if h.m.screen != screenSearch {
		t.Fatalf("esc after the outcome did not go back to the list:\n%s", plain(h.m))
	}
	h.key("enter")
	if h.m.screen != screenSession || h.m.session.id() == first {
		t.Fatal("enter did not open the account afresh")
	}
	h.until("history read", func(m Model) bool { return m.session.history != nil })
	got := historyBlock(t, h.m)
	if len(got) != 2 || got[0] != "History last attempt 14:00 by ada@support: FAILED" ||
		!strings.HasPrefix(got[1], "14:00  ada@support  token  FAILED") {
		t.Fatalf("History after a failed attempt: %q\n%s", got, plain(h.m))
	}
}

// Once the page is live at 80×24 the History gives its rows to the status
// pane, as the reason's evidence does; w shows both again, within the
// screen.
func TestAccountHistoryCollapsesWhileLive(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	seedHistory(h)
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	if v := plain(h.m); strings.Contains(v, "History") {
		t.Fatalf("History kept at 80×24 while the page is open:\n%s", v)
	}
	h.key("w")
	checkFits(t, h.m, 80, 24)
	// At 120×40 there is room for all of it beside the status pane.
	h.key("w")
	h.send(tea120x40)
	if got := historyBlock(t, h.m); len(got) != 4 {
		t.Fatalf("120×40: History has %d lines, want 4:\n%s", len(got), plain(h.m))
	}
	checkFits(t, h.m, 120, 40)
}

func TestHistoryTime(t *testing.T) {
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 11, 25, 0, 5, 0, 0, time.UTC), "00:05"},
		{time.Date(2026, 11, 24, 23, 59, 0, 0, time.UTC), "24 Nov 23:59"},
		{time.Date(2025, 11, 25, 14, 0, 0, 0, time.UTC), "25 Nov 2025"},
	} {
		if got := historyTime(tt.at, now); got != tt.want {
			t.Errorf("historyTime(%v) = %q, want %q", tt.at, got, tt.want)
		}
	}
}

var (
	tea80x24  = tea.WindowSizeMsg{Width: 80, Height: 24}
	tea120x40 = tea.WindowSizeMsg{Width: 120, Height: 40}
)

func checkFits(t *testing.T, m Model, w, hgt int) {
	t.Helper()
	lines := strings.Split(m.View().Content, "\n")
	if len(lines) != hgt {
		t.Fatalf("%dx%d: %d lines:\n%s", w, hgt, len(lines), plain(m))
	}
	for i, l := range lines {
		if lw := ansi.StringWidth(l); lw > w {
			t.Fatalf("%dx%d: line %d is %d wide: %q", w, hgt, i, lw, ansi.Strip(l))
		}
	}
}
