package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reauth/reauth/mono"
)

// DefaultSeen is how many recent event ids the Store remembers for dedupe.
// Mono retries a delivery for hours, not for ten thousand events.
const DefaultSeen = 10_000

// DefaultCleared is how many cleared accounts the Store remembers the
// clearing event of (to order later events against); past it the oldest
// clearings are forgotten. Marked and unlinked accounts are never dropped.
const DefaultCleared = 50_000

// MarkKind is what Mono said about an account.
type MarkKind string

const (
	// MarkReauthRequired: the bank needs the customer to re-authorise
	// (reauthorisation_required; account_updated with sync_status
	// REAUTHORISATION_REQUIRED).
	MarkReauthRequired MarkKind = "reauth_required"
	// MarkSyncFailed: Mono's sync of the account failed (account_updated
	// with sync_status FAILED; a failed jobs.update). Often a reauth need,
	// but it can be the bank: tell the agent "sync failed".
	MarkSyncFailed MarkKind = "sync_failed"
	// MarkUnlinked: Mono says the account was unlinked. It cannot be
	// re-authorised; the customer must link it again.
	MarkUnlinked MarkKind = "unlinked"
	// Cleared is not a mark: it is the Kind of what a clearing event (or
	// Store.Clear) leaves, as Store.Cleared and Store.Latest return it.
	Cleared MarkKind = "cleared"
)

// rank orders what events leave on an account, for events with the same
// Mono timestamp: the greater wins, whatever order they arrive in (Mono
// retries in any order). An unlink beats a mark, reauth required beats sync
// failed, a mark beats a clear: when Mono said two things at once, the agent
// sees the one that needs action. (Receipt times tie in arrival order.)
func rank(k MarkKind) int {
	switch k {
	case Cleared:
		return 1
	case MarkSyncFailed:
		return 2
	case MarkReauthRequired:
		return 3
	case MarkUnlinked:
		return 4
	}
	return 0
}

// Mark is what Mono last said about an account that needs attention, and
// the evidence: which event, when, with which statuses. The account screen
// and `reauth accounts --needs-reauth` read it through Store.Mark. The same
// type, with Kind Cleared, holds the newest clearing of an account
// (Store.Cleared, Store.Latest).
type Mark struct {
	Kind    MarkKind `json:"kind,omitempty"` // "" in stores written before kinds: read as MarkReauthRequired
	Event   string   `json:"source"`         // Mono's event name (mono.events.…), or what the app passed as why
	EventID string   `json:"event_id,omitempty"`
	// At is when Mono said it: the event's timestamp, or when it was
	// received if the payload had none (MonoTime false). Events for the
	// account are ordered against it.
	At       time.Time `json:"at,omitzero"`
	MonoTime bool      `json:"mono_time,omitempty"`
	// Since is when this spell of marks began: At of the first marking
	// event since the account was last clear. Zero for a clearing.
	Since         time.Time       `json:"since,omitzero"`
	SyncStatus    string          `json:"sync_status,omitempty"` // account_updated's meta.sync_status
	DataStatus    mono.DataStatus `json:"data_status,omitempty"` // its meta.data_status (cached data: not evidence of health)
	JobStatus     string          `json:"job_status,omitempty"`  // jobs.update's data.status
	JobName       string          `json:"job_name,omitempty"`    // jobs.update's data.name (e.g. transactions)
	DataRequestID string          `json:"data_request_id,omitempty"`
	SessionID     string          `json:"session_id,omitempty"`
}

// Unlinked reports whether Mono said the account was unlinked.
func (m Mark) Unlinked() bool { return m.Kind == MarkUnlinked }

// NeedsReauth reports whether the mark asks for a reauth: reauth required
// or sync failed (not unlinked: that cannot be re-authorised).
func (m Mark) NeedsReauth() bool { return m.Kind == MarkReauthRequired || m.Kind == MarkSyncFailed }

// FromMono reports whether the mark came from a Mono webhook rather than
// from the app (Store.Flag).
func (m Mark) FromMono() bool { return strings.HasPrefix(m.Event, "mono.") }

// Evidence is one line saying who said it, when and what, e.g.
// "Mono webhook account_updated at 14:02: sync_status REAUTHORISATION_REQUIRED (data_request_id DRQ5XK2M9PAB)".
// "received" replaces "at" when Mono's payload had no timestamp. Times are
// in now's location, with the date unless At falls on now's day.
func (m Mark) Evidence(now time.Time) string {
	var b strings.Builder
	if m.FromMono() {
		b.WriteString("Mono webhook ")
		b.WriteString(shortEvent(m.Event))
	} else {
		b.WriteString(m.Event)
	}
	if !m.At.IsZero() {
		if m.FromMono() && !m.MonoTime {
			b.WriteString(" received ")
		} else {
			b.WriteString(" at ")
		}
		b.WriteString(clock(m.At, now))
	}
	switch {
	case m.SyncStatus != "":
		b.WriteString(": sync_status " + m.SyncStatus)
	case m.JobStatus != "" && m.JobName != "":
		b.WriteString(": job " + m.JobName + " " + m.JobStatus)
	case m.JobStatus != "":
		b.WriteString(": job " + m.JobStatus)
	}
	if m.DataRequestID != "" {
		b.WriteString(" (data_request_id " + m.DataRequestID + ")")
	}
	return b.String()
}

// Advice is one sentence for the agent about what the mark means.
func (m Mark) Advice() string {
	switch m.Kind {
	case MarkUnlinked:
		return "Mono says this account was unlinked: it cannot be re-authorised; the customer must link it again."
	case MarkSyncFailed:
		return "Mono's sync of this account failed: it may need re-authorising, or the bank may be having trouble."
	case MarkReauthRequired:
		return "Mono says the bank needs the customer to re-authorise this account."
	case Cleared:
		return "Mono's newest word is that this account is connected."
	}
	return ""
}

// shortEvent is an event name without Mono's "mono.events." / "mono." prefix.
func shortEvent(name string) string {
	if s, ok := strings.CutPrefix(name, "mono.events."); ok {
		return s
	}
	if s, ok := strings.CutPrefix(name, "mono."); ok {
		return s
	}
	return name
}

// clock shows t in now's location: "14:02" on now's day, "2 Mar 14:02"
// another day this year, "2 Mar 2025 14:02" otherwise.
func clock(t, now time.Time) string {
	t = t.In(now.Location())
	switch {
	case t.Year() == now.Year() && t.YearDay() == now.YearDay():
		return t.Format("15:04")
	case t.Year() == now.Year():
		return t.Format("2 Jan 15:04")
	}
	return t.Format("2 Jan 2006 15:04")
}

// Outcome is what Store.Record did with an event.
type Outcome int

const (
	// Applied: a new event, applied to its account (if it says anything
	// about it) and its id remembered.
	Applied Outcome = iota
	// Duplicate: its event id was seen before. Nothing changed.
	Duplicate
	// Stale: a new event older than the newest one already applied to its
	// account (at the same time, one of lower rank: see rank). Its id is
	// remembered, nothing else changes: a late retry never undoes a newer
	// event.
	Stale
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Duplicate:
		return "duplicate"
	case Stale:
		return "stale"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// state is what the Store knows about accounts. Its maps are replaced, never
// changed in place (copy on write), so a failed save leaves the old ones.
// An account is in at most one of them.
type state struct {
	marks    map[string]Mark // needing reauth (MarkReauthRequired, MarkSyncFailed)
	unlinked map[string]Mark // MarkUnlinked
	cleared  map[string]Mark // Cleared: the newest clearing of accounts in neither
}

// entry is what was last applied to id, whatever it left (a mark, an
// unlinking or a clearing, with Kind set), and whether anything was.
func (st state) entry(id string) (Mark, bool) {
	if m, ok := st.marks[id]; ok {
		return m, true
	}
	if m, ok := st.unlinked[id]; ok {
		m.Kind = MarkUnlinked
		return m, true
	}
	if c, ok := st.cleared[id]; ok {
		c.Kind = Cleared
		return c, true
	}
	return Mark{}, false
}

// stale reports whether something at `at` that leaves kind ("" for
// nothing) must not be applied to id (see staleAgainst).
func (st state) stale(id string, at time.Time, monoTime bool, kind MarkKind) bool {
	cur, ok := st.entry(id)
	return ok && staleAgainst(cur, at, monoTime, kind)
}

// set puts m (of any kind) as id's entry, in place: for a state the caller
// owns (copy it first).
func (st state) set(id string, m Mark) {
	delete(st.marks, id)
	delete(st.unlinked, id)
	delete(st.cleared, id)
	switch m.Kind {
	case Cleared:
		st.cleared[id] = m
	case MarkUnlinked:
		st.unlinked[id] = m
	default:
		st.marks[id] = m
	}
}

// clone is a copy of st that set may change.
func (st state) clone() state {
	return state{marks: maps.Clone(st.marks), unlinked: maps.Clone(st.unlinked), cleared: maps.Clone(st.cleared)}
}

// diff is what Reload reports going from old to st: marked, accounts that
// need reauth now and did not, or whose mark changed; cleared, accounts
// that needed reauth and no longer do, and accounts newly unlinked.
func diff(old, st state) (marked, cleared []string) {
	for id, m := range st.marks {
		if was, had := old.marks[id]; !had || was != m {
			marked = append(marked, id)
		}
	}
	for id := range old.marks {
		if _, has := st.marks[id]; !has {
			cleared = append(cleared, id)
		}
	}
	for id := range st.unlinked {
		_, was := old.unlinked[id]
		if _, counted := old.marks[id]; !was && !counted {
			cleared = append(cleared, id)
		}
	}
	slices.Sort(marked)
	slices.Sort(cleared)
	return marked, cleared
}

// Store is the small persisted state behind the webhook receiver: what Mono
// last said about each account (marked as needing reauth, unlinked, or the
// newest clearing), and recently seen event ids. Safe for concurrent use.
//
// It lives in one of three places. In memory (NewMemoryStore). In a file
// (OpenStore): every change is written as a whole JSON file via temp file +
// fsync + rename, so a crash leaves either the old or the new state, never
// a torn one; a single process should own (write) a store file, others may
// follow it with Reload. Or in a database (NewStore with a Backend): any
// number of receivers and apps write it at once; the Store keeps an
// in-memory view for reads, updated by its own writes and by Reload.
type Store struct {
	mu         sync.Mutex
	path       string // "" keeps the store in memory only (or in backend)
	backend    Backend
	version    int64            // backend: the change feed version the view has read up to
	versions   map[string]int64 // backend: the version of each account's entry in the view
	reloadMu   sync.Mutex       // backend: one Reload at a time
	maxSeen    int
	maxCleared int
	st         state
	seenOrder  []string // oldest first
	seen       map[string]struct{}
	// file is the store file as this Store last read or wrote it, so Reload
	// can tell when another process has replaced it. nil: no file yet.
	file os.FileInfo
}

// storeVersion 2 added kinds and evidence to marks, "unlinked" and
// "cleared". A version 1 file reads as marks of MarkReauthRequired.
const storeVersion = 2

type storeFile struct {
	Version     int             `json:"version"`
	NeedsReauth map[string]Mark `json:"needs_reauth"`
	Unlinked    map[string]Mark `json:"unlinked,omitempty"`
	Cleared     map[string]Mark `json:"cleared,omitempty"`
	// SeenEvents are event ids as sent, oldest first: an id cleaning
	// would change is kept as NUL + hex (see dedupeKey).
	SeenEvents []string `json:"seen_events"`
}

func newStore(path string) *Store {
	return &Store{path: path, maxSeen: DefaultSeen, maxCleared: DefaultCleared,
		st:   state{marks: map[string]Mark{}, unlinked: map[string]Mark{}, cleared: map[string]Mark{}},
		seen: map[string]struct{}{}}
}

// DefaultStorePath is $XDG_STATE_HOME/reauth/webhooks.json, or
// ~/.local/state/reauth/webhooks.json.
func DefaultStorePath() (string, error) {
	if dir := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "reauth", "webhooks.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("webhook: no default store path: %w", err)
	}
	return filepath.Join(home, ".local", "state", "reauth", "webhooks.json"), nil
}

// NewMemoryStore is a store that keeps its marks in memory only (the
// sandbox's: its marks must never reach a live store's file).
func NewMemoryStore() *Store { return newStore("") }

// OpenStore loads the store at path, or starts an empty one if the file does
// not exist yet (its directory is created 0700). A file that does not parse is
// an error rather than silently dropping every mark. Temp files a save left
// behind when its process died mid-write (see removeStaleTemps) are deleted.
func OpenStore(path string) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("webhook: store path is empty")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	removeStaleTemps(path, time.Now())
	s := newStore(path)
	if _, _, err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the store file again if another process has replaced it
// since this Store last read or wrote it (a `reauth webhooks` receiver
// beside the app), and reports what changed. marked: accounts that need
// reauth now and did not, or whose mark changed (kind or evidence). cleared:
// accounts that needed reauth and no longer do, and accounts newly
// unlinked; read Mark to tell them apart (an unlinked account has a Mark
// with Unlinked()). A missing or unchanged file changes nothing; a file that
// does not parse is an error and changes nothing either.
//
// A Store on a Backend asks it for the entries changed since the version
// its view holds (one indexed query) and reports them the same way; its own
// writes are already in its view and are not reported.
func (s *Store) Reload() (marked, cleared []string, err error) {
	if s.backend != nil {
		ctx, cancel := context.WithTimeout(context.Background(), backendTimeout)
		defer cancel()
		return s.reloadBackend(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reload()
}

// reload is Reload with s.mu held.
func (s *Store) reload() (marked, cleared []string, err error) {
	fi, err := os.Stat(s.path)
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("webhook: %w", err)
	}
	if sameFile(s.file, fi) {
		return nil, nil, nil
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook: %w", err)
	}
	var f storeFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, nil, fmt.Errorf("webhook: store %s is damaged: %w", s.path, err)
	}
	st := loadState(f)
	marked, cleared = diff(s.st, st)
	if n := len(f.SeenEvents); n > s.maxSeen {
		f.SeenEvents = f.SeenEvents[n-s.maxSeen:]
	}
	seen := make(map[string]struct{}, len(f.SeenEvents))
	for _, id := range f.SeenEvents {
		seen[id] = struct{}{}
	}
	s.st, s.seenOrder, s.seen, s.file = st, f.SeenEvents, seen, fi
	return marked, cleared, nil
}

// loadState is a store file's accounts, normalised: marks of a version 1
// file (no kind, no at) read as MarkReauthRequired at their since; a mark
// of kind unlinked belongs with the unlinked; an account found in two maps
// (a hand-edited file) keeps only its newest entry.
func loadState(f storeFile) state {
	st := state{marks: map[string]Mark{}, unlinked: map[string]Mark{}, cleared: map[string]Mark{}}
	put := func(id string, m Mark) {
		if m.Kind == "" {
			m.Kind = MarkReauthRequired
		}
		if m.At.IsZero() {
			m.At = m.Since
		}
		if m.Since.IsZero() {
			m.Since = m.At
		}
		if st.stale(id, m.At, m.MonoTime, m.Kind) {
			return
		}
		delete(st.marks, id)
		delete(st.unlinked, id)
		if m.Kind == MarkUnlinked {
			st.unlinked[id] = m
		} else {
			st.marks[id] = m
		}
	}
	for id, m := range f.NeedsReauth {
		put(id, m)
	}
	for id, m := range f.Unlinked {
		m.Kind = MarkUnlinked
		put(id, m)
	}
	for id, c := range f.Cleared {
		c.Kind = Cleared
		if !st.stale(id, c.At, c.MonoTime, Cleared) {
			delete(st.marks, id)
			delete(st.unlinked, id)
			st.cleared[id] = c
		}
	}
	return st
}

// sameFile reports whether b is still the file a was: every save renames a
// new file into place, so a new inode, size or time means a new version.
func sameFile(a, b os.FileInfo) bool {
	return a != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// Apply records ev (see Record). fresh is false for a duplicate (and on an
// error); a stale event is fresh: new, though it changed nothing.
func (s *Store) Apply(ev Event) (fresh bool, err error) {
	out, err := s.Record(ev)
	if err != nil {
		return false, err
	}
	return out != Duplicate, nil
}

// Record records ev. An event whose id was already seen is a Duplicate and
// changes nothing. Ids are compared exactly as sent, before cleaning: two ids
// that differ only in characters cleaning removes are two events (the Mark
// keeps the cleaned ev.ID, for people).
//
// A new event is ordered by ev.When() (Mono's timestamp, else receipt; an
// ev.Received left zero is taken as now). If it is older than the newest
// event already applied to its account, or has the same Mono timestamp and
// a lower rank (an unlink beats a mark, a mark beats a clear), it is Stale:
// its id is remembered and nothing else changes. Otherwise it is Applied:
// it marks
// the account (Event.Marks: evidence replaced by the event's, Since kept
// while the account stays marked), clears it (Event.Clears: the mark goes,
// the clearing is kept for ordering), unlinks it, or, saying nothing about
// the account, changes nothing but the seen ids. The new state is persisted
// before Record returns; if persisting fails nothing changes in memory
// either, so Mono's retry is processed afresh.
//
// On a Backend the same happens in the database, in one transaction (see
// Backend): of any number of Stores given one event id, one applies it.
func (s *Store) Record(ev Event) (Outcome, error) {
	if s.backend != nil {
		p, err := ev.proposal()
		if err != nil || (p.Key == "" && p.AccountID == "") {
			return Applied, err // nothing to dedupe on, nothing to apply it to
		}
		res, err := s.applyBackend(p)
		return res.Outcome, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := ev.dedupeKey()
	if _, dup := s.seen[key]; key != "" && dup {
		return Duplicate, nil
	}
	p, err := ev.proposal()
	if err != nil {
		return Applied, err
	}
	st, changed, out := s.st, false, Applied
	if p.AccountID != "" {
		cur, has := st.entry(p.AccountID)
		switch entry, dec := Decide(cur, has, p.Next); dec {
		case DecideStale:
			out = Stale
		case DecideWrite:
			st, changed = s.put(p.AccountID, entry), true
		}
	}
	order, evicted := s.seenOrder, []string(nil)
	if key != "" {
		// Clip forces a fresh array, so a failed commit leaves s.seenOrder intact.
		order, changed = append(slices.Clip(order), key), true
		if over := len(order) - s.maxSeen; over > 0 {
			evicted, order = order[:over], order[over:]
		}
	}
	if !changed {
		return out, nil
	}
	if err := s.commit(st, order); err != nil {
		return Applied, err
	}
	if key != "" {
		s.seen[key] = struct{}{}
		for _, old := range evicted {
			delete(s.seen, old)
		}
	}
	return out, nil
}

// put is s.st with m (of any kind) as id's entry (copied maps). At most
// maxCleared clearings are kept (the oldest go). Called with s.mu held.
func (s *Store) put(id string, m Mark) state {
	st := s.st
	st.marks, st.unlinked, st.cleared = without(st.marks, id), without(st.unlinked, id), without(st.cleared, id)
	switch m.Kind {
	case MarkUnlinked:
		st.unlinked = with(st.unlinked, id, m)
	case Cleared:
		st.cleared = with(st.cleared, id, m)
		if over := len(st.cleared) - s.maxCleared; over > 0 {
			ids := slices.Collect(maps.Keys(st.cleared))
			slices.SortFunc(ids, func(a, b string) int {
				if c := st.cleared[a].At.Compare(st.cleared[b].At); c != 0 {
					return c
				}
				return strings.Compare(a, b)
			})
			for _, old := range ids[:over] {
				delete(st.cleared, old) // st.cleared is already a copy
			}
		}
	default:
		st.marks = with(st.marks, id, m)
	}
	return st
}

// proposal is what ev would do to its account (see Record). An ev.Received
// left zero is taken as now.
func (ev Event) proposal() (Proposal, error) {
	kind := ev.outcome()
	if ev.AccountID == "" && kind != "" {
		return Proposal{}, fmt.Errorf("webhook: %s event without an account id", ev.Kind)
	}
	if ev.Received.IsZero() {
		ev.Received = time.Now()
	}
	at, monoTime := ev.when()
	at = at.UTC() // no monotonic reading, one location: kept times compare with ==
	p := Proposal{Key: ev.dedupeKey(), AccountID: ev.AccountID, Next: Mark{At: at, MonoTime: monoTime}}
	if kind != "" {
		p.Next = ev.evidence(kind, at, monoTime)
	}
	return p, nil
}

// evidence is the Mark ev leaves: kind, at when.
func (ev Event) evidence(kind MarkKind, at time.Time, monoTime bool) Mark {
	return Mark{Kind: kind, Event: ev.Kind.String(), EventID: ev.ID, At: at, MonoTime: monoTime,
		SyncStatus: ev.SyncStatus, DataStatus: ev.DataStatus, JobStatus: ev.JobStatus, JobName: ev.JobName,
		DataRequestID: ev.DataRequestID, SessionID: ev.SessionID}
}

// without is m without id: m itself when id is not in it, else a copy.
func without[V any](m map[string]V, id string) map[string]V {
	if _, ok := m[id]; !ok {
		return m
	}
	m = maps.Clone(m)
	delete(m, id)
	return m
}

// with is a copy of m with id set to v.
func with[V any](m map[string]V, id string, v V) map[string]V {
	m = maps.Clone(m)
	if m == nil {
		m = map[string]V{}
	}
	m[id] = v
	return m
}

// Flag marks accountID from something the app saw at `at` (e.g. a sync
// that answered REAUTHORISATION_REQUIRED); why says what, for the evidence
// (Mark.Event). kind is MarkReauthRequired, MarkSyncFailed or MarkUnlinked.
// Like a webhook, it is applied only if `at` is not older than the newest
// event already applied to the account; applied says whether it was.
func (s *Store) Flag(accountID string, kind MarkKind, at time.Time, why string) (applied bool, err error) {
	if kind != MarkReauthRequired && kind != MarkSyncFailed && kind != MarkUnlinked {
		return false, fmt.Errorf("webhook: cannot flag an account as %q", kind)
	}
	return s.applyLocal(accountID, kind, at, why)
}

// Clear clears accountID's mark (or unlinking) on a success the app
// verified at `at` (e.g. a read showing a sync since the attempt began,
// when no account_reauthorized came); why says what, and is kept as the
// clearing's Event. Like a webhook, it is applied only if `at` is not older
// than the newest event already applied to the account (a reauth_required
// Mono sent after `at` stands); applied says whether it was. It is kept for
// ordering even when there was no mark: a late retry of an older
// reauth_required will not mark the account again.
func (s *Store) Clear(accountID string, at time.Time, why string) (applied bool, err error) {
	return s.applyLocal(accountID, Cleared, at, why)
}

func (s *Store) applyLocal(accountID string, kind MarkKind, at time.Time, why string) (bool, error) {
	accountID = cleanID(accountID)
	if accountID == "" {
		return false, fmt.Errorf("webhook: no account id")
	}
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC()
	why = field(looseText(why))
	next := Mark{Kind: kind, Event: why, At: at}
	if s.backend != nil {
		res, err := s.applyBackend(Proposal{AccountID: accountID, Next: next})
		return err == nil && res.Outcome != Stale, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, has := s.st.entry(accountID)
	entry, dec := Decide(cur, has, next)
	switch dec {
	case DecideStale:
		return false, nil
	case DecideSame:
		return true, nil
	}
	if err := s.commit(s.put(accountID, entry), s.seenOrder); err != nil {
		return false, err
	}
	return true, nil
}

// Mark is what Mono last said about accountID when it needs attention:
// needing reauth (Kind MarkReauthRequired or MarkSyncFailed) or unlinked
// (MarkUnlinked), with the evidence. ok is false for an account with
// neither (never marked, or cleared since).
func (s *Store) Mark(accountID string) (m Mark, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.st.marks[accountID]; ok {
		return m, true
	}
	m, ok = s.st.unlinked[accountID]
	return m, ok
}

// Cleared is the newest clearing of accountID (Kind Cleared: the event or
// app call that cleared it, or found nothing to clear), while it stays clear.
func (s *Store) Cleared(accountID string) (Mark, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.st.cleared[accountID]
	return c, ok
}

// Latest is the newest thing applied to accountID, whatever it left: its
// mark, its unlinking or its clearing (Kind Cleared), with the evidence.
// FromMono tells a webhook from the app's Flag or Clear. ok is false for an
// account nothing was applied to (or whose clearing was forgotten, see
// DefaultCleared).
func (s *Store) Latest(accountID string) (Mark, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range []map[string]Mark{s.st.marks, s.st.unlinked, s.st.cleared} {
		if got, ok := m[accountID]; ok {
			return got, true
		}
	}
	return Mark{}, false
}

// NeedsReauth reports whether accountID is marked as needing reauth
// (reauth required or sync failed; not unlinked).
func (s *Store) NeedsReauth(accountID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.st.marks[accountID]
	return ok
}

// IsUnlinked reports whether Mono said accountID was unlinked (and nothing
// newer has cleared or marked it).
func (s *Store) IsUnlinked(accountID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.st.unlinked[accountID]
	return ok
}

// Marked returns a copy of every account needing reauth, by account id.
func (s *Store) Marked() map[string]Mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.st.marks)
}

// Unlinked returns a copy of every account Mono said was unlinked.
func (s *Store) Unlinked() map[string]Mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.st.unlinked)
}

// Seen reports whether eventID, exactly as sent, has been recorded (among the
// last DefaultSeen).
//
// On a Backend it asks the database (ids are kept DefaultSeenFor there); an
// error reads as not seen.
func (s *Store) Seen(eventID string) bool {
	if s.backend != nil {
		ctx, cancel := context.WithTimeout(context.Background(), backendTimeout)
		defer cancel()
		seen, err := s.backend.Seen(ctx, dedupeKey(eventID))
		return err == nil && seen
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.seen[dedupeKey(eventID)]
	return ok
}

// commit persists the new state, then installs it. Called with s.mu held.
func (s *Store) commit(st state, order []string) error {
	if s.path != "" {
		data, err := json.Marshal(storeFile{Version: storeVersion, NeedsReauth: st.marks, Unlinked: st.unlinked,
			Cleared: st.cleared, SeenEvents: order})
		if err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		if err := writeFileAtomic(s.path, data); err != nil {
			return fmt.Errorf("webhook: save store: %w", err)
		}
		// What this Store wrote is not news to its own Reload.
		if fi, err := os.Stat(s.path); err == nil {
			s.file = fi
		}
	}
	s.st, s.seenOrder = st, order
	return nil
}

// staleTempAge is how old a save's temp file must be before OpenStore takes
// it for the leftover of a writer that died mid-save (kill -9, power loss).
// A save takes milliseconds; a younger temp file may be another process's
// save in flight (a `reauth webhooks` receiver beside the app), and deleting
// it would fail that save.
const staleTempAge = time.Minute

// tempPattern is the os.CreateTemp pattern of path's temp files: the random
// part CreateTemp puts in place of "*" is decimal digits.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".*.tmp" }

// isOwnTemp reports whether name is one of the temp files tempPattern makes
// for the store file named base, and nothing else that may share the
// directory (the audit log, the app's log, an administrator's backup).
func isOwnTemp(base, name string) bool {
	mid, ok := strings.CutPrefix(name, "."+base+".")
	if !ok {
		return false
	}
	mid, ok = strings.CutSuffix(mid, ".tmp")
	if !ok || mid == "" || len(mid) > 20 {
		return false
	}
	for _, c := range mid {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// removeStaleTemps deletes the temp files that saves of path left behind
// when their process was killed between creating the temp file and renaming
// it (each is a whole copy of the store; without this they pile up forever).
// Only regular files of the store's own naming pattern, older than
// staleTempAge, are removed; it reports how many. Best effort: a directory it
// cannot read just keeps its files.
func removeStaleTemps(path string, now time.Time) (removed int) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isOwnTemp(base, e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < staleTempAge {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			removed++
		}
	}
	return removed
}

// beforeRename, when set (tests only), runs between a save's temp file being
// complete and its rename: where a kill -9 leaves the temp file behind.
var beforeRename func(tmp string)

// writeFileAtomic replaces path with data so that a crash at any point leaves
// either the old file or the new one: write a temp file in the same directory,
// fsync it, rename over path, then fsync the directory so the rename itself
// is durable.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPattern(path)) // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if beforeRename != nil {
		beforeRename(tmp.Name())
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: not every platform can fsync a directory
		d.Close()
	}
	return nil
}
