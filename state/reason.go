package state

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state/audit"
)

// ReasonKind is why an account needs the customer to re-authorise, or that
// nothing says it does. The zero value is ReasonUnknown.
type ReasonKind int

const (
	ReasonUnknown          ReasonKind = iota
	MFARequired                       // the bank asks for an OTP / token / MFA
	CustomerTwoFA                     // the customer turned on 2FA themselves
	AdditionalVerification            // security question, CAPTCHA, extra check
	ConnectionExpired                 // the bank ended the connection
	PasswordChanged                   // the stored login no longer works
	// NoSignOfReauth: nothing Mono sent, and no previous attempt, says the
	// account needs reauth.
	NoSignOfReauth
	// PartnerBankLimitation: the bank only ever gives Mono the balance
	// (retrieved_data ["balance"] with data_status FAILED or PARTIAL); a
	// reauth does not change that.
	PartnerBankLimitation
	// AccountUnlinked: Mono's account_unlinked webhook says the link is gone;
	// it cannot be re-authorised, only linked again.
	AccountUnlinked
)

var reasonNames = [...]string{
	ReasonUnknown:          "Unknown",
	MFARequired:            "MFA required by the bank",
	CustomerTwoFA:          "2FA set up by the customer",
	AdditionalVerification: "Additional verification",
	ConnectionExpired:      "Connection expired",
	PasswordChanged:        "Password changed",
	NoSignOfReauth:         "No sign it needs reauth",
	PartnerBankLimitation:  "Partner bank limitation",
	AccountUnlinked:        "Unlinked: link it again",
}

func (k ReasonKind) String() string {
	if k.valid() {
		return reasonNames[k]
	}
	return fmt.Sprintf("ReasonKind(%d)", int(k))
}

// Label is the kind in the words the account screen shows after "Why".
// It differs from String (the name audit records and snapshots keep) only
// for ReasonUnknown: a bare "Unknown" read as if the need itself were in
// doubt, when it is the cause that nothing names. It says nothing of the
// need: an Unknown reason may rest on a mere failed sync (the Summary
// says how strong its signal is).
func (k ReasonKind) Label() string {
	if k == ReasonUnknown {
		return "Cause unknown"
	}
	return k.String()
}

func (k ReasonKind) valid() bool { return k >= 0 && int(k) < len(reasonNames) }

// NeedsReauth reports whether the kind is a reason to re-authorise (every
// kind but NoSignOfReauth, PartnerBankLimitation and AccountUnlinked; Unknown
// is one: something points to a problem, nothing says which).
func (k ReasonKind) NeedsReauth() bool {
	return k != NoSignOfReauth && k != PartnerBankLimitation && k != AccountUnlinked
}

// AllReasonKinds lists the kinds an agent can choose, in the order the
// override picker shows them: the reasons to re-authorise. NoSignOfReauth,
// PartnerBankLimitation and AccountUnlinked come only from the data.
func AllReasonKinds() []ReasonKind {
	return []ReasonKind{MFARequired, CustomerTwoFA, AdditionalVerification, ConnectionExpired, PasswordChanged, ReasonUnknown}
}

// Reason is why an account needs reauth (or that nothing says it does), what
// it was concluded from, and what the agent can read to the customer.
type Reason struct {
	Kind ReasonKind
	// Summary is the conclusion in one line, e.g. "No sign this account
	// needs reauth" or "Mono says this account needs reauth, but not why".
	Summary string
	// Evidence has one line per source checked, each naming the source and,
	// when known, its time: `Mono webhook account_updated at 14:02:
	// sync_status REAUTHORISATION_REQUIRED`, `Previous attempt at 09:14:
	// Error INVALID_OTP twice; outcome SUCCEEDED`, `data_status AVAILABLE`.
	// When nothing was found it says what was checked.
	Evidence   []string
	Script     []string // 2–3 plain sentences to read to the customer
	Overridden bool     // the agent chose Kind over the derived one

	// What the data said, kept so WithKind can go back to it, and what the
	// scripts name.
	derivedKind    ReasonKind
	derivedSummary string
	bank, auth     string
}

// NeedsReauth reports whether the reason is one to re-authorise for. False
// means nothing says the account needs it (NoSignOfReauth) or a reauth would
// not help (PartnerBankLimitation): the app asks before minting, and `reauth
// token` / `reauth link` warn.
func (r Reason) NeedsReauth() bool { return r.Kind.NeedsReauth() }

func (r Reason) clone() Reason {
	r.Evidence = slices.Clone(r.Evidence)
	r.Script = slices.Clone(r.Script)
	return r
}

// Signals is what is known about an account besides its own read: Mono's
// webhooks about it and its previous reauth attempts (from the audit).
type Signals struct {
	// Webhook is the newest Mono webhook about the account that bears on
	// whether it needs reauth; nil when none arrived.
	Webhook *WebhookEvidence
	// WebhooksChecked says Mono's webhooks reach this app (a receiver, or a
	// marks store another process fills), so a nil Webhook means none
	// arrived. Without it "no webhook" proves nothing, and the evidence says
	// "Mono webhooks not checked".
	WebhooksChecked bool
	// History is the account's previous attempts, in any order (PastAttempts
	// builds it from audit records). The attempt now starting is not one.
	History []PastAttempt
	// HistoryChecked says the audit was read, so an empty History means no
	// previous attempt.
	HistoryChecked bool
	// Now places the times in the evidence: "at 14:02" on Now's day, "on
	// 2 Mar at 14:02" before, in Now's time zone. Zero: always the date, in
	// each time's own zone.
	Now time.Time
}

// ConfirmsSync reports whether the webhook is Mono's word that the
// account's data is fresh: account_updated with sync_status SUCCESSFUL
// (its only such word; a read never says when the data synced).
func (w WebhookEvidence) ConfirmsSync() bool {
	return mono.SyncSucceeded(w.SyncStatus)
}

// WebhookEvidence is one webhook Mono sent about the account.
type WebhookEvidence struct {
	// Event is Mono's event name: mono.events.reauthorisation_required,
	// mono.events.account_updated, mono.accounts.jobs.update,
	// mono.events.account_reauthorized, mono.events.sync_failed, … (the
	// "mono.events." prefix may be left off).
	Event string
	// At is the payload's timestamp, else when it was received (Received
	// set); zero when neither is known.
	At       time.Time
	Received bool
	// SyncStatus is account_updated's data.meta.sync_status:
	// REAUTHORISATION_REQUIRED, FAILED or SUCCESSFUL.
	SyncStatus string
	// JobName and JobStatus are mono.accounts.jobs.update's data.name and
	// data.status (e.g. "transactions", "failed").
	JobName   string
	JobStatus string
	// DataRequestID is what Mono support asks for about a failed sync, when
	// the payload carried one.
	DataRequestID string
}

// PastAttempt is one earlier reauth attempt on the account, as the audit
// recorded it.
type PastAttempt struct {
	At time.Time // when it began
	// Outcome is the audit's outcome word (SUCCEEDED, FAILED, EXPIRED, ENDED
	// BY AGENT, TAKEN OVER); "" when none was recorded.
	Outcome string
	// Errors are the widget's errorType values in order (the message when an
	// error came without a type). Opaque text: Mono documents no list.
	Errors []string
	// ExitPage is the pageName of the widget's last EXIT ("MFA"), "" if the
	// customer never left through EXIT.
	ExitPage string
}

// signal is how strongly a source says the account needs reauth.
type signal int

const (
	sigNone  signal = iota // says nothing either way
	sigClear               // says the account is fine (synced, re-authorised)
	sigWeak                // a sync problem: may need reauth, not said
	sigNeed                // Mono says reauthorisation is required
)

// ReasonFor is ReasonFrom with no signals: for callers that do not have
// Mono's webhooks or the account's history yet. Its evidence says they were
// not checked.
func ReasonFor(a mono.Account) Reason { return ReasonFrom(a, Signals{}) }

// ReasonFrom derives whether and why the account needs reauth from what Mono
// documents and the account's own history only:
//
//   - Mono's webhooks (sig.Webhook): reauthorisation_required and
//     account_updated with sync_status REAUTHORISATION_REQUIRED say it does;
//     account_updated FAILED, a failed mono.accounts.jobs.update, sync_failed
//     say a sync failed; account_updated SUCCESSFUL and account_reauthorized
//     say it is fine.
//   - data_status with retrieved_data on the read: FAILED or UNAVAILABLE is a
//     sync problem (weak: it is Mono's cached data); only ["balance"] with
//     FAILED or PARTIAL is a partner-bank limitation, not a reauth need.
//   - The account's previous attempts: a success after Mono's webhook settles
//     it; a failed last attempt means it is still needed; an OTP error or an
//     EXIT on the MFA page says the bank asks for MFA.
//   - sync_status, sync_message and last_synced_at on the read, used when
//     present (Mono does not send them on account reads).
//
// auth_method and the institution shape the words for the customer.
func ReasonFrom(a mono.Account, sig Signals) Reason {
	d := deriver{a: a, sig: sig, bank: clean(a.Institution.Name), auth: strings.ToLower(clean(a.AuthMethod))}
	return d.derive()
}

type deriver struct {
	a          mono.Account
	sig        Signals
	bank, auth string
}

func (d *deriver) derive() Reason {
	a, sig := d.a, d.sig
	now := sig.Now

	// Mono's webhook.
	hook, hookLine, unlinked := sigNone, "", false
	if w := sig.Webhook; w != nil {
		hook, hookLine = webhookSignal(*w, now)
		unlinked = strings.HasSuffix(strings.ToLower(clean(w.Event)), "account_unlinked")
	}

	// The read's own sync fields, when Mono ever sends them.
	read := sigNone
	var readLines []string
	syncStatus := strings.ToUpper(clean(a.SyncStatus))
	switch syncStatus {
	case "":
	case mono.SyncReauthRequired:
		read = sigNeed
		readLines = append(readLines, "account read: sync_status "+syncStatus)
	case "FAILED":
		read = sigWeak
		readLines = append(readLines, "account read: sync_status FAILED (a sync failed)")
	default:
		readLines = append(readLines, "account read: sync_status "+syncStatus)
	}
	msgKind, msgLine := ReasonUnknown, ""
	if msg := clean(a.SyncMessage); msg != "" {
		readLines = append(readLines, "account read: sync_message "+strconv.Quote(msg))
		if k, word, ok := matchReason(msg); ok {
			msgKind = k
			msgLine = fmt.Sprintf("sync_message mentions %q → %s", word, k)
		} else {
			msgLine = "sync_message matches no known reason"
		}
	}
	if !a.LastSyncedAt.IsZero() {
		readLines = append(readLines, "account read: last_synced_at "+when(a.LastSyncedAt, now, false))
	}

	// data_status and retrieved_data.
	ds := a.DataStatus.Normal()
	balanceOnly := isBalanceOnly(a.RetrievedData) && (ds == mono.StatusFailed || ds == mono.StatusPartial)
	data := sigNone
	switch ds {
	case mono.StatusFailed, mono.StatusUnavailable:
		if !balanceOnly {
			data = sigWeak
		}
	}

	// The account's history, newest first.
	history := slices.Clone(sig.History)
	slices.SortStableFunc(history, func(x, y PastAttempt) int { return y.At.Compare(x.At) })
	var last *PastAttempt
	if len(history) > 0 {
		last = &history[0]
	}
	lastSucceeded := last != nil && attemptSucceeded(last.Outcome)
	lastFailed := last != nil && attemptFailed(last.Outcome)
	hookAt := time.Time{}
	if sig.Webhook != nil {
		hookAt = sig.Webhook.At
	}
	// newer: the last attempt began after the webhook (a webhook of unknown
	// time is taken as the newest news).
	newer := last != nil && !hookAt.IsZero() && last.At.After(hookAt)

	// Does anything say it needs reauth, and how strongly? The read is as of
	// now; Mono's webhook is as of its time; the last attempt as of its start.
	if hook >= sigWeak && lastSucceeded && newer {
		// A success after Mono's webhook settles it (account_reauthorized
		// may not have reached this app).
		hook = sigClear
		hookLine += " (before the successful attempt below)"
	}
	need := max(read, data)
	switch hook {
	case sigClear:
		// Mono synced the account (or it was re-authorised) since its cached
		// data_status was set; only the read's own sync_status outranks it.
		need = sigNone
		if read >= sigWeak {
			need = read
		}
		if lastFailed && newer {
			need = max(need, sigWeak)
		}
	case sigNone:
		if lastFailed {
			need = max(need, sigWeak)
		}
	default:
		need = max(need, hook)
	}

	// Why: Mono's own words first (when it ever sends any), then the history.
	kind, kindFrom := ReasonUnknown, -1
	if msgKind != ReasonUnknown {
		kind = msgKind
	} else {
		for i, p := range history {
			if isMFAAttempt(p) {
				kind, kindFrom = MFARequired, i
				break
			}
		}
	}

	var ev []string
	add := func(lines ...string) {
		for _, l := range lines {
			if l != "" {
				ev = append(ev, l)
			}
		}
	}
	webhookLines := func() {
		switch {
		case hookLine != "":
			add(hookLine)
		case sig.WebhooksChecked:
			if need >= sigWeak {
				add("no Mono webhook about this account")
			} else {
				add("no Mono webhook says otherwise")
			}
		default:
			add("Mono webhooks not checked")
		}
	}
	historyLines := func(derivedKind ReasonKind) {
		if len(history) == 0 {
			switch {
			case !sig.HistoryChecked:
				add("past attempts not checked")
			case need >= sigWeak:
				add("no previous attempt")
			default:
				add("no failed attempt")
			}
			return
		}
		const shown = 3
		for i, p := range history {
			if i >= shown && i != kindFrom {
				continue
			}
			line := attemptLine(p, now)
			if i == kindFrom && derivedKind == MFARequired {
				line += " → " + MFARequired.String()
			}
			add(line)
		}
		if n := len(history) - shown; n > 0 {
			if kindFrom >= shown {
				n--
			}
			if n > 0 {
				add(fmt.Sprintf("%d earlier attempt%s not shown", n, plural(n)))
			}
		}
	}
	dataLine := d.dataLine(ds, balanceOnly, need)

	r := Reason{bank: d.bank, auth: d.auth}
	switch {
	case unlinked:
		r.Kind = AccountUnlinked
		webhookLines()
		add(readLines...)
		add(dataLine)
		historyLines(ReasonUnknown)
		r.Summary = "Mono says this account was unlinked: it cannot be re-authorised; the customer must link it again"
	case need >= sigWeak:
		r.Kind = kind
		webhookLines()
		add(readLines...)
		add(msgLine)
		add(dataLine)
		historyLines(kind)
		r.Summary = needSummary(need, hook, read, data, kind, msgKind, lastFailed)
	case balanceOnly:
		r.Kind = PartnerBankLimitation
		add(dataLine)
		webhookLines()
		historyLines(ReasonUnknown)
		add(readLines...)
		r.Summary = named(d.bank, "%s gives Mono only the balance: a partner-bank limitation, not a reauth need",
			"The bank gives Mono only the balance: a partner-bank limitation, not a reauth need")
	default:
		r.Kind = NoSignOfReauth
		add(dataLine)
		webhookLines()
		historyLines(ReasonUnknown)
		add(readLines...)
		r.Summary = "No sign this account needs reauth"
	}
	if len(ev) == 0 {
		ev = append(ev, "nothing to check: the account read has no data_status")
	}
	r.Evidence = ev
	r.Script = scriptFor(r.Kind, d.bank, d.auth)
	r.derivedKind, r.derivedSummary = r.Kind, r.Summary
	return r
}

// dataLine says what data_status (and retrieved_data) on the read show.
func (d *deriver) dataLine(ds mono.DataStatus, balanceOnly bool, need signal) string {
	switch {
	case ds == "":
		return "no data_status on the account read"
	case balanceOnly:
		bank := named(d.bank, "%s returns", "the bank returns")
		line := "data_status " + string(ds) + " with retrieved_data [balance]: " + bank + " only the balance"
		if need >= sigWeak {
			return line + " (also a partner-bank limitation)"
		}
		return line + " (a partner-bank limitation, not a reauth need)"
	}
	switch ds {
	case mono.StatusAvailable:
		if need == sigNeed {
			return "data_status AVAILABLE (Mono's cached data; it does not show the connection works)"
		}
		return "data_status AVAILABLE"
	case mono.StatusPartial:
		return "data_status PARTIAL (only some data)"
	case mono.StatusProcessing:
		return "data_status PROCESSING (Mono is still fetching data)"
	case mono.StatusFailed, mono.StatusUnavailable:
		return "data_status " + string(ds) + " (no fresh data)"
	}
	return "data_status " + string(ds)
}

// needSummary is the one-line conclusion for an account that needs reauth.
func needSummary(need, hook, read, data signal, kind, msgKind ReasonKind, lastFailed bool) string {
	said := hook == sigNeed || read == sigNeed
	var why string
	switch {
	case kind == ReasonUnknown:
	case msgKind != ReasonUnknown:
		why = "Mono's sync_message says why"
	default:
		why = "a previous attempt shows why"
	}
	switch {
	case said && why != "":
		return "Mono says this account needs reauth; " + why
	case said:
		return "Mono says this account needs reauth, but not why"
	case hook == sigWeak || read == sigWeak:
		if why != "" {
			return "Mono reports a failed sync (it did not say reauth is required); " + why
		}
		return "Mono reports a failed sync; it did not say reauth is required, or why"
	case lastFailed && data < sigWeak:
		if why != "" {
			return "The last attempt did not succeed, so the account likely still needs reauth; " + why
		}
		return "The last attempt did not succeed, so the account likely still needs reauth"
	default:
		if why != "" {
			return "Mono has no fresh data for this account (no webhook says reauth is required); " + why
		}
		return "Mono has no fresh data for this account; nothing says it needs reauth, or why"
	}
}

// webhookSignal reads one webhook: how strongly it says the account needs
// reauth, and its evidence line.
func webhookSignal(w WebhookEvidence, now time.Time) (signal, string) {
	name := shortEvent(w.Event)
	if name == "" {
		name = "(unnamed)"
	}
	head := "Mono webhook " + name
	if !w.At.IsZero() {
		if w.Received {
			head += " received"
		}
		head += " " + when(w.At, now, true)
	}
	sig, line := webhookSays(w, head, name)
	if drq := clean(w.DataRequestID); drq != "" {
		line += " (data_request_id " + drq + ")"
	}
	return sig, line
}

// webhookSays classifies the webhook by its event name and fields.
func webhookSays(w WebhookEvidence, head, name string) (signal, string) {
	switch lower := strings.ToLower(name); {
	case strings.HasSuffix(lower, "reauthorisation_required"), strings.HasSuffix(lower, "reauthorization_required"):
		return sigNeed, head + ": the account needs reauth"
	case strings.HasSuffix(lower, "account_reauthorized"), strings.HasSuffix(lower, "account_reauthorised"):
		return sigClear, head + ": the last reauth completed"
	case strings.HasSuffix(lower, "account_updated"):
		st := strings.ToUpper(clean(w.SyncStatus))
		switch st {
		case mono.SyncReauthRequired:
			return sigNeed, head + ": sync_status " + st
		case "FAILED":
			return sigWeak, head + ": sync_status FAILED (a sync failed; Mono did not say reauth is required)"
		case mono.SyncStatusSuccessful:
			return sigClear, head + ": sync_status SUCCESSFUL"
		case "":
			return sigNone, head + ": no sync_status"
		}
		return sigNone, head + ": sync_status " + st
	case strings.HasSuffix(lower, "jobs.update"):
		job := clean(w.JobName)
		if job == "" {
			job = "a data"
		}
		st := strings.ToLower(clean(w.JobStatus))
		if st == "failed" {
			return sigWeak, head + ": " + job + " job failed (a Real-Time Data fetch; Mono did not say reauth is required)"
		}
		if st == "" {
			st = "no status"
		}
		return sigNone, head + ": " + job + " job " + st
	case strings.HasSuffix(lower, "sync_failed"):
		return sigWeak, head + ": Mono's automatic sync failed"
	case strings.HasSuffix(lower, "account_unlinked"):
		return sigNone, head + ": the link is gone and cannot be re-authorised"
	}
	return sigNone, head
}

// shortEvent drops Mono's "mono.events." / "mono." prefix for display.
func shortEvent(name string) string {
	name = clean(name)
	lower := strings.ToLower(name)
	for _, p := range []string{"mono.events.", "mono."} {
		if strings.HasPrefix(lower, p) {
			return name[len(p):]
		}
	}
	return name
}

// when formats t for evidence: "at 14:02" on now's day, "on 2 Mar at 14:02"
// in now's year, "on 2 Mar 2025 at 14:02" otherwise, in now's zone. A zero
// now always gives the date. withAt false drops the leading "at"/"on".
func when(t, now time.Time, withAt bool) string {
	if !now.IsZero() {
		t = t.In(now.Location())
	}
	sameDay := !now.IsZero() && t.Year() == now.Year() && t.YearDay() == now.YearDay()
	var s string
	switch {
	case sameDay:
		s = "at " + t.Format("15:04")
	case now.IsZero() || t.Year() == now.Year():
		s = "on " + t.Format("2 Jan") + " at " + t.Format("15:04")
	default:
		s = "on " + t.Format("2 Jan 2006") + " at " + t.Format("15:04")
	}
	if withAt {
		return s
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "at "), "on ")
	return strings.Replace(s, " at ", " ", 1)
}

func isBalanceOnly(retrieved []string) bool {
	return len(retrieved) == 1 && strings.EqualFold(strings.TrimSpace(retrieved[0]), "balance")
}

func attemptSucceeded(outcome string) bool {
	return strings.EqualFold(strings.TrimSpace(outcome), OutcomeSucceeded.String())
}

// attemptFailed: the attempt ended without the account being re-authorised.
// No outcome (a token minted elsewhere, a crash) and TAKEN OVER (another
// agent's attempt carried on) say nothing.
func attemptFailed(outcome string) bool {
	switch strings.ToUpper(strings.TrimSpace(outcome)) {
	case OutcomeFailed.String(), OutcomeExpired.String(), OutcomeEndedByAgent.String():
		return true
	}
	return false
}

// isMFAAttempt: the bank asked this attempt for MFA — an OTP/MFA error (any
// errorType naming one: INVALID_OTP) or an EXIT on the MFA page.
func isMFAAttempt(p PastAttempt) bool {
	if p.ExitPage != "" && isMFAPage(clean(p.ExitPage)) {
		return true
	}
	for _, e := range p.Errors {
		if mfaError(e) {
			return true
		}
	}
	return false
}

func mfaError(errorType string) bool {
	lower := strings.ToLower(strings.NewReplacer("_", " ", "-", " ", ".", " ").Replace(clean(errorType)))
	_, ok := firstMention(lower, []string{"otp", "mfa", "2fa", "one-time", "one time", "two-factor", "two factor"})
	return ok
}

// attemptLine is one previous attempt as evidence: "Previous attempt at
// 09:14: Error INVALID_OTP twice; closed the widget on the MFA page; outcome
// EXPIRED".
func attemptLine(p PastAttempt, now time.Time) string {
	head := "Previous attempt"
	if !p.At.IsZero() {
		head += " " + when(p.At, now, true)
	}
	var parts []string
	var order []string
	counts := map[string]int{}
	for _, e := range p.Errors {
		e = clean(e)
		if e == "" {
			continue
		}
		if counts[e] == 0 {
			order = append(order, e)
		}
		counts[e]++
	}
	for _, e := range order {
		parts = append(parts, "Error "+e+times(counts[e]))
	}
	if page := clean(p.ExitPage); page != "" {
		parts = append(parts, "closed the widget on the "+pageLabel(page))
	}
	if o := strings.ToUpper(clean(p.Outcome)); o != "" {
		parts = append(parts, "outcome "+o)
	} else {
		parts = append(parts, "no outcome recorded")
	}
	return head + ": " + strings.Join(parts, "; ")
}

func times(n int) string {
	switch n {
	case 1:
		return ""
	case 2:
		return " twice"
	}
	return fmt.Sprintf(" %d times", n)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// PastAttempts rebuilds an account's previous attempts from audit records
// (any accounts, any order; those of accountID are used). An attempt is one
// audit session that minted or prepared a link, opened a page or saw widget
// events; a session in which the agent only looked at the account is not
// one. Each attempt's records are taken in their seq order; errors and the
// exit page are read back from the widget events' sentences (Describe).
// Oldest first.
func PastAttempts(records []audit.Record, accountID string) []PastAttempt {
	type acc struct {
		p       PastAttempt
		attempt bool
		success bool
	}
	mine := make([]audit.Record, 0, 16)
	for _, r := range records {
		if r.Session != "" && strings.EqualFold(r.Account, accountID) {
			mine = append(mine, r)
		}
	}
	mine = audit.WithoutRepeats(mine) // a record written twice (a retried commit) happened once
	audit.InAttemptOrder(mine)        // each attempt's records in the order they happened
	byID := map[string]*acc{}
	var order []string
	for _, r := range mine {
		a := byID[r.Session]
		if a == nil {
			a = &acc{}
			byID[r.Session] = a
			order = append(order, r.Session)
		}
		if !r.Time.IsZero() && (a.p.At.IsZero() || r.Time.Before(a.p.At)) {
			a.p.At = r.Time
		}
		switch r.Action {
		case audit.ActionTokenMintRequested, audit.ActionTokenMinted, audit.ActionLinkPrepared,
			audit.ActionPageOpened, audit.ActionPageEvent:
			a.attempt = true
		case audit.ActionWidgetEvent:
			a.attempt = true
			text := strings.TrimSuffix(clean(r.Event), " (after the outcome)")
			if e, ok := errorFromSentence(text); ok {
				a.p.Errors = append(a.p.Errors, e)
			} else if page, ok := exitPageFromSentence(text); ok {
				a.p.ExitPage = page
			}
		case audit.ActionOutcome:
			a.attempt = true
			// Success always wins: a later outcome line never undoes it.
			if o := strings.ToUpper(clean(r.Outcome)); o != "" && !a.success {
				a.p.Outcome = o
				a.success = attemptSucceeded(o)
			}
		}
	}
	var out []PastAttempt
	for _, id := range order {
		if a := byID[id]; a.attempt {
			out = append(out, a.p)
		}
	}
	slices.SortStableFunc(out, func(x, y PastAttempt) int { return x.At.Compare(y.At) })
	return out
}

// errorFromSentence reads errorSentence back: "Error: TYPE — message" gives
// TYPE, "Error: TEXT" gives TEXT.
func errorFromSentence(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "Error: ")
	if !ok {
		return "", false
	}
	if t, _, found := strings.Cut(rest, " — "); found {
		rest = t
	}
	rest = strings.TrimSpace(rest)
	return rest, rest != ""
}

// exitPageFromSentence reads "Closed the widget on the MFA page" back as MFA.
func exitPageFromSentence(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "Closed the widget on the ")
	if !ok {
		return "", false
	}
	page := strings.TrimSpace(strings.TrimSuffix(rest, " page"))
	return page, page != ""
}

// WithKind is the agent's override: kind and its script, keeping the derived
// evidence (and a line saying the agent chose) so the record shows what the
// data said. Choosing the derived kind again undoes the override.
func (r Reason) WithKind(kind ReasonKind) Reason {
	r = r.clone()
	if r.Overridden {
		r.Evidence = r.Evidence[:len(r.Evidence)-1] // the agent's line
		r.Kind, r.Summary, r.Overridden = r.derivedKind, r.derivedSummary, false
	}
	if kind == r.Kind {
		r.Script = scriptFor(kind, r.bank, r.auth)
		return r
	}
	r.Evidence = append(r.Evidence, "reason set by the agent (derived: "+r.Kind.String()+")")
	r.Summary = "Reason set by the agent; the data said: " + r.derivedSummary
	r.Kind = kind
	r.Script = scriptFor(kind, r.bank, r.auth)
	r.Overridden = true
	return r
}

// ReasonWithKind is ReasonFor(a).WithKind(kind); callers with signals use
// ReasonFrom(a, sig).WithKind(kind).
func ReasonWithKind(a mono.Account, kind ReasonKind) Reason {
	return ReasonFor(a).WithKind(kind)
}

// reasonRule maps words in Mono's sync message to a reason. Rules are tried in
// order; a rule matches when the message mentions one of any and, if all is
// set, also one of all. Order matters: "access has expired" must win over the
// bare "token" of MFA, and "one-time password" is MFA, not a password change.
type reasonRule struct {
	kind ReasonKind
	any  []string
	all  []string
}

var reasonRules = []reasonRule{
	{CustomerTwoFA, []string{"2fa", "two-factor", "two factor"}, []string{"customer", "user", "enabled", "set up", "turned on", "activated"}},
	{ConnectionExpired, []string{"expir"}, []string{"access", "session", "connection", "consent", "link"}},
	{MFARequired, []string{"otp", "token", "mfa", "one-time", "one time", "2fa", "two-factor", "two factor"}, nil},
	{PasswordChanged, []string{"password"}, nil},
	{AdditionalVerification, []string{"security question", "captcha", "verification", "verify"}, nil},
	{ConnectionExpired, []string{"expir"}, nil},
}

func matchReason(msg string) (ReasonKind, string, bool) {
	lower := strings.ToLower(msg)
	for _, rule := range reasonRules {
		word, ok := firstMention(lower, rule.any)
		if !ok {
			continue
		}
		if rule.all != nil {
			if _, ok := firstMention(lower, rule.all); !ok {
				continue
			}
		}
		return rule.kind, word, true
	}
	return ReasonUnknown, "", false
}

func firstMention(lower string, words []string) (string, bool) {
	for _, w := range words {
		if mentions(lower, w) {
			return w, true
		}
	}
	return "", false
}

// mentions reports whether lower contains word. Short words ("otp", "mfa",
// "2fa") must stand alone so that, say, "footprint" is not an OTP.
func mentions(lower, word string) bool {
	if len(word) > 3 {
		return strings.Contains(lower, word)
	}
	for i := 0; ; {
		j := strings.Index(lower[i:], word)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(word)
		if (start == 0 || !isAlnum(lower[start-1])) && (end == len(lower) || !isAlnum(lower[end])) {
			return true
		}
		i = start + 1
	}
}

func isAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
}

// linkLifetimeSentence is true of the page link reauth serves: a token lives
// 10 minutes, and so does a link prepared for the account contract.
const linkLifetimeSentence = "The link works for 10 minutes, so please open it while we're talking."

// hostedLinkSentence replaces it for Mono's hosted link (mono_url), for which
// Mono documents no lifetime: nothing is promised about how long it works.
const hostedLinkSentence = "The link comes from Mono; please open it on your phone or computer while we're talking, and tell me when you're done."

// HostedScript is Script as said when the customer gets Mono's hosted link
// instead of reauth's page: the same words, without the page's 10 minutes.
func (r Reason) HostedScript() []string {
	out := slices.Clone(r.Script)
	for i, s := range out {
		if s == linkLifetimeSentence {
			out[i] = hostedLinkSentence
		}
	}
	return out
}

// named fills %s with the bank's name, or uses without when it is unknown.
func named(bank, withBank, without string) string {
	if bank == "" {
		return without
	}
	return fmt.Sprintf(withBank, bank)
}

// scriptFor writes the words for the customer, naming their bank and how they
// log in (auth_method) when known.
func scriptFor(kind ReasonKind, bankName, authMethod string) []string {
	bank := clean(bankName)
	login := "log in as usual"
	switch strings.ToLower(clean(authMethod)) {
	case mono.AuthInternetBanking:
		login = "log in with your internet banking details as usual"
	case mono.AuthMobileBanking:
		login = "log in with your mobile banking details as usual"
	}
	switch kind {
	case MFARequired:
		return []string{
			named(bank, "Your bank, %s, now asks for a one-time code before we can keep reading your account.",
				"Your bank now asks for a one-time code before we can keep reading your account."),
			"I'm sending you a secure link; " + login + " and enter the code your bank sends you.",
			linkLifetimeSentence,
		}
	case CustomerTwoFA:
		return []string{
			named(bank, "You recently turned on two-factor authentication with %s, so we need you to confirm the connection once.",
				"You recently turned on two-factor authentication with your bank, so we need you to confirm the connection once."),
			"I'm sending you a secure link; " + login + " and approve the code or prompt your bank sends you.",
			linkLifetimeSentence,
		}
	case AdditionalVerification:
		return []string{
			named(bank, "%s wants an extra check, such as a security question, before we can keep reading your account.",
				"Your bank wants an extra check, such as a security question, before we can keep reading your account."),
			"I'm sending you a secure link; " + login + " and answer what the bank asks.",
			linkLifetimeSentence,
		}
	case ConnectionExpired:
		return []string{
			named(bank, "Your connection to %s has expired; banks end these connections from time to time.",
				"Your bank connection has expired; banks end these connections from time to time."),
			"I'm sending you a secure link to renew it; just " + login + ".",
			linkLifetimeSentence,
		}
	case PasswordChanged:
		return []string{
			named(bank, "It looks like your %s password changed, so the saved connection no longer works.",
				"It looks like your bank password changed, so the saved connection no longer works."),
			"I'm sending you a secure link; log in with your new password.",
			linkLifetimeSentence,
		}
	case NoSignOfReauth:
		return []string{
			named(bank, "Your connection to %s looks fine on our side; nothing shows it needs renewing.",
				"Your connection to your bank looks fine on our side; nothing shows it needs renewing."),
			"Could you tell me what you are seeing, so I can check it with you?",
		}
	case AccountUnlinked:
		return []string{
			named(bank, "Your %s account is no longer linked with us, so it cannot be renewed from here.",
				"Your bank account is no longer linked with us, so it cannot be renewed from here."),
			"You'll need to link it again in our app, the way you did the first time.",
		}
	case PartnerBankLimitation:
		return []string{
			named(bank, "%s shares only your balance through our banking partner, so other details can be missing.",
				"Your bank shares only your balance through our banking partner, so other details can be missing."),
			"That is a limit of the bank's connection, not something you need to fix, and reconnecting will not change it.",
		}
	default:
		return []string{
			named(bank, "%s needs you to confirm your connection before we can keep reading your account.",
				"Your bank needs you to confirm your connection before we can keep reading your account."),
			"I'm sending you a secure link; " + login + " and follow the steps.",
			linkLifetimeSentence,
		}
	}
}
