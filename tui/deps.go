package tui

import (
	"context"
	"iter"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// MonoAPI is the part of the Mono client the TUI uses (*mono.Client in the
// app; fakes in tests).
type MonoAPI interface {
	Accounts(ctx context.Context) iter.Seq2[mono.AccountPage, error]
	Account(ctx context.Context, id string) (mono.Account, error)
	Reauthorise(ctx context.Context, id string) (mono.Token, error)
	// InitiateReauth creates a hosted reauth link (link.mono.co) the
	// customer can open on their own device.
	InitiateReauth(ctx context.Context, accountID, ref, redirectURL string) (string, error)
}

// PageRequest asks for a widget page for one account and token.
type PageRequest struct {
	Account  mono.Account
	Token    mono.Token
	Scenario string // sandbox only: which scripted customer the page plays
	Contract string // what the page passes to reauthorise(): "token" or "account"
}

// Page is one served widget page and its event stream.
type Page interface {
	URL() string
	PairingCode() string
	// Events delivers the page's widget events in order. It is buffered on
	// the server side, so reading it from a tea.Cmd never blocks the HTTP
	// handler that received them.
	Events() <-chan mono.WidgetEvent
	Done() <-chan struct{}
	// EndReason says why the page's session ended, once Done is closed
	// (connect.EndReplaced: a newer page for the same account, perhaps
	// another agent's).
	EndReason() string
	Close()
}

// Pages starts widget pages (mono/connect's server in the app).
type Pages interface {
	Open(ctx context.Context, req PageRequest) (Page, error)
}

// ContractResolver is Pages that can say which contract the widget script
// takes: "token" (connect.js <= 2.0: a token is minted) or "account"
// (>= 2.1: the account id, no token). Pages without it take a token.
type ContractResolver interface {
	ResolveContract(ctx context.Context) (string, error)
}

// ContractAccount is the contract under which the widget takes the account
// id and no token is minted.
const ContractAccount = "account"

// Recorder receives audit records; the wiring stamps them with the agent's
// identity and appends them to the audit log. Implementations must be safe
// for concurrent use: they are called from tea.Cmds.
type Recorder interface {
	Record(r audit.Record)
}

// Appender is a Recorder that says whether a record was written (the app's
// audit: durable when Append returns nil). With one, a mint waits for its
// token_mint_requested record and mints nothing when it cannot be written:
// a token the audit does not know of is never asked for.
type Appender interface {
	Append(r audit.Record) error
}

// SecretGuard is a Recorder that can be told the secrets of an attempt (a
// token, the page secret, an onSuccess code) so it redacts them from any
// record. The TUI registers each one in the Cmd that learns it, before the
// message that carries it reaches Update, so before any record of it.
type SecretGuard interface {
	Guard(secrets ...string)
}

// guard registers secrets with rec when it is a SecretGuard.
func guard(rec Recorder, secrets ...string) {
	if g, ok := rec.(SecretGuard); ok {
		g.Guard(secrets...)
	}
}

// Deps is everything the TUI needs from outside. Nil fields get safe
// defaults (no browser, no audit, the real clock).
type Deps struct {
	Mono  MonoAPI
	Pages Pages
	// OpenBrowser opens a URL on the agent's machine. Nil means never launch
	// a browser (SSH sessions, --no-browser).
	OpenBrowser func(url string) error
	Audit       Recorder
	Now         func() time.Time
	// Agent names who is at the keyboard, shown in the header.
	Agent string
	// AgentKey is their SSH key's fingerprint ("" outside `reauth serve`):
	// a claim held with the same key is theirs, from another session.
	AgentKey string
	// Sandbox shows the SANDBOX badge and lets pages play scripted customers.
	Sandbox bool
	// ScenarioFor names the sandbox scenario of an account ("" if none).
	ScenarioFor func(accountID string) string
	// NeedsReauth reports webhook marks (mono.events.reauthorisation_required)
	// that are newer than what the API says.
	NeedsReauth func(accountID string) bool
	// SignalsFor gathers what is known about an account besides its read,
	// for its reason: Mono's webhooks about it, its past attempts. It may do
	// I/O (it runs in a Cmd). Nil: none (the reason says what was not
	// checked). WebhookSignals builds one from a webhook store.
	SignalsFor func(ctx context.Context, accountID string) state.Signals
	// LatestWebhook is the newest webhook Mono sent about the account, as
	// the webhook store holds it (the table, where Signals is the
	// wake-up): each re-read after a success asks it too, so a
	// confirmation whose news was missed (a dropped notification, a
	// program that had not subscribed yet) still counts. Nil: none.
	LatestWebhook func(accountID string) (state.WebhookEvidence, bool)
	// Attempts reads the account's last attempts back from the audit (when,
	// which agent, contract, outcome, the errors seen) with the summary line
	// `reauth audit --account` starts with, times placed in now's location;
	// ok false when the audit could not be read. It may do I/O (it runs in
	// the same Cmd as SignalsFor). Nil: the account screen shows no History.
	Attempts func(ctx context.Context, accountID string, now time.Time) (audit.Summary, bool)
	// ClearMark clears the account's "needs reauth" mark after a verified
	// success (at: when it was verified; a newer webhook from Mono wins). It
	// may write a file: it runs in a Cmd. Nil: nothing to clear.
	ClearMark func(accountID string, at time.Time)
	// Signals subscribes to news about accounts from Mono's webhooks; the
	// channel closes when ctx ends. Nil: no webhooks.
	Signals func(ctx context.Context) <-chan AccountSignal
	// WebhookReceiver: Mono's webhooks reach this app (an in-process
	// receiver, or a separate `reauth webhooks` whose marks it follows), so
	// a hosted link's progress can show by itself.
	WebhookReceiver bool
	// RedirectURL is where Mono's hosted reauth page sends the customer
	// when they finish.
	RedirectURL string
	// PageNote is shown under the page link, e.g. when under `reauth serve`
	// no public URL was configured.
	PageNote string
	// Catalog is the account list, shared by every program on a runtime
	// (under `reauth serve`, every SSH session). Nil: the program gets a
	// catalogue of its own over Mono.
	Catalog *Catalog
	// Claims is the team's claims on accounts (one live attempt per
	// account): an attempt takes its account's claim when it starts (t, o),
	// keeps it current and releases it at its outcome; a colleague's claim
	// shows on the account and taking it over asks first. Nil: no claims.
	Claims Claims
	// ReplicaGone reports whether the replica a claim names has stopped
	// (silent in the replicas' registry since seen, the claim's last
	// refresh): its attempt was interrupted. It does no I/O (a view asks
	// it). Nil: one server, never.
	ReplicaGone func(replica string, seen time.Time) bool
	// VerifyEvery and VerifyFor bound the post-success account re-reads.
	VerifyEvery time.Duration
	VerifyFor   time.Duration
}

func (d Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// AccountSignal is news about an account that did not come from this
// session: Mono's webhooks (reauthorisation_required, account_reauthorized,
// account_updated).
type AccountSignal struct {
	AccountID    string
	Event        string // Mono's event name, already sanitised
	NeedsReauth  bool
	Reauthorized bool
	DataStatus   mono.DataStatus
	SyncStatus   string    // account_updated's meta.sync_status, if any
	At           time.Time // Mono's timestamp for the event, or when it was received
}

// MarkSignals is WebhookSignals for a store that Mono's webhooks reach
// (tests' in-memory stores): a non-nil store counts as checked.
func MarkSignals(marks *webhook.Store, history func(ctx context.Context, accountID string) ([]state.PastAttempt, bool)) func(context.Context, string) state.Signals {
	return WebhookSignals(marks, marks != nil, history)
}

// LatestWebhook builds Deps.LatestWebhook from a webhook store (nil: none).
func LatestWebhook(marks *webhook.Store) func(accountID string) (state.WebhookEvidence, bool) {
	return func(id string) (state.WebhookEvidence, bool) {
		if marks == nil {
			return state.WebhookEvidence{}, false
		}
		m, ok := marks.Latest(id)
		if !ok || !m.FromMono() {
			return state.WebhookEvidence{}, false
		}
		return state.WebhookEvidence{Event: m.Event, At: m.At, Received: !m.MonoTime,
			SyncStatus: m.SyncStatus, JobName: m.JobName, JobStatus: m.JobStatus, DataRequestID: m.DataRequestID}, true
	}
}

// WebhookSignals builds Deps.SignalsFor from a webhook store (Mono's
// webhooks about each account, newest first) and, when history is set, the
// account's past attempts (from the audit; ok false when it could not be
// read). arrive says whether webhook news can reach the app at all (a
// receiver runs, a marks file is followed, the sandbox posts its own): the
// runtime knows, the store does not. Only then is "no webhook about this
// account" evidence (state.Signals.WebhooksChecked).
func WebhookSignals(marks *webhook.Store, arrive bool, history func(ctx context.Context, accountID string) ([]state.PastAttempt, bool)) func(context.Context, string) state.Signals {
	latest := LatestWebhook(marks)
	return func(ctx context.Context, id string) state.Signals {
		var sig state.Signals
		if marks != nil {
			sig.WebhooksChecked = arrive
			if w, ok := latest(id); ok {
				sig.Webhook = &w
			}
		}
		if history != nil {
			sig.History, sig.HistoryChecked = history(ctx, id)
		}
		return sig
	}
}
