package app

import (
	"context"

	"charm.land/log/v2"

	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// Recorder is the one way a record reaches the audit, whoever writes it:
// the TUI's programs (tui.Deps.Audit: Record), `reauth link` (link.Options
// .Audit: Append), `reauth token` (Append) and the webhook receiver. It
// stamps each record with its agent, registers secrets so the audit redacts
// them (Guard), and reads an account's past attempts back (History).
//
// OpenRecorder is the one place the audit is opened; As gives another
// agent the same audit. Safe for concurrent use.
type Recorder struct {
	log    *audit.Log
	path   string
	agent  audit.Agent
	logger *log.Logger // where Record's failed appends are logged; nil: nowhere
	owner  bool        // Close closes the audit
}

// WebhookAgent is the agent stamped on a record of one of Mono's webhooks.
var WebhookAgent = audit.Agent{User: "mono", Via: "webhook"}

// OpenRecorder opens the audit log (Files.Audit) for agent. logger (may be
// nil) hears about appends that fail in Record.
func OpenRecorder(files Files, agent audit.Agent, logger *log.Logger) (*Recorder, error) {
	path, err := files.Audit()
	if err != nil {
		return nil, err
	}
	l, err := audit.Open(path)
	if err != nil {
		return nil, err
	}
	return &Recorder{log: l, path: path, agent: agent, logger: logger, owner: true}, nil
}

// As is a Recorder on the same audit that stamps agent. Closing it does
// nothing: the audit is the opener's.
func (r *Recorder) As(agent audit.Agent) *Recorder {
	c := *r
	c.agent, c.owner = agent, false
	return &c
}

// Path is the audit log's file.
func (r *Recorder) Path() string { return r.path }

// Append stamps rec with the agent and writes it durably (on disk when it
// returns); a failure is the caller's to act on: `reauth link` and `reauth
// token` mint nothing they cannot record (internal/link's Appender).
func (r *Recorder) Append(rec audit.Record) error {
	rec.Agent = r.agent
	return r.log.Append(rec)
}

// Record is Append for a front end that cannot stop (tui.Recorder): a
// failed append is logged, never shown as a crash.
func (r *Recorder) Record(rec audit.Record) {
	if err := r.Append(rec); err != nil && r.logger != nil {
		r.logger.Error("audit append failed", "action", rec.Action, "err", err)
	}
}

// Guard registers an attempt's secrets (token, page secret, onSuccess code)
// so the audit redacts them from any record (tui.SecretGuard).
func (r *Recorder) Guard(secrets ...string) { r.log.Guard(secrets...) }

// History is an account's past attempts, read back from the audit (ok
// false when it could not be read).
func (r *Recorder) History(_ context.Context, accountID string) ([]state.PastAttempt, bool) {
	recs, _, err := audit.ReadFile(r.path, audit.Filter{Account: accountID})
	if err != nil {
		return nil, false
	}
	return state.PastAttempts(recs, accountID), true
}

// Close closes the audit when this Recorder opened it.
func (r *Recorder) Close() error {
	if !r.owner {
		return nil
	}
	return r.log.Close()
}
