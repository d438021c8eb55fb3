// Package webhook receives Mono's webhooks: it checks the shared secret in
// constant time, bounds and validates the body, dedupes on event_id (exactly
// as sent), orders each account's events by Mono's timestamp, persists what
// they say about each account in a small Store so it survives restarts, and
// hands each new event to the app. Send, Payload and Delivery let the sandbox
// and tests play Mono's side.
//
// Events (payloads use `_id` and camelCase, see mono-api.md; the 2022 shapes
// have no event_id or timestamp, the 2026 ones add top-level event_id and
// timestamp and data.app / data.business):
//   - mono.events.reauthorisation_required marks data.account._id as needing
//     reauth (MarkReauthRequired);
//   - mono.events.account_reauthorized (with a z) clears the mark;
//   - mono.events.account_updated clears it on data.meta.sync_status
//     SUCCESSFUL, marks on REAUTHORISATION_REQUIRED (MarkReauthRequired) and
//     on FAILED (MarkSyncFailed); data.meta.data_status is Mono's cached
//     data and decides nothing;
//   - mono.accounts.jobs.update with data.status "failed" marks data.account
//     (MarkSyncFailed);
//   - mono.events.account_unlinked (data.account.id or _id) clears the mark
//     and records the account as unlinked (MarkUnlinked): it cannot be
//     re-authorised, the customer must link it again;
//   - mono.events.sync_failed is passed on and changes nothing.
//
// Mono retries non-2xx replies with no documented schedule or order, so an
// event is applied only if it is not older than the newest event the Store
// has applied to its account (Event.When: Mono's timestamp, or when it was
// received for payloads without one). An older one is answered 200 and
// changes nothing: a late retry never undoes a newer event. Other events are
// answered 200 and ignored, so Mono does not keep retrying them.
package webhook

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reauth/reauth/mono"
)

// SecretHeader carries Mono's shared webhook secret.
const SecretHeader = "mono-webhook-secret"

// MaxBody is the largest webhook body accepted; Mono's payloads are a few KB.
const MaxBody = 64 << 10

// maxIDLen bounds ids kept in the Store, so a hostile sender cannot bloat it.
const maxIDLen = 256

// EventKind is which Mono event a webhook carried.
type EventKind int

const (
	Unknown         EventKind = iota // any event name this package does not act on
	ReauthRequired                   // mono.events.reauthorisation_required
	Reauthorized                     // mono.events.account_reauthorized
	AccountUpdated                   // mono.events.account_updated
	SyncFailed                       // mono.events.sync_failed
	AccountUnlinked                  // mono.events.account_unlinked
	JobUpdate                        // mono.accounts.jobs.update (a Real-Time Data job)
)

var kindNames = map[EventKind]string{
	ReauthRequired:  "mono.events.reauthorisation_required",
	Reauthorized:    "mono.events.account_reauthorized",
	AccountUpdated:  "mono.events.account_updated",
	SyncFailed:      "mono.events.sync_failed",
	AccountUnlinked: "mono.events.account_unlinked",
	JobUpdate:       "mono.accounts.jobs.update",
}

// JobFailed is the data.status of a mono.accounts.jobs.update whose job
// failed (Mono's other statuses: finished, processing).
const JobFailed = "failed"

// MaxTimestampLead is how far after its receipt an event's timestamp may
// be and still be believed. A timestamp further ahead (a wrong clock, a
// garbled field) would make every later event look older than it and so
// freeze the account: such an event is ordered by when it was received.
const MaxTimestampLead = time.Hour

// String is Mono's event name for k ("unknown" for Unknown).
func (k EventKind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "unknown"
}

// kindOf maps an event name to its kind. The British spelling of
// account_reauthorised is accepted too: Mono spells the two events
// differently and a fix on their side should not break us.
func kindOf(name string) EventKind {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "mono.events.account_reauthorised" {
		return Reauthorized
	}
	for k, n := range kindNames {
		if n == name {
			return k
		}
	}
	return Unknown
}

// Event is one accepted webhook. Every string has been through mono.CleanText.
type Event struct {
	ID         string // event_id, cleaned for display; empty for older payloads (then no dedupe)
	Kind       EventKind
	Name       string // the event name as sent
	AccountID  string
	DataStatus mono.DataStatus // account_updated's meta.data_status
	SyncStatus string          // account_updated's meta.sync_status, upper case, if any
	Received   time.Time

	// At is Mono's top-level timestamp (2026 payloads), zero when the
	// payload has none or it does not parse. Order events with When.
	At time.Time
	// JobStatus is a jobs.update's data.status, lower case ("failed",
	// "finished", "processing"); JobID its data.id, or account_updated's
	// meta.job_id; JobName its data.name.
	JobStatus string
	JobID     string
	JobName   string // a jobs.update's data.name (e.g. "transactions")
	// DataRequestID and SessionID are what Mono support asks for when
	// debugging a sync (data.meta.data_request_id / session_id), if sent.
	DataRequestID string
	SessionID     string
	// App and Business are data.app and data.business (2026 payloads).
	App      string
	Business string

	// rawID is event_id exactly as sent, kept only when cleaning changed it
	// (control characters, escapes, spaces around it). Dedupe uses it, so
	// two ids that differ only in what cleaning removes stay two events.
	// Unexported: it may hold escape sequences and must never be shown.
	rawID string
}

// dedupeKey is what the Store remembers ev by: its id exactly as sent.
func (ev Event) dedupeKey() string {
	if ev.rawID != "" {
		return dedupeKey(ev.rawID)
	}
	return dedupeKey(ev.ID)
}

// dedupeKey maps an event id exactly as sent to the key the Store keeps.
// An id that cleaning leaves as it is (every id Mono sends) is its own key,
// so stores written before raw ids were kept still dedupe. Any other id is
// kept as NUL followed by its bytes in hex: exact, one-to-one, safe to
// write to the store file and to print, and never equal to a clean id
// (cleaning removes NUL).
func dedupeKey(raw string) string {
	if raw == "" || cleanID(raw) == raw {
		return raw
	}
	return "\x00" + hex.EncodeToString([]byte(raw))
}

// NeedsReauth reports whether the event says the bank needs the customer to
// re-authorise (reauthorisation_required, or account_updated with
// sync_status REAUTHORISATION_REQUIRED). A failed sync (Marks returns
// MarkSyncFailed) is not counted here: it may be something else.
func (e Event) NeedsReauth() bool {
	return e.Kind == ReauthRequired ||
		(e.Kind == AccountUpdated && strings.EqualFold(e.SyncStatus, mono.SyncReauthRequired))
}

// Marks reports the mark the event puts on its account, if it marks it:
// MarkReauthRequired (NeedsReauth), MarkSyncFailed (account_updated with
// sync_status FAILED, a jobs.update with status failed) or MarkUnlinked
// (account_unlinked, which also clears any other mark).
func (e Event) Marks() (MarkKind, bool) {
	switch {
	case e.NeedsReauth():
		return MarkReauthRequired, true
	case e.Kind == AccountUpdated && strings.EqualFold(e.SyncStatus, "FAILED"),
		e.Kind == JobUpdate && strings.EqualFold(e.JobStatus, JobFailed):
		return MarkSyncFailed, true
	case e.Kind == AccountUnlinked:
		return MarkUnlinked, true
	}
	return "", false
}

// Clears reports whether the event says the account is healthy again:
// account_reauthorized, or account_updated with sync_status SUCCESSFUL
// (the data is current). account_unlinked clears too, but leaves the
// account unlinked (see Marks).
func (e Event) Clears() bool {
	return e.Kind == Reauthorized ||
		(e.Kind == AccountUpdated && mono.SyncSucceeded(e.SyncStatus))
}

// outcome is what applying the event leaves on its account: a MarkKind,
// Cleared, or "" when it changes nothing.
func (e Event) outcome() MarkKind {
	if k, ok := e.Marks(); ok {
		return k
	}
	if e.Clears() {
		return Cleared
	}
	return ""
}

// When is the time the event is ordered by: Mono's timestamp (At), unless
// the payload had none or it is more than MaxTimestampLead after receipt;
// then when it was received.
func (e Event) When() time.Time {
	t, _ := e.when()
	return t
}

// when is When, and whether it is Mono's own timestamp.
func (e Event) when() (time.Time, bool) {
	switch {
	case e.At.IsZero():
		return e.Received, false
	case e.Received.IsZero(), !e.At.After(e.Received.Add(MaxTimestampLead)):
		return e.At, true
	}
	return e.Received, false
}

// Config configures NewHandler.
type Config struct {
	// Secret is MONO_WEBHOOK_SECRET. Never logged. When empty every request
	// is refused: an unauthenticated receiver would let anyone mark accounts.
	Secret string
	// Store persists marks and seen event ids. Nil means an in-memory store
	// (nothing survives a restart).
	Store *Store
	// OnEvent receives each new (non-duplicate, known, not stale) event after
	// the Store has applied it; Store.Mark(ev.AccountID) then holds what it
	// left. It runs on the request goroutine before the reply, and may run
	// concurrently for concurrent requests: it must return quickly (e.g. a
	// non-blocking channel send, or `go program.Send(...)`), because Mono
	// expects a fast 2xx.
	OnEvent func(Event)
	// OnStale, if set, receives each new event that was older than the
	// newest event already applied to its account (Store.Record: Stale):
	// recorded as seen, applied to nothing, never passed to OnEvent. For an
	// audit trail; same rules as OnEvent.
	OnStale func(Event)
	// Now stamps Event.Received. Default time.Now.
	Now func() time.Time
	// Logger gets one line per authenticated request, and refused requests
	// as a summary of counts by reason at most once per RefusalLogEvery
	// (never a line each: anyone who can reach the receiver can send those).
	// Never the secret. Default: discard.
	Logger *slog.Logger
	// RefusalLogEvery is the shortest time between two summaries of refused
	// requests. Default DefaultRefusalLogEvery (10 s).
	RefusalLogEvery time.Duration
	// Observe, if set, hears how every request ended: kind is the event's
	// kind (EventKind.String; "" when the request was refused before one was
	// read), result one of "applied", "duplicate", "stale", "ignored",
	// "refused", "error". Both come from fixed sets, never from the payload
	// as sent (metrics label them). Same rules as OnEvent.
	Observe func(kind, result string)
}

type handler struct {
	cfg        Config
	secretHash [sha256.Size]byte
	refusals   *refusalLog
}

// NewHandler returns the webhook receiver. Answers: 405 for anything but POST,
// 401 for a wrong or missing secret (nothing recorded), 413 over MaxBody, 400
// for a body that is not a Mono event, 500 if the Store cannot persist (so
// Mono retries), otherwise 200.
func NewHandler(cfg Config) http.Handler {
	if cfg.Store == nil {
		cfg.Store = newStore("")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &handler{cfg: cfg, secretHash: sha256.Sum256([]byte(cfg.Secret)),
		refusals: newRefusalLog(cfg.Logger, cfg.RefusalLogEvery)}
}

// authorised compares the header with the secret in constant time. Both are
// hashed first so not even the secret's length leaks through timing.
func (h *handler) authorised(got string) bool {
	if h.cfg.Secret == "" {
		return false
	}
	gotHash := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(gotHash[:], h.secretHash[:]) == 1
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	logger := h.cfg.Logger
	// Refusals are counted, not logged one by one (see refusalLog).
	observe := func(kind, result string) {
		if h.cfg.Observe != nil {
			h.cfg.Observe(kind, result)
		}
	}
	refuse := func(status int, reason, msg, detail string) {
		h.refusals.refused(reason, r.RemoteAddr, detail)
		observe("", "refused")
		http.Error(w, msg, status)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(http.StatusMethodNotAllowed, refusedMethod, "method not allowed", "")
		return
	}
	if !h.authorised(r.Header.Get(SecretHeader)) {
		reason := refusedSecret
		if h.cfg.Secret == "" {
			reason = refusedNoSecret
		}
		refuse(http.StatusUnauthorized, reason, "unauthorized", "")
		return
	}
	if r.ContentLength > MaxBody {
		refuse(http.StatusRequestEntityTooLarge, refusedTooLarge, "body too large", "")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			refuse(http.StatusRequestEntityTooLarge, refusedTooLarge, "body too large", "")
			return
		}
		refuse(http.StatusBadRequest, refusedUnread, "cannot read body", "")
		return
	}
	ev, err := Parse(body)
	if err != nil {
		refuse(http.StatusBadRequest, refusedBadBody, err.Error(), err.Error())
		return
	}
	ev.Received = h.cfg.Now()
	if ev.Kind == Unknown {
		logger.Info("webhook ignored: unknown event", "event", ev.Name, "event_id", ev.ID)
		observe(ev.Kind.String(), "ignored")
		reply(w, "ignored")
		return
	}
	outcome, err := h.cfg.Store.Record(ev)
	if err != nil {
		logger.Error("webhook not recorded", "event", ev.Name, "account", ev.AccountID, "err", err)
		observe(ev.Kind.String(), "error")
		http.Error(w, "cannot record event", http.StatusInternalServerError)
		return
	}
	switch outcome {
	case Duplicate:
		logger.Info("webhook duplicate", "event", ev.Name, "event_id", ev.ID)
		observe(ev.Kind.String(), "duplicate")
		reply(w, "duplicate")
		return
	case Stale:
		// 200 all the same: Mono would only send it again.
		logger.Info("webhook older than the account's newest event: not applied", "event", ev.Name,
			"account", ev.AccountID, "event_id", ev.ID, "at", ev.When())
		if h.cfg.OnStale != nil {
			h.cfg.OnStale(ev)
		}
		observe(ev.Kind.String(), "stale")
		reply(w, "stale")
		return
	}
	logger.Info("webhook", "event", ev.Name, "account", ev.AccountID, "event_id", ev.ID, "at", ev.When(),
		"data_status", ev.DataStatus, "sync_status", ev.SyncStatus, "data_request_id", ev.DataRequestID)
	if h.cfg.OnEvent != nil {
		h.cfg.OnEvent(ev)
	}
	observe(ev.Kind.String(), "applied")
	reply(w, "ok")
}

func reply(w http.ResponseWriter, status string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"status\":%q}\n", status)
}

// wire is a webhook body. Mono documents snake_case meta keys on
// account_updated but camelCase elsewhere, so both spellings are read.
// Fields that only inform (meta, timestamp, job status, app, business) are
// read leniently: an odd type there reads as empty rather than refusing the
// event, which Mono would retry for ever.
type wire struct {
	Event     *string         `json:"event"`
	EventID   json.RawMessage `json:"event_id"`
	Timestamp looseText       `json:"timestamp"`
	Data      *struct {
		EventID       json.RawMessage `json:"event_id"`
		Account       json.RawMessage `json:"account"`
		Status        looseText       `json:"status"` // jobs.update
		ID            looseText       `json:"id"`     // jobs.update: the job
		Name          looseText       `json:"name"`   // jobs.update: what it fetches
		App           looseText       `json:"app"`
		Business      looseText       `json:"business"`
		DataRequestID looseText       `json:"data_request_id"`
		SessionID     looseText       `json:"session_id"`
		Meta          wireMeta        `json:"meta"`
	} `json:"data"`
}

// wireMeta is data.meta; anything but an object reads as empty.
type wireMeta struct {
	DataStatus         looseText `json:"data_status"`
	DataStatusCamel    looseText `json:"dataStatus"`
	SyncStatus         looseText `json:"sync_status"`
	SyncStatusCamel    looseText `json:"syncStatus"`
	JobID              looseText `json:"job_id"`
	JobIDCamel         looseText `json:"jobId"`
	DataRequestID      looseText `json:"data_request_id"`
	DataRequestIDCamel looseText `json:"dataRequestId"`
	SessionID          looseText `json:"session_id"`
	SessionIDCamel     looseText `json:"sessionId"`
}

func (m *wireMeta) UnmarshalJSON(b []byte) error {
	*m = wireMeta{}
	type plain wireMeta // no UnmarshalJSON: no recursion
	if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '{' {
		return nil
	}
	return json.Unmarshal(b, (*plain)(m))
}

// looseText is a JSON string, or a number or bool as written; null,
// objects and arrays read as "".
type looseText string

func (t *looseText) UnmarshalJSON(b []byte) error {
	*t = ""
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = looseText(s)
	case b[0] == 'n', b[0] == '{', b[0] == '[':
	default:
		*t = looseText(b)
	}
	return nil
}

// maxFieldLen bounds the informative strings an event carries into the
// Store (support ids, statuses), like maxIDLen bounds ids.
const maxFieldLen = 256

// field is an informative field as people see it: cleaned, trimmed, at most
// maxFieldLen bytes (cut on a rune boundary).
func field(vals ...looseText) string {
	for _, v := range vals {
		s := cleanID(string(v))
		if s == "" {
			continue
		}
		if len(s) > maxFieldLen {
			cut := maxFieldLen
			for cut > 0 && !utf8.RuneStart(s[cut]) {
				cut--
			}
			s = s[:cut]
		}
		return s
	}
	return ""
}

// parseTimestamp reads Mono's top-level timestamp: RFC 3339 (ISO 8601 with
// a zone), or epoch seconds or milliseconds. Anything else is zero: the
// event is then ordered by when it was received.
func parseTimestamp(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC()
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		if n >= 1e12 { // milliseconds since the epoch
			return time.UnixMilli(n).UTC()
		}
		return time.Unix(n, 0).UTC()
	}
	return time.Time{}
}

// Parse decodes a webhook body into an Event (Received left zero). Known
// events must name an account; unknown ones only need an event name.
func Parse(body []byte) (Event, error) {
	var w wire
	if err := json.Unmarshal(body, &w); err != nil {
		return Event{}, fmt.Errorf("not a JSON webhook: %w", err)
	}
	if w.Event == nil || strings.TrimSpace(*w.Event) == "" {
		return Event{}, errors.New(`missing "event"`)
	}
	ev := Event{Name: mono.CleanText(strings.TrimSpace(*w.Event))}
	ev.Kind = kindOf(ev.Name)

	// event_id moved around between payload versions: top level or in data.
	rawID := w.EventID
	if len(rawID) == 0 && w.Data != nil {
		rawID = w.Data.EventID
	}
	sent, err := idText(rawID)
	if err != nil {
		return Event{}, fmt.Errorf("event_id: %w", err)
	}
	// People see the cleaned id; dedupe goes by the id as sent.
	if ev.ID = cleanID(sent); ev.ID != sent {
		ev.rawID = sent
	}
	ev.At = parseTimestamp(string(w.Timestamp))
	if ev.Kind == Unknown {
		return ev, nil
	}

	if w.Data == nil {
		return Event{}, errors.New(`missing "data"`)
	}
	ev.AccountID, err = accountID(w.Data.Account)
	if err != nil {
		return Event{}, err
	}
	meta, d := w.Data.Meta, w.Data
	ev.DataStatus = mono.DataStatus(field(meta.DataStatus, meta.DataStatusCamel)).Normal()
	ev.SyncStatus = strings.ToUpper(field(meta.SyncStatus, meta.SyncStatusCamel))
	ev.DataRequestID = field(meta.DataRequestID, meta.DataRequestIDCamel, d.DataRequestID)
	ev.SessionID = field(meta.SessionID, meta.SessionIDCamel, d.SessionID)
	ev.App, ev.Business = field(d.App), field(d.Business)
	ev.JobID = field(meta.JobID, meta.JobIDCamel)
	if ev.Kind == JobUpdate {
		ev.JobStatus = strings.ToLower(field(d.Status))
		ev.JobID = field(d.ID, meta.JobID, meta.JobIDCamel)
		ev.JobName = field(d.Name)
	}
	return ev, nil
}

// accountID reads data.account as {"_id": …} (or {"id": …}) or a bare id.
func accountID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New(`missing "data.account"`)
	}
	var obj struct {
		UnderscoreID json.RawMessage `json:"_id"`
		ID           json.RawMessage `json:"id"`
	}
	var id string
	var err error
	if json.Unmarshal(raw, &obj) == nil {
		// Mono's unlinked sample sends "id", its field table "_id": either,
		// "_id" first when both are there and it is not empty.
		if id, err = idText(obj.UnderscoreID); err == nil && cleanID(id) == "" {
			id, err = idText(obj.ID)
		}
	} else {
		id, err = idText(raw)
	}
	if err != nil {
		return "", fmt.Errorf("data.account._id: %w", err)
	}
	if id = cleanID(id); id == "" {
		return "", errors.New(`missing "data.account._id"`)
	}
	return id, nil
}

// idText accepts a JSON string or number as an id and returns it exactly as
// sent (a number as written), bounded: callers clean it (cleanID) for
// anything a person reads.
func idText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", errors.New("not a string")
		}
		s = n.String()
	}
	if len(s) > maxIDLen {
		return "", fmt.Errorf("longer than %d bytes", maxIDLen)
	}
	return s, nil
}

// cleanID is an id as people see it and the marks file keeps it: no escape
// or control characters, no spaces around it.
func cleanID(s string) string { return strings.TrimSpace(mono.CleanText(s)) }
