package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/internal/link"
	"github.com/reauth/reauth/internal/store/postgres"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
)

// LocalAgent is the agent at this machine's keyboard: REAUTH_AGENT when set
// (shared accounts, recordings), else the OS user.
func LocalAgent() audit.Agent {
	name := "unknown"
	if a := strings.TrimSpace(mono.CleanText(os.Getenv("REAUTH_AGENT"))); a != "" {
		name = a
	} else if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	} else if u := os.Getenv("USER"); u != "" {
		name = u
	}
	return audit.Agent{User: name, Via: audit.ViaLocal}
}

// Waiter bounds one of a command's Mono calls and may say meanwhile that it
// is still waiting: it returns the context the call runs under and finish,
// which ends the wait and returns the call's error as the command reports
// it (NoAnswerError when the command's time ran out).
type Waiter func(ctx context.Context) (context.Context, func(error) error)

// KnownSignals is what a command knows about an account besides its read,
// for its reason (state.ReasonFrom): Mono's webhooks about it (marks, nil:
// not read; checked only when arrive: news could have reached the marks)
// and its past attempts in the audit (rec nil: not checked).
func KnownSignals(ctx context.Context, marks *webhook.Store, arrive bool, rec *Recorder, accountID string, now time.Time) state.Signals {
	var history func(context.Context, string) ([]state.PastAttempt, bool)
	if rec != nil {
		history = rec.History
	}
	sig := tui.WebhookSignals(marks, arrive, history)(ctx, accountID)
	sig.Now = now
	return sig
}

// CommandMarks is Env.Marks and whether Mono's webhook news could have
// reached them for a one-off command: the sandbox's own always; live, a
// database store always (receivers write there), the file only once a
// receiver has kept it (it exists).
func (e *Env) CommandMarks(ctx context.Context, st *Storage) (*webhook.Store, bool, error) {
	marks, err := e.Marks(ctx, st)
	if err != nil || e.hooks != nil {
		return marks, err == nil, err
	}
	return marks, st.MarksKept(), nil
}

// HealthyWarning is the line `reauth token` and `reauth link` print on
// stderr before going ahead for an account that shows no sign of needing
// reauth (or that a reauth would not help), e.g. "reauth: warning: no sign
// this account needs reauth (data_status AVAILABLE; no Mono webhook says
// otherwise; no failed attempt) — minting anyway"; "" when the account
// needs it.
func HealthyWarning(acct mono.Account, sig state.Signals, anyway string) string {
	r := state.ReasonFrom(acct, sig)
	if r.NeedsReauth() {
		return ""
	}
	summary := r.Summary
	if rest, ok := strings.CutPrefix(summary, "No "); ok {
		summary = "no " + rest
	}
	return "reauth: warning: " + summary + " (" + strings.Join(r.Evidence, "; ") + ") — " + anyway
}

// NoAuditNoMint starts the error of a mint refused because the audit log
// cannot record it.
const NoAuditNoMint = "cannot write the audit log, so no token is minted: "

// MintToken is `reauth token`: the audit is opened first (a mint that
// cannot be recorded is not made), then the account is read and a warning
// written to warn when nothing shows it needs reauth (WarnIfHealthy), then
// the token is minted with its own audit trail (MintAudited).
func MintToken(ctx context.Context, cfg Config, id string, warn io.Writer, wait Waiter) (mono.Token, error) {
	st, err := OpenStorage(ctx, cfg.Files, nil, nil)
	if err != nil {
		if errors.As(err, new(ConfigError)) {
			return mono.Token{}, err
		}
		return mono.Token{}, failed(NoAuditNoMint + OneLine(err))
	}
	defer st.Close()
	sayImported(warn, st)
	e, err := Setup(cfg)
	if err != nil {
		return mono.Token{}, err
	}
	defer e.Close()
	rec := st.Recorder(LocalAgent(), e.Logger)
	if err := e.WarnIfHealthy(ctx, st, rec, id, warn, wait); err != nil {
		return mono.Token{}, err
	}
	tok, err := e.MintAudited(ctx, rec, id, wait)
	if err != nil {
		return mono.Token{}, err
	}
	e.Logger.Info("token minted", "account", tok.AccountID, "token", tok.Fingerprint(), "expires", tok.ExpiresAt)
	return tok, nil
}

// WarnIfHealthy reads the account before `reauth token` mints and says so
// on warn (HealthyWarning) when nothing shows it needs reauth; the mint
// goes ahead either way. When Mono does not answer the read in time
// (NoAnswerError), nothing is minted. Any other failed read only means no
// warning: the mint then says what is wrong, audited.
func (e *Env) WarnIfHealthy(ctx context.Context, st *Storage, rec *Recorder, id string, warn io.Writer, wait Waiter) error {
	rctx, finish := wait(ctx)
	acct, err := e.Client.Account(rctx, id)
	if err = finish(err); err != nil {
		if ctx.Err() != nil || errors.As(err, new(NoAnswerError)) {
			return err
		}
		e.Logger.Warn("account not read before the mint: no reauth check", "account", id, "err", OneLine(err))
		return nil
	}
	marks, arrive, merr := e.CommandMarks(ctx, st)
	if merr != nil {
		e.Logger.Warn("webhook marks not read", "err", merr)
	}
	if w := HealthyWarning(acct, KnownSignals(ctx, marks, arrive, rec, id, e.Now()), "minting anyway"); w != "" {
		fmt.Fprintln(warn, w)
	}
	return nil
}

// MintAudited mints a token for `reauth token` with an audit trail of its
// own attempt ("token-<hex>", Seq 1 and 2): token_mint_requested, on disk
// before the request leaves (when it cannot be written nothing is sent),
// then token_minted (fingerprint and expiry) or token_mint_failed. A token
// whose token_minted record cannot be written is not handed out.
func (e *Env) MintAudited(ctx context.Context, rec *Recorder, id string, wait Waiter) (mono.Token, error) {
	session := "token-" + newEventID()
	write := func(seq int, r audit.Record) error {
		r.Time, r.Session, r.Seq, r.Account = e.Now(), session, seq, id
		return rec.Append(r)
	}
	if err := write(1, audit.Record{Action: audit.ActionTokenMintRequested, Detail: "reauth token"}); err != nil {
		return mono.Token{}, failed(NoAuditNoMint + OneLine(err))
	}
	mctx, finish := wait(ctx)
	tok, err := e.Client.Reauthorise(mctx, id)
	if err = finish(err); err != nil {
		detail := OneLine(err)
		switch {
		case ctx.Err() != nil:
			detail = "cancelled before Mono answered (a token may have been minted; a new mint replaces it)"
		case errors.As(err, new(NoAnswerError)):
			detail += " (a token may have been minted; a new mint replaces it)"
		}
		if aerr := write(2, audit.Record{Action: audit.ActionTokenMintFailed, Detail: detail}); aerr != nil {
			e.Logger.Error("audit append failed", "action", audit.ActionTokenMintFailed, "err", aerr)
			return mono.Token{}, failed(OneLine(err) + " (and the audit log could not record the failure: " + OneLine(aerr) + ")")
		}
		return mono.Token{}, err
	}
	rec.Guard(tok.Value)
	if err := write(2, audit.Record{Action: audit.ActionTokenMinted, TokenFingerprint: tok.Fingerprint(),
		TokenExpiresAt: tok.ExpiresAt}); err != nil {
		return mono.Token{}, failed("Mono minted a token " + tok.Fingerprint() +
			" but the audit log could not record it, so it is not shown (a new mint replaces it): " + OneLine(err))
	}
	return tok, nil
}

func newEventID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// LinkRun is one `reauth link`.
type LinkRun struct {
	AccountID   string
	Out         io.Writer // the transcript (stdout)
	Warn        io.Writer // the warning before the mint (stderr)
	JSON        bool
	Timeout     time.Duration
	ExitOnClose bool
	// TakeOver takes the account from a colleague's live attempt.
	TakeOver bool
}

// RunLink is `reauth link`: the runtime a link run needs (the audit, opened
// before any mint; the marks; a webhook receiver with Config.WebhookAddr,
// whose account_reauthorized ends the run as a success even if the page is
// gone; the page server), then link.Run. Errors from link.Run come back as
// they are, but a page configuration error is a ConfigError.
func RunLink(ctx context.Context, cfg Config, o LinkRun) (link.Result, error) {
	e, err := Setup(cfg)
	if err != nil {
		return link.Result{}, err
	}
	defer e.Close()
	// The audit first: a run that cannot record its mint does not mint.
	st, err := OpenStorage(ctx, cfg.Files, e.Now, e.Logger)
	if err != nil {
		if errors.As(err, new(ConfigError)) {
			return link.Result{}, err
		}
		return link.Result{}, failed("cannot open the audit log, so no token is minted: " + OneLine(err))
	}
	defer st.Close()
	sayImported(o.Warn, st)
	rec := st.Recorder(LocalAgent(), e.Logger)
	// What Mono's webhooks said about accounts (on the sandbox, its own, in
	// memory): for the warning below and for a receiver.
	marks, arrive, marksErr := e.CommandMarks(ctx, st)
	var hub *Hub
	if cfg.WebhookAddr != "" {
		secret := os.Getenv("MONO_WEBHOOK_SECRET")
		if secret == "" {
			return link.Result{}, ConfigError{"--webhook-addr needs MONO_WEBHOOK_SECRET (Mono sends it in mono-webhook-secret)"}
		}
		if marksErr != nil {
			return link.Result{}, failed("--webhook-addr needs the webhook store: " + OneLine(marksErr))
		}
		hub = NewHub()
		srv, err := ServeWebhooks(ctx, cfg.WebhookAddr, secret, marks, e.Logger, cfg.Metrics, hub.PublishEvent)
		if err != nil {
			return link.Result{}, err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		arrive = true
	}
	pages, err := e.StartPages()
	if err != nil {
		return link.Result{}, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = pages.Close(cctx)
	}()
	acct, err := e.Client.Account(ctx, o.AccountID)
	if err != nil {
		return link.Result{}, err
	}
	scenario := ""
	if e.Sandbox != nil {
		scenario = string(sandbox.ScenarioFor(acct.ID))
	}
	opts := link.Options{Account: acct, Audit: rec, Out: o.Out, JSON: o.JSON, Sandbox: e.Sandbox != nil,
		Timeout: o.Timeout, ExitOnClose: o.ExitOnClose, Now: e.Now}
	// Which contract the widget script takes decides whether a token is
	// minted at all: found from the script itself (--widget-contract forces
	// one), before any mint.
	contract, err := pages.ResolveContract(ctx)
	if err != nil {
		return link.Result{}, ConfigError{OneLine(err)}
	}
	opts.Open = func(_ context.Context, a mono.Account, tok mono.Token) (link.Page, error) {
		return pages.NewSession(connect.SessionParams{Account: a, Token: tok, Scenario: scenario, Contract: contract})
	}
	if contract == connect.ContractToken {
		opts.Mint = e.Client
	}
	// Said before anything is minted or served: nothing shows this account
	// needs reauth. The link goes ahead all the same.
	if marksErr != nil {
		e.Logger.Warn("webhook marks not read", "err", marksErr)
	}
	anyway := "opening the link anyway"
	if opts.Mint != nil {
		anyway = "minting anyway"
	}
	// The same signals the reason is recorded with (as the TUI records it).
	opts.Known = KnownSignals(ctx, marks, arrive, rec, acct.ID, e.Now())
	if w := HealthyWarning(acct, opts.Known, anyway); w != "" {
		fmt.Fprintln(o.Warn, w)
	}
	if !cfg.NoBrowser {
		opts.OpenBrowser = OpenBrowser
	}
	if hub != nil {
		opts.Signals = hub.LinkSignals(ctx, acct.ID)
	}
	// One live attempt per account across the team, as in the TUI.
	claims := newClaims(st.Claims(), e.Now, e.Logger, nil)
	cctx, stopClaims := context.WithCancel(ctx)
	defer stopClaims()
	claims.start(cctx, ClaimsPollEvery, st.Wake(cctx, postgres.KindClaims))
	opts.Claims, opts.TakeOver = claims.For(LocalAgent()), o.TakeOver
	res, err := link.Run(ctx, opts)
	if res.Unwritten > 0 && o.Warn != nil {
		fmt.Fprintf(o.Warn, "reauth: warning: %d of this attempt's audit records could not be written (%s)\n",
			res.Unwritten, OneLine(res.UnwrittenErr))
	}
	if held, ok := errors.AsType[*claim.HeldError](err); ok {
		return res, failed(held.Claim.Sentence(time.Local) + "; run again with --take-over to take it over (" +
			claim.Name(held.Claim.Holder) + "'s page stops and they are told)")
	}
	if err != nil && !errors.Is(err, link.ErrCanceled) && connect.IsConfigError(err) {
		return res, ConfigError{OneLine(err)}
	}
	return res, err
}

// sayImported tells a command's user (on w, stderr) what opening the store
// imported from the files an older reauth kept.
func sayImported(w io.Writer, st *Storage) {
	for _, msg := range st.Imported {
		fmt.Fprintln(w, "reauth: "+msg)
	}
}
