// Package audit is reauth's append-only audit log: one record per thing an
// agent did (session started, reason shown or overridden, token minted, page
// opened, every widget event, outcome, verification, hosted link, webhook), so
// a support team can answer "who re-authorised this account, when, and did it
// work?".
//
// One front, many backends. Log is the front: every record passes its checks
// once, there, before any Backend sees it, and appends that wait together go
// to the backend as one batch. A Backend stores batches durably, in order, one
// commit per batch: the JSON-lines file (OpenFile; Open and OpenWith put a Log
// over it), or a database (internal/store/sqlite, internal/store/postgres),
// which also chains each record to the one before it by hash (ChainHash) so
// VerifyChain can name the first record edited or removed.
//
// Durability: Append returns only once the backend has committed the record
// (the file: written with a single write on an O_APPEND file and fsynced; a
// database: its transaction committed). Group commit: appends that arrive
// while a commit is running join the next batch, so N concurrent Appends cost
// about two commits instead of N, and each still returns only after the commit
// holding its record.
//
// The file: a crash can leave at most a torn last line per writer that was
// mid-write. Read skips such a line with a warning, and the next Append first
// ends the torn line so a new record never glues onto it. Writes are
// serialised by flock(2) across processes sharing the file.
//
// Safety: the log never holds a secret. Append refuses (and writes nothing) a
// record in which any field contains a secret the Log was told about (Guard)
// or something shaped like a Mono secret key; tokens are recorded only as
// mono.Fingerprint, page URLs without query, fragment or user info.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/reauth/reauth/mono"
)

// Action is what a record is about.
type Action string

const (
	ActionSessionStarted    Action = "session_started"
	ActionReasonShown       Action = "reason_shown"
	ActionReasonOverridden  Action = "reason_overridden"
	ActionTokenMinted       Action = "token_minted"
	ActionTokenMintFailed   Action = "token_mint_failed"
	ActionPageOpened        Action = "page_opened"
	ActionWidgetEvent       Action = "widget_event"
	ActionOutcome           Action = "outcome"
	ActionVerification      Action = "verification"
	ActionHostedLinkCreated Action = "hosted_link_created"
	ActionWebhookReceived   Action = "webhook_received"
	// ActionTokenMintRequested is written (and fsynced) before a mint
	// request leaves the process, so every token Mono issues has a record
	// even if the process dies before the answer.
	ActionTokenMintRequested Action = "token_mint_requested"
	// ActionPageEvent: the page itself opened, reopened, closed or went
	// silent (not the widget).
	ActionPageEvent Action = "page_event"
	// ActionLinkPrepared: the widget takes the account id, so no token was
	// minted (the contract is in Detail).
	ActionLinkPrepared Action = "link_prepared"
	// ActionClaimTakenOver: the attempt took the account's claim over from
	// a colleague's attempt (Detail names them; theirs ends TAKEN OVER).
	ActionClaimTakenOver Action = "claim_taken_over"
)

// How an agent reached reauth.
const (
	ViaLocal = "local"
	ViaSSH   = "ssh"
)

// Agent is who acted: the OS user locally; under `reauth serve` the name
// the agent's public key has in the authorized keys file (its comment's part
// before "@") and that key's fingerprint, never the user name the SSH client
// sent. That one is only a claim: ClaimedUser keeps it when it differs from
// User.
type Agent struct {
	User           string `json:"user,omitempty"`
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
	Via            string `json:"via,omitempty"`
	// ClaimedUser is the user name the SSH client sent, when it is not User
	// (alice's key logging in as "bob": User "alice", ClaimedUser "bob").
	ClaimedUser string `json:"claimed_user,omitempty"`
}

// Record is one audit line. Token values never go in: TokenFingerprint holds
// mono.Fingerprint of the token.
type Record struct {
	Time             time.Time `json:"time"`
	Agent            Agent     `json:"agent,omitzero"`
	Session          string    `json:"session,omitempty"`
	Seq              int       `json:"seq,omitempty"` // order within Session: 1, 2, 3… as the attempt's events happened
	Account          string    `json:"account,omitempty"`
	Action           Action    `json:"action"`
	Reason           string    `json:"reason,omitempty"`
	TokenFingerprint string    `json:"token_fingerprint,omitempty"`
	TokenExpiresAt   time.Time `json:"token_expires_at,omitzero"`
	PageURL          string    `json:"page_url,omitempty"` // scheme, host and path only
	Event            string    `json:"event,omitempty"`    // widget event name or its sentence
	Outcome          string    `json:"outcome,omitempty"`
	Detail           string    `json:"detail,omitempty"`

	// Set by a chaining backend, on the records it returns: the record's
	// place in the chain (1, 2, 3…), the previous record's hash ("" for the
	// first) and its own (ChainHash). Append ignores what a caller puts here.
	ID       int64  `json:"id,omitempty"`
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// Options tune a Log.
type Options struct {
	// Now stamps records whose Time is zero. Default time.Now.
	Now func() time.Time
	// CommitTimeout bounds one backend commit (0: no bound). A database
	// that does not answer in time fails the Appends of that batch; the
	// caller decides what that stops (a mint must not go ahead unrecorded).
	CommitTimeout time.Duration
}

// Log is the audit's front: every record passes its checks (an action, the
// page URL reduced, no raw value as a token fingerprint, text cleaned,
// guarded secrets and Mono secret keys redacted) once, here, before any
// Backend sees it; appends that wait together go to the backend as one batch
// (one commit). Safe for concurrent use.
type Log struct {
	b       Backend
	now     func() time.Time
	timeout time.Duration

	secMu   sync.RWMutex
	secrets map[string][]string // guarded secrets keyed by their first guardKeyLen bytes

	mu       sync.Mutex // guards the fields below it
	open     *batch     // the batch new records join; nil when none is open
	closed   bool
	inflight sync.WaitGroup // Appends under way, so Close can wait for them
	records  uint64         // records committed
	commits  uint64         // backend commits (for the file: fsyncs)

	// commitMu is held for the length of one backend commit: one at a
	// time, and the batch that fills meanwhile goes in the next one.
	commitMu sync.Mutex

	// Test hook: queued runs under mu after a record joins a batch, with
	// the batch's size.
	queued func(n int)
}

// batch is the records of the appends that waited together.
type batch struct {
	recs []Record
	done chan struct{} // closed once the batch is committed or failed
	err  error
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: log is closed")

// ErrRefused is wrapped by every error Append returns for the record itself
// (no action, a secret it cannot redact, too large, not encodable): that
// record is never written, however often it is tried, so a caller that
// retries what the store failed to take (an outage) drops it instead.
// Any other error from Append is the store's (or ErrClosed).
var ErrRefused = errors.New("audit: record refused")

// Retryable reports whether a failed Append may succeed if tried again
// later: the store's failure (unreachable, a commit that timed out), not a
// record refused for itself (ErrRefused) nor a closed log (ErrClosed).
// Callers that keep what the store did not take (an outage) keep these
// and drop the others.
func Retryable(err error) bool {
	return err != nil && !errors.Is(err, ErrRefused) && !errors.Is(err, ErrClosed)
}

// refusedError is a check's error, still itself (its message, ErrSecret)
// and of the class ErrRefused.
type refusedError struct{ err error }

func (e refusedError) Error() string   { return e.err.Error() }
func (e refusedError) Unwrap() []error { return []error{e.err, ErrRefused} }

// ErrSecret is wrapped by the error Append returns when it refuses a record
// that would put a secret on disk. The error names the field, never the value.
var ErrSecret = errors.New("audit: record refused: it contains a secret")

const (
	// maxLineBytes bounds one record (its JSON); Read skips longer lines as
	// garbage, and Append refuses such a record for every backend.
	maxLineBytes = 1 << 20
	// guardKeyLen is both the shortest secret Guard accepts and the length of
	// the index key. Shorter strings would match ordinary text and make Append
	// refuse harmless records.
	guardKeyLen = 8
)

// secretKeyShape catches Mono secret keys even when nobody called Guard.
// Compiled on first use (a record that passes the cheap pre-check), not at
// start-up.
var secretKeyShape = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(live|test)_sk_[a-z0-9]{4,}`)
})

// fingerprintShape is what TokenFingerprint must look like, so a raw token
// put there by mistake is refused rather than written.
// Compiled on first use: its bounded repeat is costly to compile and only
// records with a token fingerprint need it.
var fingerprintShape = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^sha256:[0-9a-f]{8,64}$`)
})

// DefaultPath is $XDG_STATE_HOME/reauth/audit.jsonl, or
// ~/.local/state/reauth/audit.jsonl when XDG_STATE_HOME is unset or relative
// (the XDG spec says to ignore relative values).
func DefaultPath() (string, error) {
	if dir := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "reauth", "audit.jsonl"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("audit: no default path: %w", err)
	}
	return filepath.Join(home, ".local", "state", "reauth", "audit.jsonl"), nil
}

// Open opens (creating if needed) the JSON-lines audit log at path for
// appending. Parent directories are created 0700 and the file 0600: the log
// names customers' accounts and agents.
func Open(path string) (*Log, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options.
func OpenWith(path string, opts Options) (*Log, error) {
	f, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	return New(f, opts), nil
}

// New puts the front over b: records are checked here and committed to b
// in batches. Close closes b.
func New(b Backend, opts Options) *Log {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Log{b: b, now: now, timeout: opts.CommitTimeout, secrets: map[string][]string{}}
}

// Guard tells the log about secrets (tokens, page secrets, onSuccess codes)
// that must never reach it. Strings shorter than 8 bytes are ignored (too
// likely to occur in ordinary text). Guarded secrets are kept for the life of
// the Log: a leaked expired token is still a leak.
func (l *Log) Guard(secrets ...string) {
	l.secMu.Lock()
	defer l.secMu.Unlock()
	for _, s := range secrets {
		if len(s) < guardKeyLen {
			continue
		}
		k := s[:guardKeyLen]
		l.secrets[k] = append(l.secrets[k], s)
	}
}

// Append checks r and stores it durably: when it returns nil the backend
// has committed the record (for the file: written and fsynced; for a
// database: the transaction committed). Appends that arrive while a commit
// is running wait together and go to the backend as the next batch, one
// commit for all of them; each still returns only after the commit that
// holds its record. Records reach the backend in the order their Appends
// joined a batch (calls from one goroutine: in call order). A zero Time is
// stamped with Options.Now. A guarded secret or a Mono secret key in a text
// field is replaced by Redacted (the record is still written: a hole in the
// audit is worse); a raw value in token_fingerprint is refused
// (errors.Is(err, ErrSecret)) and nothing is written.
func (l *Log) Append(r Record) error {
	r, err := l.check(r)
	if err != nil {
		return refusedError{err}
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.inflight.Add(1)
	defer l.inflight.Done()
	b, leader := l.open, false
	if b == nil {
		b, leader = &batch{done: make(chan struct{})}, true
		l.open = b
	}
	b.recs = append(b.recs, r)
	if l.queued != nil {
		l.queued(len(b.recs))
	}
	l.mu.Unlock()
	if !leader {
		<-b.done
		return b.err
	}
	// The first record of a batch commits it, once the commit before it
	// is done; until then the batch stays open and others join it.
	l.commitMu.Lock()
	l.mu.Lock()
	l.open = nil
	recs := b.recs
	l.mu.Unlock()
	err = l.commit(recs)
	l.mu.Lock()
	l.commits++
	if err == nil {
		l.records += uint64(len(recs))
	}
	l.mu.Unlock()
	l.commitMu.Unlock()
	b.err = err
	close(b.done)
	return err
}

// commit hands one batch to the backend, within CommitTimeout.
func (l *Log) commit(recs []Record) error {
	ctx := context.Background()
	if l.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.timeout)
		defer cancel()
	}
	return l.b.Append(ctx, recs)
}

// check runs the checks every record must pass and returns the record as it
// will be stored. It never holds a lock a commit needs.
func (l *Log) check(r Record) (Record, error) {
	if r.Action == "" {
		return r, errors.New("audit: record has no action")
	}
	// What the store assigns is never taken from the caller.
	r.ID, r.PrevHash, r.Hash = 0, "", ""
	r.PageURL = redactURL(r.PageURL)
	if r.TokenFingerprint != "" && !fingerprintShape().MatchString(r.TokenFingerprint) {
		return r, fmt.Errorf("%w (token_fingerprint is not a mono.Fingerprint)", ErrSecret)
	}
	if r.Time.IsZero() {
		r.Time = l.now()
	}
	l.secMu.RLock()
	defer l.secMu.RUnlock()
	for _, fv := range r.fields() {
		if *fv.value == "" {
			continue
		}
		// Escape sequences are dropped here too, so `cat` or `tail -f` on
		// the file cannot drive a terminal with text that came from a browser.
		// Both forms are scanned: cleaning could join a secret that escape
		// codes had split.
		cleaned := mono.CleanText(*fv.value)
		if l.holdsSecret(*fv.value) || (cleaned != *fv.value && l.holdsSecret(cleaned)) {
			// The record still goes in (an audit with a hole is worse),
			// with the secret replaced; the error message never holds it.
			cleaned = l.redactSecrets(cleaned)
			if l.holdsSecret(cleaned) {
				return r, fmt.Errorf("%w (field %s)", ErrSecret, fv.name)
			}
		}
		*fv.value = cleaned
	}
	if line, err := json.Marshal(r); err != nil {
		return r, fmt.Errorf("audit: %w", err)
	} else if len(line)+1 > maxLineBytes {
		return r, fmt.Errorf("audit: record too large (%d bytes)", len(line)+1)
	}
	return r, nil
}

// Stats reports how many records this Log has committed and in how many
// backend commits (for the file: fsyncs): with concurrent appenders, fewer
// commits than records.
func (l *Log) Stats() (records, commits uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.records, l.commits
}

// Query returns the records q selects, from the backend.
func (l *Log) Query(ctx context.Context, q Query) ([]Record, error) {
	return l.b.Query(ctx, q)
}

// Verify walks the backend's hash chain; see VerifyChain.
func (l *Log) Verify(ctx context.Context) (VerifyReport, error) {
	return VerifyChain(ctx, l.b)
}

// Backend is the store under the front.
func (l *Log) Backend() Backend { return l.b }

// Close waits for the Appends under way (their records are committed, so an
// Append waiting for a commit when the log closes is still acknowledged),
// then closes the backend. Appends after Close return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.inflight.Wait()
	return l.b.Close()
}

type fieldRef struct {
	name  string
	value *string
}

// fields lists every string field of r, so nothing escapes the secret scan.
func (r *Record) fields() []fieldRef {
	return []fieldRef{
		{"agent.user", &r.Agent.User},
		{"agent.key_fingerprint", &r.Agent.KeyFingerprint},
		{"agent.via", &r.Agent.Via},
		{"agent.claimed_user", &r.Agent.ClaimedUser},
		{"session", &r.Session},
		{"account", &r.Account},
		{"action", (*string)(&r.Action)},
		{"reason", &r.Reason},
		{"token_fingerprint", &r.TokenFingerprint},
		{"page_url", &r.PageURL},
		{"event", &r.Event},
		{"outcome", &r.Outcome},
		{"detail", &r.Detail},
	}
}

// Redacted replaces a secret in a record's text (mono.Redacted).
const Redacted = mono.Redacted

// redactSecrets replaces every guarded secret and every Mono secret key in
// s with Redacted.
func (l *Log) redactSecrets(s string) string {
	if mayBeSecretKey(s) {
		s = secretKeyShape().ReplaceAllString(s, Redacted)
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if i+guardKeyLen <= len(s) {
			longest := ""
			for _, secret := range l.secrets[s[i:i+guardKeyLen]] {
				if strings.HasPrefix(s[i:], secret) && len(secret) > len(longest) {
					longest = secret
				}
			}
			if longest != "" {
				b.WriteString(Redacted)
				i += len(longest)
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// holdsSecret reports whether s contains a guarded secret or a Mono secret
// key. Each position of s is looked up by its first guardKeyLen bytes, so the
// cost grows with len(s), not with the number of guarded secrets.
func (l *Log) holdsSecret(s string) bool {
	if mayBeSecretKey(s) && secretKeyShape().MatchString(s) {
		return true
	}
	for i := 0; i+guardKeyLen <= len(s); i++ {
		for _, secret := range l.secrets[s[i:i+guardKeyLen]] {
			if strings.HasPrefix(s[i:], secret) {
				return true
			}
		}
	}
	return false
}

// mayBeSecretKey is a cheap pre-check for secretKeyShape: an ASCII string
// can only match if it holds "_sk_" in any case. Non-ASCII text goes to the
// regexp (its case folding maps U+017F to s and U+212A to k).
func mayBeSecretKey(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return true
		}
		if c == '_' && i+3 < len(s) && s[i+1]|0x20 == 's' && s[i+2]|0x20 == 'k' && s[i+3] == '_' {
			return true
		}
	}
	return false
}

// redactURL keeps scheme, host and path. The page's secret travels in the
// fragment or query, and user info is a credential, so all three are dropped
// even if the caller forgot to.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			raw = raw[:i]
		}
		return raw
	}
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	u.RawFragment = ""
	return u.String()
}
