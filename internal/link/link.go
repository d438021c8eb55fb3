// Package link runs one reauth from the command line (`reauth link`): it
// drives the same attempt as the TUI (state.Attempt, so the same
// transitions, outcome words, status lines and audit records), with a
// transcript on stdout instead of a status pane.
//
// It lives in the application layer: it owns the I/O (the audit, the mint,
// the page's event stream, the clock's timers) around the pure machine,
// which mono/connect (the page server) knows nothing about.
package link

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pkg/browser"

	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// Page is one served widget page and its event stream (mono/connect's
// session in the app; the same shape as tui.Page).
type Page interface {
	URL() string
	PairingCode() string
	Events() <-chan mono.WidgetEvent
	Done() <-chan struct{}
	EndReason() string
	Close()
}

// Minter mints reauth tokens (*mono.Client).
type Minter interface {
	Reauthorise(ctx context.Context, id string) (mono.Token, error)
}

// Appender writes one audit record durably (*audit.Log, stamped with the
// agent by the caller). An error stops the run before anything it would
// have recorded happens: no mint leaves the process unrecorded.
type Appender interface {
	Append(r audit.Record) error
}

// guard registers secrets with the audit when it can redact them (an
// *audit.Log behind the Appender): each is registered as soon as the run
// learns it, before any record of it.
func (r *runner) guard(secrets ...string) {
	if g, ok := r.opts.Audit.(interface{ Guard(...string) }); ok {
		g.Guard(secrets...)
	}
}

// Signal is news about an account from Mono's webhooks.
type Signal struct {
	AccountID    string
	Reauthorized bool   // mono.events.account_reauthorized
	SyncStatus   string // account_updated's meta.sync_status
	At           time.Time
}

// Claims is the team's claims on accounts as one run uses them (one live
// attempt per account across the team; internal/app binds them to the
// agent).
type Claims interface {
	Take(ctx context.Context, account, attempt, phase, step string, takeOver bool) (claim.Claim, error)
	Release(ctx context.Context, account, attempt string) error
	// Watch is tui.Claims.Watch: the changes whose account wants accepts.
	Watch(ctx context.Context, wants func(account string) bool) <-chan claim.Claim
}

// Options configure Run.
type Options struct {
	Account mono.Account
	// Mint, when set, mints the token (the token contract). Nil: the
	// widget takes the account id and no token is minted (LinkLifetime
	// bounds the link instead).
	Mint Minter
	// Open serves the page for the account and token (empty token with the
	// account contract).
	Open func(ctx context.Context, acct mono.Account, tok mono.Token) (Page, error)
	// Audit receives every record of the attempt, in order. Required.
	Audit Appender
	// Signals delivers Mono's webhooks (reauth link --webhook-addr); nil:
	// none.
	Signals <-chan Signal
	// Known is what was known about the account before the run (Mono's
	// webhooks, its past attempts), for its reason, as the TUI's details
	// step has it.
	Known state.Signals

	Out         io.Writer // stdout; nil discards
	JSON        bool      // JSON lines instead of sentences
	Sandbox     bool      // say SANDBOX in the header
	OpenBrowser func(url string) error
	// Timeout is when the run stops waiting (the agent's end: ENDED BY
	// AGENT). Zero: a minute after the token expires.
	Timeout time.Duration
	// ExitOnClose stops at the first close of the widget or the page, as
	// `reauth link` did before a close became something the customer can
	// undo (scripts that want the old behaviour).
	ExitOnClose bool
	// LinkLifetime bounds a link with no token (the account contract).
	// Zero: 15 minutes.
	LinkLifetime time.Duration
	Now          func() time.Time
	// OnAttempt, when set, is called once with the attempt's audit id.
	OnAttempt func(id string)
	// Claims, when set, is taken before anything is minted or served: an
	// account a colleague's live attempt holds is refused (a *claim.HeldError
	// naming them) unless TakeOver; a colleague taking it over later ends
	// the run TAKEN OVER, naming them. Released when the run ends.
	Claims   Claims
	TakeOver bool
}

// Result of Run.
type Result struct {
	Outcome     state.Outcome
	URL         string // includes the page secret: show, never log
	PairingCode string
	Attempt     string // the audit correlation id
	Events      int    // widget events seen (heartbeats excluded)
	// Unwritten counts the attempt's records the audit's store still had
	// not taken when the run ended (an outage): the outcome stands, the
	// audit lacks them. UnwrittenErr is the store's last word.
	Unwritten    int
	UnwrittenErr error
}

// ExitCode is 0 only for a success, else 1 (2 is for usage and
// configuration errors, returned as errors before any attempt).
func (r Result) ExitCode() int {
	if r.Outcome.Kind == state.OutcomeSucceeded {
		return 0
	}
	return 1
}

// ErrCanceled is returned (wrapped) when the run was stopped by its
// context (Ctrl-C); the attempt is recorded as ended by the agent.
var ErrCanceled = errors.New("cancelled")

// successGrace is how long Run waits, after a success, for the close that
// connect.js always sends next, so the transcript ends cleanly.
const successGrace = 3 * time.Second

// Run mints (with the token contract), serves the page, prints its URL
// first, then a line for every line of the attempt, until an outcome. An
// error before the page is served (the audit, the mint, the page server)
// is returned with the attempt's records written so far.
func Run(ctx context.Context, opts Options) (Result, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.Audit == nil || opts.Open == nil {
		return Result{}, errors.New("link: Audit and Open are required")
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	r := &runner{opts: opts, now: now, p: &printer{w: out, json: opts.JSON}, att: state.NewAttempt("link-" + randomID())}
	if opts.OnAttempt != nil {
		opts.OnAttempt(r.att.ID())
	}
	return r.run(ctx)
}

type runner struct {
	opts   Options
	now    func() time.Time
	p      *printer
	att    state.Attempt
	page   Page
	events int
	// claimNews is every claim change while the run holds its account
	// (nil without Claims).
	claimNews <-chan claim.Claim
	// claimVersion is the version of the run's own take: claim news no
	// newer than it is older than the take.
	claimVersion int64
	// unwritten are records the audit's store failed to take (an outage),
	// in order: each write tries them first, so they land late rather than
	// not at all; failedAt is when the store last failed (a write within
	// auditRetryGap of it does not ask again).
	unwritten []audit.Record
	failedAt  time.Time
	stallTold bool // the run has said the store stopped taking records
}

// errAuditWrite: a record could not be written.
var errAuditWrite = errors.New("cannot write the audit log")

// auditRetryGap is how soon after a failed write the store is asked again.
const auditRetryGap = time.Second

// apply runs one event through the attempt, prints its lines and writes
// its records (durably, in order, after any still waiting): an error
// wrapping errAuditWrite says they are not all written yet.
func (r *runner) apply(ev state.Event) error {
	st, err := r.att.Apply(ev, r.now())
	if err != nil {
		return err
	}
	for _, l := range st.Lines {
		r.p.line(l)
	}
	return r.write(st.Records)
}

// write appends recs to the audit after the records still waiting, in
// order. A record the audit refuses for itself (audit.ErrRefused) is
// dropped and the rest go on; when the store fails to take one, it and
// everything after it wait for the next write, which asks the store again
// once auditRetryGap has passed (or at once after askNow).
func (r *runner) write(recs []audit.Record) error {
	r.unwritten = append(r.unwritten, recs...)
	if len(r.unwritten) > 0 && !r.failedAt.IsZero() && time.Since(r.failedAt) < auditRetryGap {
		return fmt.Errorf("%w: the store failed a moment ago; %d records wait", errAuditWrite, len(r.unwritten))
	}
	var refused error
	for len(r.unwritten) > 0 {
		err := r.opts.Audit.Append(r.unwritten[0])
		switch {
		case err == nil:
		case !audit.Retryable(err):
			refused = fmt.Errorf("%w: %w", errAuditWrite, err) // never written, however often tried
		default:
			r.failedAt = time.Now()
			if !r.stallTold {
				r.stallTold = true
				r.p.notice(fmt.Sprintf("Audit store not taking records (%s): %d waiting, written when it is back.",
					mono.CleanText(err.Error()), len(r.unwritten)))
			}
			return fmt.Errorf("%w: %w", errAuditWrite, err)
		}
		r.unwritten = r.unwritten[1:]
	}
	r.askNow()
	if r.stallTold {
		r.stallTold = false
		r.p.notice("Audit store back: the records that waited are written.")
	}
	return refused
}

// askNow lets the next write ask the store however recently it failed: a
// mint's record (the agent is owed a fresh answer), the run's last write.
func (r *runner) askNow() { r.failedAt = time.Time{} }

func (r *runner) run(ctx context.Context) (Result, error) {
	res := Result{Attempt: r.att.ID()}
	if err := r.apply(state.Event{Kind: state.AccountChosen, Account: r.opts.Account}); err != nil {
		return res, err
	}
	// The reason with what else is known, recorded as the TUI records it.
	recs, err := r.att.Refine(r.opts.Account, r.opts.Known, r.now())
	if err != nil {
		return res, err
	}
	if err := r.write(recs); err != nil {
		return res, err
	}
	if cl := r.opts.Claims; cl != nil {
		// Watch first, so a takeover right after the take is not missed.
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		account := r.opts.Account.ID
		r.claimNews = cl.Watch(wctx, func(a string) bool { return a == account })
		got, err := cl.Take(ctx, r.opts.Account.ID, r.att.ID(), "reauth link", "", r.opts.TakeOver)
		if err != nil {
			return res, err
		}
		r.claimVersion = got.Version
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = cl.Release(rctx, r.opts.Account.ID, r.att.ID())
		}()
		if from := got.From; from != nil {
			if err := r.write(r.att.TookOver(claim.Name(from.Holder), from.Attempt, from.Stale, r.now())); err != nil {
				return res, err
			}
			r.p.notice("Took the account over from " + claim.Name(from.Holder) + ".")
		}
	}
	var tok mono.Token
	if r.opts.Mint != nil {
		// The request record is durable before the request leaves.
		r.askNow()
		if err := r.apply(state.Event{Kind: state.MintRequested}); err != nil {
			return res, fmt.Errorf("refusing to mint: %w", err)
		}
		gen := r.att.Session().Generation()
		t, err := r.opts.Mint.Reauthorise(ctx, r.opts.Account.ID)
		r.guard(t.Value)
		if err != nil {
			refused := mono.KindOf(err) == mono.KindCannotReauth
			_ = r.apply(state.Event{Kind: state.MintFailed, Generation: gen, Err: err, Refused: refused})
			if refused {
				// An outcome, not a setup error: say it as one.
				res.Outcome = r.att.Session().Outcome()
				r.p.outcome(res.Outcome, r.now())
				return res, nil
			}
			return res, err
		}
		if err := r.apply(state.Event{Kind: state.MintSucceeded, Generation: gen, Token: t}); err != nil {
			return res, err
		}
		tok = t
	} else {
		life := r.opts.LinkLifetime
		if life <= 0 {
			life = 15 * time.Minute
		}
		if err := r.apply(state.Event{Kind: state.LinkPrepared, At: r.now().Add(life)}); err != nil {
			return res, err
		}
	}
	if err := r.apply(state.Event{Kind: state.PageRequested}); err != nil {
		return res, err
	}
	gen := r.att.Session().Generation()
	page, err := r.opts.Open(ctx, r.opts.Account, tok)
	if err != nil {
		_ = r.apply(state.Event{Kind: state.PageFailed, Generation: gen, Err: err})
		return res, err
	}
	r.page = page
	defer page.Close()
	if _, secret, ok := strings.Cut(page.URL(), "#"); ok {
		r.guard(secret)
	}
	res.URL, res.PairingCode = page.URL(), page.PairingCode()
	r.p.header(page, r.opts.Account, r.att.Session().Token(), r.opts.Sandbox)
	if err := r.apply(state.Event{Kind: state.PageServed, Generation: gen, PageURL: page.URL(), Pairing: page.PairingCode()}); err != nil {
		return res, err
	}
	if r.opts.OpenBrowser != nil {
		if err := startOpen(r.opts.OpenBrowser, page.URL()); err != nil {
			r.p.notice("Could not open a browser: open the address above yourself.")
		}
	}
	err = r.wait(ctx, gen)
	res.Outcome, res.Events = r.att.Session().Outcome(), r.events
	r.p.outcome(res.Outcome, r.now())
	r.askNow()
	if werr := r.write(nil); werr != nil && len(r.unwritten) > 0 {
		// The outcome is known and shown; the audit does not have all of
		// it, and the caller says so.
		res.Unwritten, res.UnwrittenErr = len(r.unwritten), werr
	}
	return res, err
}

// wait feeds the page's events, Mono's signals and the clock to the
// attempt until it has an outcome.
func (r *runner) wait(ctx context.Context, gen uint64) error {
	sess := r.att.Session()
	expiresAt := sess.Token().ExpiresAt
	// Durations from the run's own clock (injected in tests), timers on
	// the real one.
	left := expiresAt.Sub(r.now())
	timeout := r.opts.Timeout
	if timeout <= 0 {
		timeout = left + time.Minute
	}
	stop := time.NewTimer(timeout)
	defer stop.Stop()
	expiry := time.NewTimer(max(0, left))
	defer expiry.Stop()
	var grace <-chan time.Time
	closedAfterSuccess := false
	events, done := r.page.Events(), r.page.Done()
	for {
		ph := r.att.Session().Phase()
		if ph.HasOutcome() && !ph.Succeeded() {
			return nil
		}
		if ph.Succeeded() && closedAfterSuccess {
			return nil // the widget closes itself after a success: the transcript is complete
		}
		if ph.Succeeded() && grace == nil {
			t := time.NewTimer(successGrace)
			defer t.Stop()
			grace = t.C
		}
		if r.opts.ExitOnClose && (ph == state.WidgetClosed || ph == state.PageClosed) {
			return r.apply(state.Event{Kind: state.AgentEnded,
				Why: "The customer closed the " + map[bool]string{true: "widget", false: "page"}[ph == state.WidgetClosed] +
					"; reauth link stopped there (--exit-on-close)."})
		}
		select {
		case <-ctx.Done():
			if !ph.Succeeded() {
				_ = r.apply(state.Event{Kind: state.AgentEnded, Why: "Stopped by the agent (reauth link was interrupted)."})
			}
			return fmt.Errorf("%w: %w", ErrCanceled, ctx.Err())
		case <-grace:
			return nil
		case <-stop.C:
			if ph.Succeeded() {
				return nil
			}
			return r.apply(state.Event{Kind: state.AgentEnded,
				Why: fmt.Sprintf("No outcome within %s; reauth link stopped waiting (--timeout).", timeout.Round(time.Second))})
		case <-expiry.C:
			// The token's end: the machine judges it by the run's clock.
			_ = r.apply(state.Event{Kind: state.Tick})
		case sig, ok := <-r.opts.Signals:
			if !ok {
				r.opts.Signals = nil
				continue
			}
			r.signal(sig)
		case c, ok := <-r.claimNews:
			if !ok {
				r.claimNews = nil
				continue
			}
			if c.Account == r.opts.Account.ID && c.Attempt != r.att.ID() && !c.Released && c.Version > r.claimVersion {
				// (News is older than the take when its version is: a
				// colleague's refresh written before this run took the
				// account over, delivered after.)
				// A colleague took the account over: the attempt is theirs.
				_ = r.apply(state.Event{Kind: state.ClaimTaken, By: claim.Name(c.Holder), At: c.Updated})
			}
		case <-done:
			// What was queued before the end is read first: no outcome is lost.
			select {
			case ev, ok := <-events:
				if ok {
					closedAfterSuccess = r.widget(gen, ev) || closedAfterSuccess
					continue
				}
			default:
			}
			r.pageEnded(gen)
			events, done = nil, nil
		case ev, ok := <-events:
			if !ok {
				r.pageEnded(gen)
				events, done = nil, nil
				continue
			}
			closedAfterSuccess = r.widget(gen, ev) || closedAfterSuccess
		}
	}
}

// widget applies one page event; true when it is the close that follows a
// success.
func (r *runner) widget(gen uint64, ev mono.WidgetEvent) bool {
	if ev.Data.Code != "" {
		r.guard(ev.Data.Code)
	}
	if ev.Callback != mono.CallbackHeartbeat {
		r.events++
		r.p.event(ev)
	}
	if err := r.apply(state.Event{Kind: state.Widget, Generation: gen, Widget: ev}); !errors.Is(err, errAuditWrite) {
		// Its records are durable (or the machine refused it: nothing
		// to record): the page's outcome post, waiting for that
		// (connect.Config.AckRecorded), is answered.
		if a, ok := r.page.(interface{ Recorded(seq int64) }); ok && ev.Seq > 0 {
			a.Recorded(ev.Seq)
		}
	}
	return ev.IsClose() && r.att.Session().Phase().Succeeded()
}

// signal applies Mono's webhook news about the account.
func (r *runner) signal(sig Signal) {
	at := sig.At
	if at.IsZero() {
		at = r.now()
	}
	switch {
	case sig.Reauthorized:
		_ = r.apply(state.Event{Kind: state.MonoReauthorized, AccountID: sig.AccountID, At: at})
	case mono.SyncSucceeded(sig.SyncStatus):
		_ = r.apply(state.Event{Kind: state.MonoSynced, AccountID: sig.AccountID, At: at})
	}
}

// pageEnded is the page's session ending under the run (everything it
// delivered has been read).
func (r *runner) pageEnded(gen uint64) {
	switch r.page.EndReason() {
	case connect.EndReplaced:
		_ = r.apply(state.Event{Kind: state.PageGone, Generation: gen, Replaced: true})
	case connect.EndExpired:
		_ = r.apply(state.Event{Kind: state.Tick})
	default:
		// Nothing more can come from a page server that stopped.
		if !r.att.Session().Phase().HasOutcome() {
			_ = r.apply(state.Event{Kind: state.AgentEnded, Why: "The page's session ended (" + r.page.EndReason() + ")."})
		}
	}
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// printer writes the run's transcript.
type printer struct {
	w    io.Writer
	json bool
}

func (p *printer) jsonLine(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	_, _ = p.w.Write(append(b, '\n'))
}

func (p *printer) header(pg Page, a mono.Account, tok mono.Token, sandbox bool) {
	if p.json {
		h := map[string]any{"url": pg.URL(), "pairing_code": pg.PairingCode(), "account_id": a.ID,
			"mode": map[bool]string{true: "sandbox", false: "live"}[sandbox]}
		if !tok.ExpiresAt.IsZero() {
			h["expires_at"] = tok.ExpiresAt.UTC().Format(time.RFC3339)
		}
		p.jsonLine(h)
		return
	}
	fmt.Fprintln(p.w, pg.URL())
	var b strings.Builder
	fmt.Fprintf(&b, "Pairing code %s · %s %s at %s", pg.PairingCode(), mono.CleanText(a.Name), a.MaskedNumber(), mono.CleanText(a.Institution.Name))
	if tok.Value != "" {
		fmt.Fprintf(&b, " · token expires %s", tok.ExpiresAt.Local().Format("15:04:05"))
	}
	if sandbox {
		b.WriteString(" · SANDBOX")
	}
	fmt.Fprintln(p.w, b.String())
}

func (p *printer) notice(text string) {
	if !p.json {
		fmt.Fprintln(p.w, text)
	}
}

// line prints one line of the attempt (text mode; JSON lines carry the
// events themselves and the outcome).
func (p *printer) line(l state.Line) {
	if p.json {
		return
	}
	fmt.Fprintf(p.w, "%s %s\n", l.At.Local().Format("15:04:05"), mono.CleanText(l.Text))
}

// eventLine is one JSON line per widget event. Data never carries the code.
type eventLine struct {
	Seq      int64          `json:"seq"`
	Callback mono.Callback  `json:"callback"`
	Name     string         `json:"name,omitempty"`
	At       time.Time      `json:"at"`
	Sentence string         `json:"sentence"`
	Data     mono.EventData `json:"data"`
}

func (p *printer) event(ev mono.WidgetEvent) {
	if !p.json {
		return // the attempt's own lines say it
	}
	d := ev.Data
	d.Code = "" // the onSuccess code is a secret
	p.jsonLine(eventLine{Seq: ev.Seq, Callback: ev.Callback, Name: ev.Name, At: ev.At, Sentence: state.Describe(ev), Data: d})
}

func (p *printer) outcome(o state.Outcome, at time.Time) {
	word := o.Kind.String()
	if o.Kind == state.OutcomeNone {
		word = "NONE"
	}
	reason := strings.TrimSpace(o.Headline + " " + o.Detail)
	if p.json {
		code := 1
		if o.Kind == state.OutcomeSucceeded {
			code = 0
		}
		p.jsonLine(map[string]any{"outcome": word, "exit_code": code, "reason": reason, "next": o.NextStep, "at": at})
		return
	}
	if o.NextStep != "" {
		fmt.Fprintf(p.w, "%s Next: %s\n", at.Local().Format("15:04:05"), o.NextStep)
	}
}

// browserMu guards pkg/browser's package-level Stdout/Stderr.
var browserMu sync.Mutex

// OpenQuietly opens url with pkg/browser, capturing the launcher's output
// so it can never corrupt a terminal screen.
func OpenQuietly(url string) error {
	browserMu.Lock()
	defer browserMu.Unlock()
	var sink bytes.Buffer
	browser.Stdout, browser.Stderr = &sink, &sink
	return browser.OpenURL(url)
}

// startOpen runs open in the background and waits briefly for it to fail:
// some launchers only return when the browser exits, and the run must not
// wait for that.
func startOpen(open func(string) error, url string) error {
	errc := make(chan error, 1)
	go func() { errc <- open(url) }()
	t := time.NewTimer(3 * time.Second)
	defer t.Stop()
	select {
	case err := <-errc:
		return err
	case <-t.C:
		return nil
	}
}
