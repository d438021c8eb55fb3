package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"charm.land/log/v2"

	"github.com/reauth/reauth/internal/metrics"

	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// Recorder is the one way a record reaches the audit, whoever writes it:
// the TUI's programs (tui.Deps.Audit: Record), `reauth link` (link.Options
// .Audit: Append), `reauth token` (Append) and the webhook receiver. It
// stamps each record with its agent, registers secrets so the audit redacts
// them (Guard), and reads an account's past attempts back (History).
//
// Storage.Recorder makes one over the store's audit; As gives another agent
// the same audit. Safe for concurrent use.
type Recorder struct {
	log    *audit.Log
	where  string // the store, for messages
	agent  audit.Agent
	logger *log.Logger // where Record's failed appends are logged; nil: nowhere
	// metrics (may be nil) hears each append's latency and each outcome.
	metrics *metrics.Metrics
}

// WebhookAgent is the agent stamped on a record of one of Mono's webhooks.
var WebhookAgent = audit.Agent{User: "mono", Via: "webhook"}

// As is a Recorder on the same audit that stamps agent.
func (r *Recorder) As(agent audit.Agent) *Recorder {
	c := *r
	c.agent = agent
	return &c
}

// Where names the store the records go to.
func (r *Recorder) Where() string { return r.where }

// Append stamps rec with the agent and writes it durably (on disk when it
// returns); a failure is the caller's to act on: `reauth link` and `reauth
// token` mint nothing they cannot record (internal/link's Appender).
func (r *Recorder) Append(rec audit.Record) error {
	rec.Agent = r.agent
	start := time.Now()
	err := r.log.Append(rec)
	r.metrics.StoreOp("audit append", time.Since(start), err)
	if err == nil && rec.Action == audit.ActionOutcome {
		r.metrics.Attempt(outcomeLabel(rec.Outcome))
	}
	return err
}

// outcomeLabel is the machine's outcome word as a metrics label:
// "ENDED BY AGENT" → "ended_by_agent".
func outcomeLabel(word string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(word)), " ", "_")
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
func (r *Recorder) History(ctx context.Context, accountID string) ([]state.PastAttempt, bool) {
	recs, err := r.log.Query(ctx, audit.Query{Account: accountID, NewestFirst: true, Limit: historyRecords})
	if err != nil {
		return nil, false
	}
	slices.Reverse(recs) // the newest historyRecords, oldest first
	return state.PastAttempts(recs, accountID), true
}

// historyRecords bounds what History reads of one account: its last few
// hundred records hold its recent attempts, however long its history.
const historyRecords = 500

// Attempts is an account's last attempts as the audit tells them (who, when,
// which contract, the outcome, the widget errors seen) and the one-line
// summary `reauth audit --account` starts with; ok false when the audit
// could not be read.
func (r *Recorder) Attempts(ctx context.Context, accountID string, now time.Time) (audit.Summary, bool) {
	recs, err := r.log.Query(ctx, audit.Query{Account: accountID, NewestFirst: true, Limit: historyRecords})
	if err != nil {
		return audit.Summary{}, false
	}
	slices.Reverse(recs)
	return audit.Summarize(recs, accountID, now), true
}
