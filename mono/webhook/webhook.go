// Package webhook receives Mono's webhooks: it checks the shared secret in
// constant time, bounds and validates the body, dedupes on event_id, persists
// "needs reauth" marks in a small Store so they survive restarts, and hands
// each new event to the app. Send and Payload let the sandbox and tests play
// Mono's side.
//
// Events handled (payloads use `_id` and camelCase, see mono-api.md):
// mono.events.reauthorisation_required marks data.account._id as needing
// reauth; mono.events.account_reauthorized (with a z) clears the mark;
// mono.events.account_updated carries data.meta.data_status and, when the bank
// wants MFA again, meta.sync_status = REAUTHORISATION_REQUIRED (which marks);
// mono.events.sync_failed is passed on. Other events are answered 200 and
// ignored, so Mono does not keep retrying them.
package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

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
	Unknown        EventKind = iota // any event name this package does not act on
	ReauthRequired                  // mono.events.reauthorisation_required
	Reauthorized                    // mono.events.account_reauthorized
	AccountUpdated                  // mono.events.account_updated
	SyncFailed                      // mono.events.sync_failed
)

var kindNames = map[EventKind]string{
	ReauthRequired: "mono.events.reauthorisation_required",
	Reauthorized:   "mono.events.account_reauthorized",
	AccountUpdated: "mono.events.account_updated",
	SyncFailed:     "mono.events.sync_failed",
}

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
	SyncStatus string          // account_updated's meta.sync_status, if any
	Received   time.Time

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

// NeedsReauth reports whether the event says the account needs reauth.
func (e Event) NeedsReauth() bool {
	return e.Kind == ReauthRequired ||
		(e.Kind == AccountUpdated && strings.EqualFold(e.SyncStatus, mono.SyncReauthRequired))
}

// Config configures NewHandler.
type Config struct {
	// Secret is MONO_WEBHOOK_SECRET. Never logged. When empty every request
	// is refused: an unauthenticated receiver would let anyone mark accounts.
	Secret string
	// Store persists marks and seen event ids. Nil means an in-memory store
	// (nothing survives a restart).
	Store *Store
	// OnEvent receives each new (non-duplicate, known) event after the Store
	// has recorded it. It runs on the request goroutine before the reply, and
	// may run concurrently for concurrent requests: it must return quickly
	// (e.g. a non-blocking channel send, or `go program.Send(...)`), because
	// Mono expects a fast 2xx.
	OnEvent func(Event)
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
	refuse := func(status int, reason, msg, detail string) {
		h.refusals.refused(reason, r.RemoteAddr, detail)
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
		reply(w, "ignored")
		return
	}
	fresh, err := h.cfg.Store.Apply(ev)
	if err != nil {
		logger.Error("webhook not recorded", "event", ev.Name, "account", ev.AccountID, "err", err)
		http.Error(w, "cannot record event", http.StatusInternalServerError)
		return
	}
	if !fresh {
		logger.Info("webhook duplicate", "event", ev.Name, "event_id", ev.ID)
		reply(w, "duplicate")
		return
	}
	logger.Info("webhook", "event", ev.Name, "account", ev.AccountID, "event_id", ev.ID, "data_status", ev.DataStatus)
	if h.cfg.OnEvent != nil {
		h.cfg.OnEvent(ev)
	}
	reply(w, "ok")
}

func reply(w http.ResponseWriter, status string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"status\":%q}\n", status)
}

// wire is a webhook body. Mono documents snake_case meta keys on
// account_updated but camelCase elsewhere, so both spellings are read.
type wire struct {
	Event   *string         `json:"event"`
	EventID json.RawMessage `json:"event_id"`
	Data    *struct {
		EventID json.RawMessage `json:"event_id"`
		Account json.RawMessage `json:"account"`
		Meta    struct {
			DataStatus      string `json:"data_status"`
			DataStatusCamel string `json:"dataStatus"`
			SyncStatus      string `json:"sync_status"`
			SyncStatusCamel string `json:"syncStatus"`
		} `json:"meta"`
	} `json:"data"`
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
	meta := w.Data.Meta
	ev.DataStatus = mono.DataStatus(mono.CleanText(firstNonEmpty(meta.DataStatus, meta.DataStatusCamel))).Normal()
	ev.SyncStatus = strings.ToUpper(strings.TrimSpace(mono.CleanText(firstNonEmpty(meta.SyncStatus, meta.SyncStatusCamel))))
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
		if len(obj.UnderscoreID) > 0 {
			id, err = idText(obj.UnderscoreID)
		} else {
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

func firstNonEmpty(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return a
	}
	return b
}
