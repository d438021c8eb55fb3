package tui

import (
	"context"
	"errors"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// The account screen's tea.Cmds: every network call, file write and wait it
// needs. Each reads what it needs from the screenCtx when it is made and
// returns a message; none changes the screen.

// closePage closes a page off the UI goroutine (it ends the page server's
// session and logs).
func closePage(p Page) tea.Cmd {
	if p == nil {
		return nil
	}
	return func() tea.Msg { p.Close(); return nil }
}

// fetchDetail reads the account's details and what else is known about it
// (Deps.SignalsFor: its webhook marks, its past attempts in the audit; and
// Deps.Attempts: its History): all may do I/O, so all run here. seq numbers
// the read (the screen's detailSeq).
func fetchDetail(c *screenCtx, gen, seq uint64, id string) tea.Cmd {
	ctx, api, signalsFor := c.ctx, c.deps.Mono, c.deps.SignalsFor
	attempts, now := c.deps.Attempts, c.now().Local()
	return func() tea.Msg {
		a, err := api.Account(ctx, id)
		var sig state.Signals
		if signalsFor != nil {
			sig = signalsFor(ctx, id)
		}
		var hist *accountHistory
		if attempts != nil {
			sum, ok := attempts(ctx, id, now)
			hist = &accountHistory{summary: sum, ok: ok}
		}
		return accountDetailMsg{gen: gen, seq: seq, account: a, signals: sig, history: hist, err: err}
	}
}

// mint writes recs (the token_mint_requested record) before the request
// leaves the process, so every token Mono issues is in the audit even if
// the program dies before the answer.
func mint(c *screenCtx, gen uint64, id string, journal *auditQueue) tea.Cmd {
	ctx, api, rec := c.ctx, c.deps.Mono, c.deps.Audit
	return func() tea.Msg {
		journal.tryNow()
		if err := journal.drain(rec); err != nil {
			// The audit cannot record this mint: nothing is asked of Mono.
			return mintResultMsg{gen: gen, err: auditDownError{err}}
		}
		t, err := api.Reauthorise(ctx, id)
		guard(rec, t.Value)
		return mintResultMsg{gen: gen, token: t, err: err}
	}
}

// auditDownError is a mint refused because its record could not be
// written (the store unreachable, the disk full).
type auditDownError struct{ err error }

func (e auditDownError) Error() string {
	return "the audit cannot be written, so no token was minted (" + auditWhy(e.err) + ")"
}

// auditWhy is why the audit's store did not take a record, in the agent's
// words: a commit that timed out is the store's silence (not Mono's).
func auditWhy(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "the audit store did not answer in time"
	}
	return mono.CleanText(err.Error())
}

func (e auditDownError) Unwrap() error { return e.err }

func servePage(c *screenCtx, gen uint64, req PageRequest) tea.Cmd {
	ctx, pages, rec := c.ctx, c.deps.Pages, c.deps.Audit
	return func() tea.Msg {
		if pages == nil {
			return pageResultMsg{gen: gen, err: errors.New("no page server is configured")}
		}
		p, err := pages.Open(ctx, req)
		if err == nil {
			guard(rec, pageSecret(p.URL()))
		}
		return pageResultMsg{gen: gen, page: p, err: err}
	}
}

// maxEventBatch bounds the events one widgetMsg carries, so a flooding
// page still lets keys and other messages in between its bursts.
const maxEventBatch = 64

// waitEvent hands recs (this page's audit records from the last Update) to
// the audit, then reads the page's next events: the first one it waits for,
// then every one already queued behind it (up to maxEventBatch), in order.
// Events arrive through the page server's buffer, so this never holds up
// the browser's HTTP request.
func waitEvent(c *screenCtx, gen uint64, p Page, journal *auditQueue, inbox *eventInbox) tea.Cmd {
	ctx, rec := c.ctx, c.deps.Audit
	epoch := inbox.readingEpoch()
	return func() tea.Msg {
		// Each Record waits for an fsync: not on the way to the next
		// event. The journal keeps them in order.
		go journal.drain(rec)
		r, ok := inbox.startReading(epoch)
		if !ok {
			return nil // the page was taken over after its program stopped
		}
		defer inbox.doneReading(r)
		select {
		case <-r.stopped():
			return nil
		case ev, ok := <-p.Events():
			if !ok {
				return pageEndedMsg{gen: gen, page: p, why: p.EndReason()}
			}
			return widgetMsg{gen: gen, page: p, evs: inbox.hold(guardCodes(rec, drainEvents(p, ev)))}
		case <-p.Done():
			// Drain what was queued before the end so no outcome is lost.
			select {
			case ev, ok := <-p.Events():
				if ok {
					return widgetMsg{gen: gen, page: p, evs: inbox.hold(guardCodes(rec, drainEvents(p, ev)))}
				}
			default:
			}
			return pageEndedMsg{gen: gen, page: p, why: p.EndReason()}
		case <-ctx.Done():
			return nil
		}
	}
}

// pageSecret is the secret a page URL carries in its fragment.
func pageSecret(u string) string {
	_, frag, _ := strings.Cut(u, "#")
	return frag
}

// guardCodes registers the onSuccess codes of evs with rec before the
// events reach Update (and so before any record of them).
func guardCodes(rec Recorder, evs []mono.WidgetEvent) []mono.WidgetEvent {
	for _, ev := range evs {
		if ev.Data.Code != "" {
			guard(rec, ev.Data.Code)
		}
	}
	return evs
}

// drainEvents returns first and the events already waiting behind it, up to
// maxEventBatch, without blocking. A closed channel ends the batch; the
// next waitEvent reports the end.
func drainEvents(p Page, first mono.WidgetEvent) []mono.WidgetEvent {
	evs := []mono.WidgetEvent{first}
	for len(evs) < maxEventBatch {
		select {
		case ev, ok := <-p.Events():
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		default:
			return evs
		}
	}
	return evs
}

// initiateHosted asks Mono for a hosted reauth link (for a customer who is
// not at the agent's screen); ref ties Mono's webhooks back to this session.
func initiateHosted(c *screenCtx, accountID, ref string) tea.Cmd {
	ctx, api, redirect := c.ctx, c.deps.Mono, c.deps.RedirectURL
	return func() tea.Msg {
		u, err := api.InitiateReauth(ctx, accountID, "reauth-"+ref, redirect)
		return hostedLinkMsg{url: u, err: err}
	}
}

func launchBrowser(c *screenCtx, url string) tea.Cmd {
	open := c.deps.OpenBrowser
	if open == nil {
		return nil
	}
	return func() tea.Msg { return browserResultMsg{err: open(url)} }
}

func verifyLater(c *screenCtx, s *sessionScreen, gen uint64, after time.Duration) tea.Cmd {
	ctx, api, attempt, id, deps := c.ctx, c.deps.Mono, s.id(), s.account.ID, c.deps
	return func() tea.Msg {
		t := time.NewTimer(after)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
		a, err := api.Account(ctx, id)
		return verifyResultMsg{attempt: attempt, gen: gen, account: a, err: err, webhook: latestWebhook(deps, id)}
	}
}

// latestWebhook is the webhook store's newest word on account id (nil:
// none, or no store). I/O for a Cmd or a goroutine, never Update.
func latestWebhook(d Deps, id string) *state.WebhookEvidence {
	if d.LatestWebhook == nil {
		return nil
	}
	if w, ok := d.LatestWebhook(id); ok {
		return &w
	}
	return nil
}

// rereadAccount reads the account once more while verifying (a webhook's
// news prompts it); it schedules no follow-up.
func rereadAccount(c *screenCtx, s *sessionScreen, gen uint64) tea.Cmd {
	ctx, api, attempt, id, deps := c.ctx, c.deps.Mono, s.id(), s.account.ID, c.deps
	return func() tea.Msg {
		a, err := api.Account(ctx, id)
		return verifyResultMsg{attempt: attempt, gen: gen, account: a, err: err, kicked: true, webhook: latestWebhook(deps, id)}
	}
}

// record writes an audit entry off the UI goroutine (it fsyncs).
func record(c *screenCtx, e audit.Record) tea.Cmd {
	return recordCmd(c, []audit.Record{e})
}

// recordAll writes audit entries one after another, in order, off the UI
// goroutine.
func recordAll(c *screenCtx, es []audit.Record) func() {
	rec := c.deps.Audit
	if rec == nil || len(es) == 0 {
		return nil
	}
	return func() {
		for _, e := range es {
			rec.Record(e)
		}
	}
}

// recordCmd is recordAll as a tea.Cmd.
func recordCmd(c *screenCtx, es []audit.Record) tea.Cmd {
	f := recordAll(c, es)
	if f == nil {
		return nil
	}
	return func() tea.Msg { f(); return nil }
}
