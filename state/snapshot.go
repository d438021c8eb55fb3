package state

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state/audit"
)

// SnapshotVersion is the AttemptSnapshot layout this package writes and the
// only one RestoreAttempt reads. Bump it when a field changes meaning or
// goes away, so that a replica running an older or newer reauth refuses
// the snapshot in words instead of resuming a half-understood attempt.
const SnapshotVersion = 1

// AttemptSnapshot is a live [Attempt] as data, so that `reauth serve` can
// move it to another replica (cross-replica resume) and that replica can
// carry on where this one stopped: [Attempt.Snapshot] writes one,
// [RestoreAttempt] reads it back into an Attempt that says and records
// exactly what the original would have (the same lines, the same records,
// numbered from the same seq).
//
// It holds secrets: the token's raw value (Session.Token.Value) and the
// page URL with the page secret in its #fragment (Session.PageURL). The
// replica that resumes the attempt needs both (the page still works with
// them), so they travel in full. A snapshot may therefore only cross the
// replicas' authenticated internal channel: never a log, the audit, a
// terminal or a file. Its String, GoString and LogValue (and those of the
// types inside it) print the token's fingerprint and the page URL without
// its fragment, never the secrets; only encoding/json sees them.
//
// Kinds (phase, reason, outcome) travel as their names, not their numbers:
// a renamed or removed kind is refused by RestoreAttempt, where a reordered
// enum would silently mean something else.
//
// Times travel as RFC 3339 with their UTC offset (encoding/json's form):
// the instant and the offset come back, so a time compares Equal and
// formats the same (every HH:MM the machine writes); the monotonic clock
// reading and the zone's name do not. A restored time's Location is Local
// when its offset matches this process's zone at that instant, else a fixed
// zone of the same offset.
type AttemptSnapshot struct {
	Version int             `json:"version"`
	ID      string          `json:"id"`  // the audit correlation id of the attempt's records
	Seq     int             `json:"seq"` // the seq of the attempt's last record (0 before any)
	Session SessionSnapshot `json:"session"`
}

// SessionSnapshot is every field of a [Session]. See [AttemptSnapshot] for
// the secrets it holds.
type SessionSnapshot struct {
	Phase              string               `json:"phase"` // Phase.String()
	Generation         uint64               `json:"generation"`
	Account            mono.Account         `json:"account"`
	Reason             ReasonSnapshot       `json:"reason"`
	Token              TokenSnapshot        `json:"token"`
	MintError          string               `json:"mint_error,omitempty"`
	PageURL            string               `json:"page_url,omitempty"` // with its #fragment: a secret
	PairingCode        string               `json:"pairing_code,omitempty"`
	PageError          string               `json:"page_error,omitempty"`
	PageConnected      bool                 `json:"page_connected,omitempty"`
	PageOpens          int                  `json:"page_opens,omitempty"`
	LastEventAt        time.Time            `json:"last_event_at,omitzero"`
	LastCustomerAction time.Time            `json:"last_customer_action,omitzero"`
	LastStep           string               `json:"last_step,omitempty"`
	LastError          WidgetErrorSnapshot  `json:"last_error,omitzero"`
	ErrorPending       bool                 `json:"error_pending,omitempty"`
	ExitPage           string               `json:"exit_page,omitempty"`
	StartedAt          time.Time            `json:"started_at,omitzero"`
	SucceededAt        time.Time            `json:"succeeded_at,omitzero"`
	SuccessFrom        string               `json:"success_from,omitempty"`
	Outcome            OutcomeSnapshot      `json:"outcome,omitzero"`
	Verification       VerificationSnapshot `json:"verification,omitzero"`
	Ignored            int                  `json:"ignored,omitempty"`
	Refused            bool                 `json:"refused,omitempty"`
	Signals            SignalsSnapshot      `json:"signals,omitzero"`
}

// ReasonSnapshot is a [Reason], with what it was derived from (kept so an
// override can be undone, and for the scripts' words).
type ReasonSnapshot struct {
	Kind           string   `json:"kind"` // ReasonKind.String()
	Summary        string   `json:"summary,omitempty"`
	Evidence       []string `json:"evidence"` // nil and empty both travel as they are
	Script         []string `json:"script"`
	Overridden     bool     `json:"overridden,omitempty"`
	DerivedKind    string   `json:"derived_kind"`
	DerivedSummary string   `json:"derived_summary,omitempty"`
	Bank           string   `json:"bank,omitempty"`
	AuthMethod     string   `json:"auth_method,omitempty"`
}

// TokenSnapshot is a [mono.Token], its raw value included (a secret; see
// [AttemptSnapshot]).
type TokenSnapshot struct {
	AccountID string    `json:"account_id,omitempty"`
	Value     string    `json:"value,omitempty"`
	MintedAt  time.Time `json:"minted_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// WidgetErrorSnapshot is a [WidgetError].
type WidgetErrorSnapshot struct {
	Type    string `json:"type,omitempty"`
	Message string `json:"message,omitempty"`
}

// OutcomeSnapshot is an [Outcome].
type OutcomeSnapshot struct {
	Kind     string `json:"kind"` // OutcomeKind.String(): NONE, SUCCEEDED, …
	Headline string `json:"headline,omitempty"`
	Detail   string `json:"detail,omitempty"`
	NextStep string `json:"next_step,omitempty"`
}

// VerificationSnapshot is a [Verification].
type VerificationSnapshot struct {
	Status   mono.DataStatus `json:"status,omitempty"`
	Account  mono.Account    `json:"account,omitzero"`
	Checks   int             `json:"checks,omitempty"`
	LastErr  string          `json:"last_error,omitempty"`
	Headline string          `json:"headline,omitempty"`
	NextStep string          `json:"next_step,omitempty"`
}

// SignalsSnapshot is a [Signals].
type SignalsSnapshot struct {
	Webhook         *WebhookEvidenceSnapshot `json:"webhook,omitempty"`
	WebhooksChecked bool                     `json:"webhooks_checked,omitempty"`
	History         []PastAttemptSnapshot    `json:"history"` // nil and empty both travel as they are
	HistoryChecked  bool                     `json:"history_checked,omitempty"`
	Now             time.Time                `json:"now,omitzero"`
}

// WebhookEvidenceSnapshot is a [WebhookEvidence].
type WebhookEvidenceSnapshot struct {
	Event         string    `json:"event,omitempty"`
	At            time.Time `json:"at,omitzero"`
	Received      bool      `json:"received,omitempty"`
	SyncStatus    string    `json:"sync_status,omitempty"`
	JobName       string    `json:"job_name,omitempty"`
	JobStatus     string    `json:"job_status,omitempty"`
	DataRequestID string    `json:"data_request_id,omitempty"`
}

// PastAttemptSnapshot is a [PastAttempt].
type PastAttemptSnapshot struct {
	At       time.Time `json:"at,omitzero"`
	Outcome  string    `json:"outcome,omitempty"`
	Errors   []string  `json:"errors"`
	ExitPage string    `json:"exit_page,omitempty"`
}

// Snapshot is the attempt as data, secrets included (see [AttemptSnapshot]).
// It shares nothing with the attempt: changing one never changes the other.
func (a *Attempt) Snapshot() AttemptSnapshot {
	return AttemptSnapshot{Version: SnapshotVersion, ID: a.id, Seq: a.seq, Session: a.sess.snapshot()}
}

// RestoreAttempt is the attempt a snapshot describes. It refuses a snapshot
// of another version, one without an id, a negative seq, and a phase,
// reason or outcome kind this reauth does not know.
func RestoreAttempt(s AttemptSnapshot) (Attempt, error) {
	if s.Version != SnapshotVersion {
		return Attempt{}, fmt.Errorf("state: attempt snapshot version %d: this reauth reads version %d only", s.Version, SnapshotVersion)
	}
	if strings.TrimSpace(s.ID) == "" {
		return Attempt{}, errors.New("state: attempt snapshot has no id")
	}
	if s.Seq < 0 {
		return Attempt{}, fmt.Errorf("state: attempt snapshot %s has a negative seq %d", s.ID, s.Seq)
	}
	sess, err := s.Session.restore()
	if err != nil {
		return Attempt{}, fmt.Errorf("state: attempt snapshot %s: %w", s.ID, err)
	}
	return Attempt{id: s.ID, sess: sess, seq: s.Seq}, nil
}

func (s Session) snapshot() SessionSnapshot {
	r := s.reason
	snap := SessionSnapshot{
		Phase:      s.phase.String(),
		Generation: s.generation,
		Account:    cloneAccount(s.account),
		Reason: ReasonSnapshot{
			Kind: r.Kind.String(), Summary: r.Summary,
			Evidence: slices.Clone(r.Evidence), Script: slices.Clone(r.Script),
			Overridden:  r.Overridden,
			DerivedKind: r.derivedKind.String(), DerivedSummary: r.derivedSummary,
			Bank: r.bank, AuthMethod: r.auth,
		},
		Token: TokenSnapshot{AccountID: s.token.AccountID, Value: s.token.Value,
			MintedAt: s.token.MintedAt, ExpiresAt: s.token.ExpiresAt},
		MintError:          s.mintErr,
		PageURL:            s.pageURL,
		PairingCode:        s.pairing,
		PageError:          s.pageErr,
		PageConnected:      s.connected,
		PageOpens:          s.pageOpens,
		LastEventAt:        s.lastEventAt,
		LastCustomerAction: s.lastAction,
		LastStep:           s.lastStep,
		LastError:          WidgetErrorSnapshot{Type: s.lastError.Type, Message: s.lastError.Message},
		ErrorPending:       s.errorPending,
		ExitPage:           s.exitPage,
		StartedAt:          s.startedAt,
		SucceededAt:        s.succeededAt,
		SuccessFrom:        s.successFrom,
		Outcome: OutcomeSnapshot{Kind: s.outcome.Kind.String(), Headline: s.outcome.Headline,
			Detail: s.outcome.Detail, NextStep: s.outcome.NextStep},
		Verification: VerificationSnapshot{Status: s.verification.Status, Account: cloneAccount(s.verification.Account),
			Checks: s.verification.Checks, LastErr: s.verification.LastErr,
			Headline: s.verification.Headline, NextStep: s.verification.NextStep},
		Ignored: s.ignored,
		Refused: s.refused,
		Signals: SignalsSnapshot{WebhooksChecked: s.signals.WebhooksChecked,
			HistoryChecked: s.signals.HistoryChecked, Now: s.signals.Now},
	}
	if w := s.signals.Webhook; w != nil {
		snap.Signals.Webhook = &WebhookEvidenceSnapshot{Event: w.Event, At: w.At, Received: w.Received,
			SyncStatus: w.SyncStatus, JobName: w.JobName, JobStatus: w.JobStatus, DataRequestID: w.DataRequestID}
	}
	if h := s.signals.History; h != nil {
		snap.Signals.History = make([]PastAttemptSnapshot, len(h))
		for i, p := range h {
			snap.Signals.History[i] = PastAttemptSnapshot{At: p.At, Outcome: p.Outcome, Errors: slices.Clone(p.Errors), ExitPage: p.ExitPage}
		}
	}
	return snap
}

func (ss SessionSnapshot) restore() (Session, error) {
	phase, ok := byName(phaseNames[:], ss.Phase)
	if !ok {
		return Session{}, fmt.Errorf("unknown phase %q", ss.Phase)
	}
	kind, ok := byName(reasonNames[:], ss.Reason.Kind)
	if !ok {
		return Session{}, fmt.Errorf("unknown reason kind %q", ss.Reason.Kind)
	}
	derived, ok := byName(reasonNames[:], ss.Reason.DerivedKind)
	if !ok {
		return Session{}, fmt.Errorf("unknown derived reason kind %q", ss.Reason.DerivedKind)
	}
	outcome, ok := byName(outcomeNames[:], ss.Outcome.Kind)
	if !ok {
		return Session{}, fmt.Errorf("unknown outcome kind %q", ss.Outcome.Kind)
	}
	s := Session{
		phase:      Phase(phase),
		generation: ss.Generation,
		account:    cloneAccount(ss.Account),
		reason: Reason{
			Kind: ReasonKind(kind), Summary: ss.Reason.Summary,
			Evidence: slices.Clone(ss.Reason.Evidence), Script: slices.Clone(ss.Reason.Script),
			Overridden:  ss.Reason.Overridden,
			derivedKind: ReasonKind(derived), derivedSummary: ss.Reason.DerivedSummary,
			bank: ss.Reason.Bank, auth: ss.Reason.AuthMethod,
		},
		token: mono.Token{AccountID: ss.Token.AccountID, Value: ss.Token.Value,
			MintedAt: ss.Token.MintedAt, ExpiresAt: ss.Token.ExpiresAt},
		mintErr:      ss.MintError,
		pageURL:      ss.PageURL,
		pairing:      ss.PairingCode,
		pageErr:      ss.PageError,
		connected:    ss.PageConnected,
		pageOpens:    ss.PageOpens,
		lastEventAt:  ss.LastEventAt,
		lastAction:   ss.LastCustomerAction,
		lastStep:     ss.LastStep,
		lastError:    WidgetError{Type: ss.LastError.Type, Message: ss.LastError.Message},
		errorPending: ss.ErrorPending,
		exitPage:     ss.ExitPage,
		startedAt:    ss.StartedAt,
		succeededAt:  ss.SucceededAt,
		successFrom:  ss.SuccessFrom,
		outcome: Outcome{Kind: OutcomeKind(outcome), Headline: ss.Outcome.Headline,
			Detail: ss.Outcome.Detail, NextStep: ss.Outcome.NextStep},
		verification: Verification{Status: ss.Verification.Status, Account: cloneAccount(ss.Verification.Account),
			Checks: ss.Verification.Checks, LastErr: ss.Verification.LastErr,
			Headline: ss.Verification.Headline, NextStep: ss.Verification.NextStep},
		ignored: ss.Ignored,
		refused: ss.Refused,
		signals: Signals{WebhooksChecked: ss.Signals.WebhooksChecked,
			HistoryChecked: ss.Signals.HistoryChecked, Now: ss.Signals.Now},
	}
	if w := ss.Signals.Webhook; w != nil {
		s.signals.Webhook = &WebhookEvidence{Event: w.Event, At: w.At, Received: w.Received,
			SyncStatus: w.SyncStatus, JobName: w.JobName, JobStatus: w.JobStatus, DataRequestID: w.DataRequestID}
	}
	if h := ss.Signals.History; h != nil {
		s.signals.History = make([]PastAttempt, len(h))
		for i, p := range h {
			s.signals.History[i] = PastAttempt{At: p.At, Outcome: p.Outcome, Errors: slices.Clone(p.Errors), ExitPage: p.ExitPage}
		}
	}
	return s, nil
}

// byName finds a kind by the name its String gives (the index in its
// names table).
func byName(names []string, name string) (int, bool) {
	i := slices.Index(names, name)
	return i, i >= 0
}

// cloneAccount copies the account's one slice, so a snapshot and its
// attempt share no memory. (mono.Account's own JSON drops an empty
// RetrievedData, so an empty one comes back nil; the client never makes an
// empty one: it appends.)
func cloneAccount(a mono.Account) mono.Account {
	a.RetrievedData = slices.Clone(a.RetrievedData)
	return a
}

// String is for logs: the attempt, its phase and the token's fingerprint;
// never the token's value or the page secret.
func (s AttemptSnapshot) String() string {
	return fmt.Sprintf("AttemptSnapshot{v%d %s seq=%d %s}", s.Version, s.ID, s.Seq, s.Session)
}

// GoString keeps %#v from printing the secrets through reflection.
func (s AttemptSnapshot) GoString() string { return s.String() }

// LogValue keeps slog from printing the secrets field by field.
func (s AttemptSnapshot) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("version", s.Version), slog.String("id", s.ID), slog.Int("seq", s.Seq),
		slog.Any("session", s.Session))
}

// String is for logs: no token value, no page secret.
func (s SessionSnapshot) String() string {
	return fmt.Sprintf("Session{%s gen=%d account=%q token=%s page=%s outcome=%s}",
		s.Phase, s.Generation, s.Account.ID, s.Token, StripFragment(s.PageURL), s.Outcome.Kind)
}

// GoString keeps %#v as safe as %v.
func (s SessionSnapshot) GoString() string { return s.String() }

// LogValue keeps slog as safe as %v.
func (s SessionSnapshot) LogValue() slog.Value {
	return slog.GroupValue(slog.String("phase", s.Phase), slog.Uint64("generation", s.Generation),
		slog.String("account", s.Account.ID), slog.String("token", s.Token.fingerprint()),
		slog.String("page", StripFragment(s.PageURL)), slog.String("outcome", s.Outcome.Kind))
}

func (t TokenSnapshot) fingerprint() string { return mono.Fingerprint(t.Value) }

// String prints what mono.Token's String does: the fingerprint, never the value.
func (t TokenSnapshot) String() string {
	return mono.Token{AccountID: t.AccountID, Value: t.Value, MintedAt: t.MintedAt, ExpiresAt: t.ExpiresAt}.String()
}

// GoString keeps %#v as safe as %v.
func (t TokenSnapshot) GoString() string { return t.String() }

// LogValue keeps slog as safe as %v.
func (t TokenSnapshot) LogValue() slog.Value { return slog.StringValue(t.String()) }

// LinesFromRecords is the status pane a resumed view shows for an attempt
// whose records were read back from the store (one attempt's records, in
// seq order; audit.InAttemptOrder sorts them): one line per record that
// the live pane showed a line for, at the record's Time, with the live
// line's text and tone. Records the live pane said nothing for (the
// session starting, the reason shown or overridden, the mint requested, a
// webhook received, an action this reauth does not know) give no line.
//
// It reads the records as Attempt.Apply writes them, so each line is the
// live one with two exceptions the records cannot undo:
//
//   - A page served comes back as "Page ready": the pairing code is not
//     recorded.
//   - A widget event's tone is read back from its sentence (Describe's
//     words, Kind's tones); a sentence it does not recognise is ToneInfo.
//
// And lines the live pane showed with no record behind them cannot come
// back at all: "Token expired" (its outcome record does), the page failing
// to start ("Could not start the page: …"), Mono's webhooks ("Mono
// webhook: …"; the outcome or verification they caused does), and lines a
// front end adds itself. Heartbeats and the widget's onLoad said nothing
// live either.
func LinesFromRecords(recs []audit.Record) []Line {
	var lines []Line
	// afterOutcome follows the live rule for a widget event that arrives
	// once the attempt has an outcome (it is shown faint): an outcome
	// record sets it; a fresh attempt under the same id (a new mint, a
	// link, the account chosen again after a reset) clears it.
	afterOutcome := false
	for _, r := range recs {
		line := func(tone EventTone, text string) {
			lines = append(lines, Line{At: r.Time, Tone: tone, Text: text})
		}
		switch r.Action {
		case audit.ActionSessionStarted, audit.ActionTokenMintRequested:
			afterOutcome = false
		case audit.ActionLinkPrepared:
			afterOutcome = false
			line(ToneInfo, "Link prepared (no token: the widget takes the account id), works until "+r.TokenExpiresAt.Local().Format("15:04:05"))
		case audit.ActionTokenMinted:
			line(ToneInfo, "Token minted "+r.TokenFingerprint+", expires "+r.TokenExpiresAt.Local().Format("15:04:05"))
		case audit.ActionTokenMintFailed:
			line(ToneError, "Mint failed: "+r.Detail)
		case audit.ActionPageOpened:
			line(ToneInfo, "Page ready")
		case audit.ActionPageEvent:
			line(pageEventTone(r.Event), r.Event)
		case audit.ActionWidgetEvent:
			line(widgetSentenceTone(r.Event, afterOutcome), r.Event)
		case audit.ActionOutcome:
			afterOutcome = true
			kind, ok := byName(outcomeNames[:], strings.ToUpper(strings.TrimSpace(r.Outcome)))
			if !ok || kind == int(OutcomeNone) {
				// Not an outcome the machine sets (a front end's word, or
				// a newer reauth's): show what the record says, naming
				// the word unless the detail already starts with it.
				line(ToneWarning, otherOutcomeText(r.Outcome, r.Detail))
				continue
			}
			k := OutcomeKind(kind)
			line(k.Tone(), k.String()+": "+outcomeHeadline(k, r.Detail))
		case audit.ActionVerification:
			tone := ToneSuccess
			if r.Outcome == StillSyncing.String() {
				tone = ToneWarning
			}
			line(tone, r.Detail)
		case audit.ActionClaimTakenOver:
			// The front ends warn when the agent takes an account from a
			// colleague; the record's words are the state package's own.
			line(ToneWarning, r.Event)
		case audit.ActionHostedLinkCreated:
			// The front end's line also says where the link went and how
			// its progress shows, which the record does not hold.
			line(ToneInfo, "Hosted reauth link created")
		}
	}
	return lines
}

// otherOutcomeText is "WORD: detail" for an outcome word the machine does
// not set, or the detail alone when it begins with the word already
// ("Interrupted: …").
func otherOutcomeText(word, detail string) string {
	word, detail = strings.TrimSpace(word), strings.TrimSpace(detail)
	switch {
	case detail == "":
		return word
	case word == "" || strings.HasPrefix(strings.ToUpper(detail), strings.ToUpper(word)):
		return detail
	}
	return word + ": " + detail
}

// pageEventTone is the tone Attempt.Apply gave a page_event record's line:
// the page going (closed, silent, replaced) warns; its opening informs.
func pageEventTone(text string) EventTone {
	if strings.HasPrefix(text, "Page closed") || strings.HasPrefix(text, "Page replaced") {
		return ToneWarning
	}
	return ToneInfo
}

// widgetSentenceTone reads Kind's tone back from Describe's sentence,
// which is all a widget_event record keeps. Describe starts every sentence
// with words of its own before any text from the page, so the opening
// words decide. A widget event after the outcome was faint live (marked
// "(after the outcome)", except the widget closing, which is expected
// then); a success never is (success wins over any outcome).
func widgetSentenceTone(sentence string, afterOutcome bool) EventTone {
	if strings.HasSuffix(sentence, " (after the outcome)") {
		return ToneFaint
	}
	switch {
	case sentence == "Success confirmed by the widget", sentence == "Re-authorisation succeeded":
		return ToneSuccess
	case sentence == "Widget closed":
		if afterOutcome {
			return ToneFaint
		}
		return ToneWarning
	case sentence == "Page closed", sentence == "The page stopped responding",
		strings.HasPrefix(sentence, "Closed the widget"):
		return ToneWarning
	case strings.HasPrefix(sentence, "Page error"), strings.HasPrefix(sentence, "Error: "), sentence == "Error (no details)":
		return ToneError
	case strings.HasPrefix(sentence, "Customer chose "),
		strings.HasPrefix(sentence, "Customer switched "),
		strings.HasPrefix(sentence, "Submitted "),
		strings.HasPrefix(sentence, "Selected "),
		strings.HasPrefix(sentence, "Account linked"):
		return ToneProgress
	}
	// "Widget loaded", "Widget opened", "Widget event X", "Page signal X",
	// and anything this reauth never wrote.
	return ToneInfo
}

// outcomeDetailOpeners are the first words of each outcome kind's Detail
// as the machine writes it (see succeed, pageFailed, expire, takenOver,
// takenOverBy, endedByAgent, and whereLeft for the detail an agent's end
// may have alone). An outcome record keeps Headline and Detail joined by
// one space; the live line shows the Headline only.
var outcomeDetailOpeners = map[OutcomeKind][]string{
	OutcomeSucceeded:    {"The customer finished re-authorising "},
	OutcomeFailed:       {"Mono refused to mint ", "The page could not run the widget."},
	OutcomeExpired:      {"It expired at "},
	OutcomeTakenOver:    {"Another attempt opened a page for this account.", "They are re-authorising it now;"},
	OutcomeEndedByAgent: {"The widget last reported ", "The customer was last on the ", "Last step: "},
}

// outcomeHeadline splits an outcome record's Detail back into the
// Headline: the text before the earliest " <opener>" that follows a
// sentence's end. The headlines the machine writes itself never hold an
// opener; one that quotes the agent or the page (an agent's reason for
// ending, a page's error message, a colleague's name) could, and would be
// cut there. With no opener the whole Detail is the headline (an agent's
// end with nothing known of where the customer was).
func outcomeHeadline(k OutcomeKind, detail string) string {
	cut := -1
	for _, opener := range outcomeDetailOpeners[k] {
		for from := 0; ; {
			i := strings.Index(detail[from:], " "+opener)
			if i < 0 {
				break
			}
			i += from
			if endsSentence(detail[:i]) {
				if cut < 0 || i < cut {
					cut = i
				}
				break
			}
			from = i + 1
		}
	}
	if cut < 0 {
		return detail
	}
	return detail[:cut]
}

func endsSentence(s string) bool {
	return strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "…")
}
