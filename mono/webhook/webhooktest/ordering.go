// Package webhooktest is the conformance suite for where webhook marks live:
// the memory and file Stores (mono/webhook's tests) and the database
// backends (internal/store/sqlite and internal/store/postgres, through
// internal/store/storetest). Every store runs the same cases: the ordering,
// clearing and unlinking rules, Mono's 2022 and 2026 payloads, dedupe on the
// exact event id, the app's Flag and Clear, the change feed, persistence
// across reopening and, for stores that any number of receivers may write
// at once, two receivers behind real handlers that lose nothing.
package webhooktest

import (
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/webhook"
)

// T0 is the base of the ordering cases' clocks.
var T0 = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)

// Mins is T0 plus n minutes.
func Mins(n float64) time.Time { return T0.Add(time.Duration(n * float64(time.Minute))) }

// Step is one delivery of an ordering case: a webhook as Mono would send
// it, received at Recv, and the Outcome the store must give. The suite fills
// in Delivery.AccountID and, for timestamped deliveries (the 2026 shape),
// a Delivery.EventID unique to the step; a delivery without a timestamp is
// the 2022 shape (no event id either).
type Step struct {
	Delivery webhook.Delivery
	Recv     time.Time
	Want     webhook.Outcome
}

// OrderingCase is a sequence of deliveries for one account and what the
// store must say about the account afterwards: a webhook.MarkKind, or
// "clear" for no mark.
type OrderingCase struct {
	Name  string
	Steps []Step
	Want  string
}

func step(kind webhook.EventKind, ts, recv time.Time, want webhook.Outcome, opts ...func(*webhook.Delivery)) Step {
	d := webhook.Delivery{Kind: kind, Timestamp: ts}
	for _, o := range opts {
		o(&d)
	}
	return Step{Delivery: d, Recv: recv, Want: want}
}

func syncMeta(status string) func(*webhook.Delivery) {
	return func(d *webhook.Delivery) {
		d.Meta = &webhook.Meta{DataStatus: mono.StatusAvailable, SyncStatus: status}
	}
}

func job(status string) func(*webhook.Delivery) {
	return func(d *webhook.Delivery) { d.JobStatus, d.JobID = status, "job-1" }
}

// OrderingCases are the rules of Mono-timestamp ordering: Mono retries in
// any order, so each account's events are ordered by Mono's timestamp (by
// receipt when there is none), and an older event never undoes a newer one.
func OrderingCases() []OrderingCase {
	const (
		Applied = webhook.Applied
		Stale   = webhook.Stale
	)
	var zero time.Time
	mins := Mins
	d := step
	const (
		ReauthRequired  = webhook.ReauthRequired
		Reauthorized    = webhook.Reauthorized
		AccountUpdated  = webhook.AccountUpdated
		AccountUnlinked = webhook.AccountUnlinked
		JobUpdate       = webhook.JobUpdate
		SyncFailed      = webhook.SyncFailed
	)
	reauth, failed, unlinked := string(webhook.MarkReauthRequired), string(webhook.MarkSyncFailed), string(webhook.MarkUnlinked)
	return []OrderingCase{
		{"new after old: a newer account_reauthorized clears", []Step{
			d(ReauthRequired, mins(1), mins(1), Applied), d(Reauthorized, mins(2), mins(2), Applied)}, "clear"},
		{"old after new: a late retry of an older reauthorisation_required does not re-mark", []Step{
			d(Reauthorized, mins(2), mins(2), Applied), d(ReauthRequired, mins(1), mins(30), Stale)}, "clear"},
		{"old after new: an older SUCCESSFUL does not clear a newer REAUTHORISATION_REQUIRED", []Step{
			d(AccountUpdated, mins(2), mins(2), Applied, syncMeta(mono.SyncReauthRequired)),
			d(AccountUpdated, mins(1), mins(3), Stale, syncMeta(mono.SyncStatusSuccessful))}, reauth},
		{"old after new: an older account_reauthorized does not clear a newer FAILED", []Step{
			d(AccountUpdated, mins(2), mins(2), Applied, syncMeta("FAILED")),
			d(Reauthorized, mins(1), mins(3), Stale)}, failed},
		{"new after old: a newer mark replaces an older one", []Step{
			d(JobUpdate, mins(1), mins(1), Applied, job(webhook.JobFailed)),
			d(ReauthRequired, mins(2), mins(2), Applied)}, reauth},
		{"equal times: a mark beats a clear (mark first)", []Step{
			d(ReauthRequired, mins(1), mins(1), Applied), d(Reauthorized, mins(1), mins(2), Stale)}, reauth},
		{"equal times: a mark beats a clear (clear first)", []Step{
			d(Reauthorized, mins(1), mins(1), Applied), d(ReauthRequired, mins(1), mins(2), Applied)}, reauth},
		{"equal times: reauth required beats sync failed, either order", []Step{
			d(ReauthRequired, mins(1), mins(1), Applied),
			d(AccountUpdated, mins(1), mins(2), Stale, syncMeta("FAILED"))}, reauth},
		{"equal times: an unlink beats a mark (unlink first)", []Step{
			d(AccountUnlinked, mins(1), mins(1), Applied), d(ReauthRequired, mins(1), mins(2), Stale)}, unlinked},
		{"equal times: an unlink beats a mark (mark first)", []Step{
			d(ReauthRequired, mins(1), mins(1), Applied), d(AccountUnlinked, mins(1), mins(2), Applied)}, unlinked},
		{"equal times: a clear after a clear applies", []Step{
			d(Reauthorized, mins(1), mins(1), Applied),
			d(AccountUpdated, mins(1), mins(2), Applied, syncMeta(mono.SyncStatusSuccessful))}, "clear"},
		{"no timestamp (2022): ordered by receipt, mark then clear", []Step{
			d(ReauthRequired, zero, mins(1), Applied), d(Reauthorized, zero, mins(2), Applied)}, "clear"},
		{"no timestamp (2022): ordered by receipt, clear then mark", []Step{
			d(Reauthorized, zero, mins(1), Applied), d(ReauthRequired, zero, mins(2), Applied)}, reauth},
		{"no timestamp, the same receipt instant: the later arrival applies", []Step{
			d(ReauthRequired, zero, mins(1), Applied), d(Reauthorized, zero, mins(1), Applied)}, "clear"},
		{"no timestamp after a timestamped event: its receipt is later, it applies", []Step{
			d(Reauthorized, mins(5), mins(6), Applied), d(ReauthRequired, zero, mins(7), Applied)}, reauth},
		{"no timestamp, received before a timestamped event's time (Mono's clock ahead): stale", []Step{
			d(Reauthorized, mins(5), mins(4), Applied), d(ReauthRequired, zero, mins(4.5), Stale)}, "clear"},
		{"a timestamp past MaxTimestampLead is ordered by receipt and freezes nothing", []Step{
			d(Reauthorized, mins(24*60), mins(1), Applied), d(ReauthRequired, mins(2), mins(3), Applied)}, reauth},
		{"a timestamp within MaxTimestampLead is believed", []Step{
			d(Reauthorized, mins(59), mins(1), Applied), d(ReauthRequired, mins(2), mins(3), Stale)}, "clear"},
		{"events that decide nothing: an older one is stale, a newer one leaves the mark", []Step{
			d(ReauthRequired, mins(2), mins(2), Applied),
			d(AccountUpdated, mins(1), mins(3), Stale), d(AccountUpdated, mins(3), mins(4), Applied),
			d(SyncFailed, mins(4), mins(5), Applied), d(JobUpdate, mins(5), mins(6), Applied, job("finished")),
			d(AccountUpdated, mins(6), mins(7), Applied, syncMeta("PARTIAL"))}, reauth},
		{"an event that decides nothing does not move the ordering", []Step{
			d(ReauthRequired, mins(1), mins(1), Applied), d(AccountUpdated, mins(5), mins(5), Applied),
			d(Reauthorized, mins(3), mins(6), Applied)}, "clear"},
		{"unlinked, then an older reauthorisation_required: stale", []Step{
			d(AccountUnlinked, mins(2), mins(2), Applied), d(ReauthRequired, mins(1), mins(3), Stale)}, unlinked},
		{"unlinked, then a newer reauthorisation_required (linked again): marked", []Step{
			d(AccountUnlinked, mins(1), mins(1), Applied), d(ReauthRequired, mins(2), mins(2), Applied)}, reauth},
		{"unlinked, then a newer account_reauthorized: clear", []Step{
			d(AccountUnlinked, mins(1), mins(1), Applied), d(Reauthorized, mins(2), mins(2), Applied)}, "clear"},
	}
}
