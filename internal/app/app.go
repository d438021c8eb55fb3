// Package app is reauth's runtime: what the command line (main) starts and
// every front end shares. Setup builds the Mono client (live, or against an
// in-process sandbox) and the log; New adds what every TUI program shares
// (the account catalogue, the widget page server, the audit, the webhook
// marks, the hub that fans webhook news out to programs, the marks poller);
// Runtime.Deps hands one program its tui.Deps. The audit and the marks are
// opened in one place each (OpenRecorder, OpenMarks) and every record goes
// through one Recorder, whichever front end writes it.
package app

import (
	"errors"
	"strings"
	"time"

	"github.com/reauth/reauth/internal/metrics"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/mono/sandbox"
)

// Config is what the command line says. Zero values are the defaults a
// test wants (the sandbox only when Sandbox is set or no key is in the
// environment; pages on a free loopback port).
type Config struct {
	Sandbox bool
	Debug   bool
	// Files names the audit log and the log file (--audit-log,
	// REAUTH_AUDIT_LOG; --log-file, REAUTH_LOG_FILE); empty: under StateDir.
	Files       Files
	WidgetAddr  string
	PublicURL   string
	NoBrowser   bool
	ConnectJS   string
	Contract    string // auto, token or account ("": auto)
	Autoplay    bool
	WebhookAddr string // also receive Mono's webhooks here (needs MONO_WEBHOOK_SECRET)
	RedirectURL string
	APITimeout  time.Duration
	SandboxSeed int64
	// Sandbox-only knobs for demos and recordings.
	SandboxClock   string // RFC 3339: the sandbox clock starts here
	SandboxConfirm time.Duration
	// ReplicaID names this replica (--replica-id; "": a random one). It
	// begins the page session ids, so any replica can tell a page's owner.
	ReplicaID string
	// InternalURL is where other replicas reach this one's page server
	// (--internal-url; "": its listen address).
	InternalURL string
	// AccountsRefresh re-reads the shared account list this often (reauth
	// serve; 0: only on a retry after a failure).
	AccountsRefresh time.Duration
	// Version is logged at start.
	Version string
	// Metrics, when set (reauth serve --admin-addr), hears Mono's latency,
	// page posts, webhooks, attempts' outcomes and the store's latency.
	Metrics *metrics.Metrics
	// Tune is for tests: smaller sandboxes, faster pages, fewer retries.
	Tune Tune
}

// Tune adjusts what Setup and New build. The app leaves it zero.
type Tune struct {
	Sandbox func(*sandbox.Options)
	Pages   func(*connect.Config)
	Mono    func(*mono.Config)
	// MarksPollEvery replaces MarksPollEvery.
	MarksPollEvery time.Duration
	// ClaimsPollEvery replaces ClaimsPollEvery.
	ClaimsPollEvery time.Duration
	// AccountNewsPollEvery replaces AccountNewsPollEvery.
	AccountNewsPollEvery time.Duration
	// SharedSandbox, with Config.Sandbox, is a fake Mono another runtime
	// started (tests of replicas: one team talks to one Mono). It is used
	// as it is, not closed here; its webhooks reach the runtime that made
	// it.
	SharedSandbox *sandbox.Server
}

// ConfigError is a configuration the runtime cannot start with (a bad flag
// value, a missing key, no state directory): the command line exits 2.
type ConfigError struct{ Msg string }

func (e ConfigError) Error() string { return e.Msg }

// NoAnswerError is a Mono call that got no answer within its command's
// --timeout (a Waiter's finish returns it).
type NoAnswerError struct{ Within time.Duration }

func (e NoAnswerError) Error() string { return "Mono did not answer within " + e.Within.String() }

// failed is an operation that ran and failed, with its words chosen.
func failed(msg string) error { return errors.New(msg) }

// OneLine is err as one line for a terminal: Mono's hint for a Mono error,
// otherwise its text cleaned of control characters and runs of spaces.
func OneLine(err error) string {
	if me := (*mono.Error)(nil); errors.As(err, &me) {
		return me.Hint()
	}
	return strings.Join(strings.Fields(mono.CleanText(err.Error())), " ")
}
