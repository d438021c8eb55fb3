package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pkg/browser"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
)

// Outcome is how a `reauth link` run ended.
type Outcome string

const (
	OutcomeSucceeded Outcome = "succeeded" // onSuccess / SUCCESS arrived
	OutcomeFailed    Outcome = "failed"    // the widget or page reported an error and closed
	OutcomeAbandoned Outcome = "abandoned" // closed (or page gone) without an error or success
	OutcomeExpired   Outcome = "expired"   // the token expired first
	OutcomeTimedOut  Outcome = "timed_out" // LinkOptions.Timeout passed first
	OutcomeCanceled  Outcome = "canceled"  // the context was canceled
)

// LinkOptions configure RunLink.
type LinkOptions struct {
	Server    Config
	Account   mono.Account
	Token     mono.Token // already minted (may be empty with ContractAccount)
	Scenario  string     // sandbox scenario
	Reference string

	Out         io.Writer // stdout; nil discards
	JSON        bool      // JSON lines instead of sentences
	OpenBrowser bool
	// Open launches a browser. Nil: github.com/pkg/browser with the
	// launcher's own output captured and discarded.
	Open func(url string) error
	// Timeout bounds the wait for an outcome. Zero: one minute after the
	// token expires (15 minutes without a token).
	Timeout time.Duration
	// Describe turns an event into a plain sentence. Nil: state.Describe,
	// the sentences the TUI shows.
	Describe func(mono.WidgetEvent) string
	// OnSession, when set, is called once the session exists, before the
	// URL is printed (for audit records).
	OnSession func(*Session)
}

// Result of RunLink.
type Result struct {
	Outcome     Outcome
	Reason      string // one plain sentence
	URL         string // includes the page secret: show, never log
	PairingCode string
	Events      int   // events printed
	Dropped     int64 // chatter dropped by the session
}

// ExitCode maps the outcome to the process exit status: 0 on success, 1
// otherwise (2 is for usage and configuration errors: see IsConfigError).
func (r Result) ExitCode() int {
	if r.Outcome == OutcomeSucceeded {
		return 0
	}
	return 1
}

// successGrace is how long RunLink waits, after success, for the close that
// connect.js always sends next (so the transcript ends cleanly).
const successGrace = 3 * time.Second

// RunLink serves the page for one session, prints its URL first (with JSON,
// a first line {"url","pairing_code",...}), optionally opens a browser, then
// prints one line per event (heartbeats omitted; never the token or the
// onSuccess code) and finally the outcome line. An error return means the
// page was never served (IsConfigError: exit status 2) or ctx was canceled.
func RunLink(ctx context.Context, opts LinkOptions) (Result, error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	srv, err := NewServer(opts.Server)
	if err != nil {
		return Result{}, err
	}
	if err := srv.Start(); err != nil {
		return Result{}, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(cctx)
	}()
	sess, err := srv.NewSession(SessionParams{
		Account: opts.Account, Token: opts.Token, Scenario: opts.Scenario, Reference: opts.Reference,
	})
	if err != nil {
		return Result{}, err
	}
	if opts.OnSession != nil {
		opts.OnSession(sess)
	}
	describe := opts.Describe
	if describe == nil {
		describe = state.Describe
	}
	p := &linkPrinter{w: out, json: opts.JSON, describe: describe}
	res := Result{URL: sess.URL(), PairingCode: sess.PairingCode()}
	p.header(sess, opts.Token, srv.set.Mode)

	if opts.OpenBrowser {
		open := opts.Open
		if open == nil {
			open = openQuietly
		}
		if err := startOpen(open, sess.URL()); err != nil {
			srv.set.Logger.Warn("could not open a browser", "err", err)
			p.notice("Could not open a browser: open the address above yourself.")
		}
	}

	now := srv.set.Now()
	timeout := opts.Timeout
	if timeout <= 0 {
		if opts.Token.Value != "" {
			timeout = opts.Token.Remaining(now) + time.Minute
		} else {
			timeout = 15 * time.Minute
		}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var expiry <-chan time.Time
	if opts.Token.Value != "" {
		t := time.NewTimer(opts.Token.Remaining(now))
		defer t.Stop()
		expiry = t.C
	}
	var grace <-chan time.Time

	var succeeded bool
	var lastError, exitPage string
	end := func(o Outcome, reason string) (Result, error) {
		res.Outcome, res.Reason, res.Dropped = o, reason, sess.Dropped()
		p.outcome(o, reason, srv.set.Now())
		if o == OutcomeCanceled {
			return res, ctx.Err()
		}
		return res, nil
	}
	closed := func(how string) (Result, error) {
		switch {
		case succeeded:
			return end(OutcomeSucceeded, "The customer re-authorised the account.")
		case lastError != "":
			return end(OutcomeFailed, "The widget reported an error ("+lastError+") and "+how+".")
		case exitPage != "":
			return end(OutcomeAbandoned, "The customer closed the widget on the "+exitPage+" page.")
		default:
			return end(OutcomeAbandoned, "The customer "+how+" before finishing.")
		}
	}
	// sessionEnded is the page's session ending under the run (everything
	// it delivered has been read): a newer page for the same account took
	// over, or the page server closed.
	sessionEnded := func() (Result, error) {
		why := "the page's session ended (" + sess.EndReason() + ")"
		replaced := sess.EndReason() == EndReplaced
		if replaced {
			why = "a newer page for this account took over"
		}
		switch {
		case succeeded:
			return end(OutcomeSucceeded, "The customer re-authorised the account.")
		case lastError != "":
			return end(OutcomeFailed, "The widget reported an error ("+lastError+") and then "+why+".")
		case replaced:
			return end(OutcomeAbandoned, "A newer page for this account took over; check who opened it (reauth audit --account "+
				sess.Account().ID+") before minting again.")
		default:
			return end(OutcomeAbandoned, "Before an outcome, "+why+".")
		}
	}
	for {
		select {
		case <-ctx.Done():
			return end(OutcomeCanceled, "Stopped before an outcome.")
		case <-deadline.C:
			if opts.Token.Value != "" && opts.Token.Expired(srv.set.Now()) && !succeeded {
				return end(OutcomeExpired, "The reauth token expired before the customer finished; mint a new one.")
			}
			if succeeded {
				return end(OutcomeSucceeded, "The customer re-authorised the account.")
			}
			return end(OutcomeTimedOut, fmt.Sprintf("No outcome within %s.", timeout.Round(time.Second)))
		case <-expiry:
			if !succeeded {
				return end(OutcomeExpired, "The reauth token expired before the customer finished; mint a new one.")
			}
		case <-grace:
			return end(OutcomeSucceeded, "The customer re-authorised the account.")
		case ev, ok := <-sess.Events():
			if !ok {
				return sessionEnded()
			}
			if ev.Callback == mono.CallbackHeartbeat {
				continue
			}
			res.Events++
			p.event(ev)
			switch {
			case ev.Callback == mono.CallbackSuccess || (ev.Callback == mono.CallbackEvent && ev.Name == mono.EventSuccess):
				if !succeeded {
					succeeded = true
					t := time.NewTimer(successGrace)
					defer t.Stop()
					grace = t.C
				}
			case ev.Callback == mono.CallbackEvent && ev.Name == mono.EventError:
				lastError = ev.Data.ErrorType
				if lastError == "" {
					lastError = "unknown error"
				}
			case ev.Callback == mono.CallbackEvent && ev.Name == mono.EventExit:
				exitPage = ev.Data.PageName
				if exitPage == "" {
					exitPage = "unknown"
				}
			case ev.Callback == mono.CallbackPageError:
				msg := ev.Data.ErrorMessage
				if msg == "" {
					msg = ev.Data.ErrorType
				}
				return end(OutcomeFailed, "The page could not start the widget: "+msg)
			case ev.Callback == mono.CallbackClose:
				return closed("closed the widget")
			case ev.Callback == mono.CallbackUnload && ev.Name == PageGone:
				return closed("the page stopped responding")
			case ev.Callback == mono.CallbackUnload:
				return closed("closed the page")
			}
		}
	}
}

// linkPrinter writes RunLink's transcript.
type linkPrinter struct {
	w        io.Writer
	json     bool
	describe func(mono.WidgetEvent) string
}

func (p *linkPrinter) line(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	b = append(b, '\n')
	_, _ = p.w.Write(b)
}

func (p *linkPrinter) header(s *Session, tok mono.Token, mode Mode) {
	a := s.Account()
	if p.json {
		h := map[string]any{
			"url":          s.URL(),
			"pairing_code": s.PairingCode(),
			"account_id":   a.ID,
			"mode":         string(mode),
		}
		if !tok.ExpiresAt.IsZero() {
			h["expires_at"] = tok.ExpiresAt.UTC().Format(time.RFC3339)
		}
		p.line(h)
		return
	}
	fmt.Fprintln(p.w, s.URL())
	var b strings.Builder
	fmt.Fprintf(&b, "Pairing code %s · %s %s at %s", s.PairingCode(), mono.CleanText(a.Name), a.MaskedNumber(), mono.CleanText(a.Institution.Name))
	if !tok.ExpiresAt.IsZero() {
		fmt.Fprintf(&b, " · token expires %s", tok.ExpiresAt.Local().Format("15:04:05"))
	}
	if mode == ModeSandbox {
		b.WriteString(" · SANDBOX")
	}
	fmt.Fprintln(p.w, b.String())
}

func (p *linkPrinter) notice(text string) {
	if !p.json {
		fmt.Fprintln(p.w, text)
	}
}

// eventLine is one JSON line per event. Data never carries the code.
type eventLine struct {
	Seq      int64          `json:"seq"`
	Callback mono.Callback  `json:"callback"`
	Name     string         `json:"name,omitempty"`
	At       time.Time      `json:"at"`
	Sentence string         `json:"sentence"`
	Data     mono.EventData `json:"data"`
}

func (p *linkPrinter) event(ev mono.WidgetEvent) {
	sentence := mono.CleanText(p.describe(ev))
	if sentence == "" {
		sentence = state.Describe(ev)
	}
	if p.json {
		d := ev.Data
		d.Code = "" // the onSuccess code is a secret
		p.line(eventLine{Seq: ev.Seq, Callback: ev.Callback, Name: ev.Name, At: ev.At, Sentence: sentence, Data: d})
		return
	}
	fmt.Fprintf(p.w, "%s %s\n", ev.At.Local().Format("15:04:05"), sentence)
}

func (p *linkPrinter) outcome(o Outcome, reason string, at time.Time) {
	if p.json {
		code := 1
		if o == OutcomeSucceeded {
			code = 0
		}
		p.line(map[string]any{"outcome": string(o), "exit_code": code, "reason": reason, "at": at})
		return
	}
	fmt.Fprintf(p.w, "%s %s: %s\n", at.Local().Format("15:04:05"), strings.ToUpper(strings.ReplaceAll(string(o), "_", " ")), reason)
}

// browserMu guards pkg/browser's package-level Stdout/Stderr.
var browserMu sync.Mutex

// openQuietly opens url with pkg/browser, capturing the launcher's output
// so it can never corrupt a terminal screen.
func openQuietly(url string) error {
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
