// Package audit is reauth's append-only audit log: one JSON line per thing an
// agent did (session started, reason shown or overridden, token minted, page
// opened, every widget event, outcome, verification, hosted link, webhook), so
// a support team can answer "who re-authorised this account, when, and did it
// work?".
//
// Durability: a record is marshalled to one line, written with a single write
// on an O_APPEND file and fsynced before Append returns; only then is it
// acknowledged. A crash can leave at most a torn last line per writer that was
// mid-write. Read skips such a line with a warning, and the next Append first
// ends the torn line so a new record never glues onto it. Writes are
// serialised by a mutex inside one process and by flock(2) across processes
// sharing the file.
//
// Group commit: the fsync is shared. Appends that arrive while an fsync is
// running write their lines and then wait; the next fsync, started after all
// of those writes returned, covers them all. An Append still returns only
// after an fsync that began after its own write has succeeded, so the
// guarantee above is unchanged; what changes is that N concurrent Appends cost
// about two fsyncs instead of N. Records reach the file in the order their
// Appends took the write lock (calls from one goroutine: in call order).
//
// Safety: the log never holds a secret. Append refuses (and writes nothing) a
// record in which any field contains a secret the Log was told about (Guard)
// or something shaped like a Mono secret key; tokens are recorded only as
// mono.Fingerprint, page URLs without query, fragment or user info.
package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
}

// Options tune a Log.
type Options struct {
	// Now stamps records whose Time is zero. Default time.Now.
	Now func() time.Time
}

// Log is an open audit log. Safe for concurrent use.
type Log struct {
	mu      sync.Mutex // guards the fields below it and every write
	f       *os.File
	now     func() time.Time
	secrets map[string][]string // guarded secrets keyed by their first guardKeyLen bytes
	end     int64               // file size after our last write (-1: unknown)
	written uint64              // lines written so far

	// syncMu is held for the length of an fsync: one at a time, and those
	// who wait behind it find their write covered by the next one.
	syncMu sync.Mutex
	synced uint64 // lines covered by a successful fsync (under syncMu)
	syncs  int    // fsyncs done (under syncMu), for tests
	// Test hooks: afterWrite runs under mu after each line is written,
	// beforeSync under syncMu just before each fsync.
	afterWrite func(n uint64)
	beforeSync func()
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: log is closed")

// ErrSecret is wrapped by the error Append returns when it refuses a record
// that would put a secret on disk. The error names the field, never the value.
var ErrSecret = errors.New("audit: record refused: it contains a secret")

const (
	// maxLineBytes bounds one record; Read skips longer lines as garbage.
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

// Open opens (creating if needed) the audit log at path for appending. Parent
// directories are created 0700 and the file 0600: the log names customers'
// accounts and agents.
func Open(path string) (*Log, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options.
func OpenWith(path string, opts Options) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	// O_RDWR rather than O_WRONLY only so Append can pread the last byte and
	// end a line torn by a crash; every write still goes to the end (O_APPEND).
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// An existing file readable by others is tightened, not trusted.
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Log{f: f, now: now, secrets: map[string][]string{}, end: -1}, nil
}

// Guard tells the log about secrets (tokens, page secrets, onSuccess codes)
// that must never reach it. Strings shorter than 8 bytes are ignored (too
// likely to occur in ordinary text). Guarded secrets are kept for the life of
// the Log: a leaked expired token is still a leak.
func (l *Log) Guard(secrets ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range secrets {
		if len(s) < guardKeyLen {
			continue
		}
		k := s[:guardKeyLen]
		l.secrets[k] = append(l.secrets[k], s)
	}
}

// Append writes r as one line and fsyncs it. When it returns nil the record is
// on disk (acknowledged); the fsync may be shared with concurrent Appends (see
// the package comment). A zero Time is stamped with Options.Now. A guarded
// secret or a Mono secret key in a text field is replaced by Redacted (the
// record is still written: a hole in the audit is worse); a raw value in
// token_fingerprint is refused (errors.Is(err, ErrSecret)) and nothing is
// written.
func (l *Log) Append(r Record) error {
	n, err := l.write(r)
	if err != nil {
		return err
	}
	return l.syncThrough(n)
}

// write validates r and writes its line; n is the line's number among this
// Log's writes, for syncThrough.
func (l *Log) write(r Record) (n uint64, err error) {
	if r.Action == "" {
		return 0, errors.New("audit: record has no action")
	}
	r.PageURL = redactURL(r.PageURL)
	if r.TokenFingerprint != "" && !fingerprintShape().MatchString(r.TokenFingerprint) {
		return 0, fmt.Errorf("%w (token_fingerprint is not a mono.Fingerprint)", ErrSecret)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, ErrClosed
	}
	if r.Time.IsZero() {
		r.Time = l.now()
	}
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
				return 0, fmt.Errorf("%w (field %s)", ErrSecret, fv.name)
			}
		}
		*fv.value = cleaned
	}
	line, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	line = append(line, '\n')
	if len(line) > maxLineBytes {
		return 0, fmt.Errorf("audit: record too large (%d bytes)", len(line))
	}

	if err := lockFile(l.f); err != nil {
		return 0, fmt.Errorf("audit: lock: %w", err)
	}
	defer unlockFile(l.f)
	if err := l.endTornLine(); err != nil {
		l.end = -1
		return 0, fmt.Errorf("audit: %w", err)
	}
	if _, err := l.f.Write(line); err != nil {
		l.end = -1
		return 0, fmt.Errorf("audit: write: %w", err)
	}
	if l.end >= 0 {
		l.end += int64(len(line))
	}
	l.written++
	if l.afterWrite != nil {
		l.afterWrite(l.written)
	}
	return l.written, nil
}

// syncThrough returns once an fsync that started after line n was written
// has succeeded. Whoever holds syncMu fsyncs for everyone written so far;
// those queued behind it usually find their line already covered.
func (l *Log) syncThrough(n uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced >= n {
		return nil
	}
	l.mu.Lock()
	f, target := l.f, l.written // every line up to target has been written
	l.mu.Unlock()
	if f == nil {
		// Close fsyncs under syncMu before closing, so this cannot happen
		// to a line written before it; kept as a guard.
		return ErrClosed
	}
	if l.beforeSync != nil {
		l.beforeSync()
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("audit: sync: %w", err)
	}
	l.syncs++
	l.synced = target
	return nil
}

// Stats reports how many lines this Log has written and how many fsyncs it
// has done: with concurrent appenders, fewer fsyncs than lines.
func (l *Log) Stats() (lines, fsyncs uint64) {
	l.syncMu.Lock()
	fsyncs = uint64(l.syncs)
	l.syncMu.Unlock()
	l.mu.Lock()
	lines = l.written
	l.mu.Unlock()
	return lines, fsyncs
}

// Close fsyncs what was written and closes the file. Records already
// acknowledged are on disk; an Append still waiting for its fsync is covered
// by Close's.
func (l *Log) Close() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if err == nil {
		l.synced = l.written
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// endTornLine writes a newline when the file does not end with one: a writer
// (this or another process) crashed mid-record. Without it the next record
// would be glued onto the fragment and lost with it. Called under the flock.
func (l *Log) endTornLine() error {
	fi, err := l.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 || fi.Size() == l.end {
		// Empty, or nobody has written since our last whole line.
		l.end = fi.Size()
		return nil
	}
	l.end = -1
	last := make([]byte, 1)
	if _, err := l.f.ReadAt(last, fi.Size()-1); err != nil && err != io.EOF {
		return err
	}
	if last[0] == '\n' {
		l.end = fi.Size()
		return nil
	}
	if _, err = l.f.Write([]byte{'\n'}); err != nil {
		return err
	}
	l.end = fi.Size() + 1
	return nil
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

// Redacted replaces a secret in a record's text.
const Redacted = "[redacted]"

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
