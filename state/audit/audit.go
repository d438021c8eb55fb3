// Package audit is reauth's append-only audit log: one JSON line per thing an
// agent did (session started, reason shown or overridden, token minted, page
// opened, every widget event, outcome, verification, hosted link, webhook), so
// a support team can answer "who re-authorised this account, when, and did it
// work?".
//
// Durability: a record is marshalled to one line, written with a single write
// on an O_APPEND file and fsynced before Append returns; only then is it
// acknowledged. A crash can leave at most a torn last line. Read skips such a
// line with a warning, and the next Append first ends the torn line so a new
// record never glues onto it. Appends are serialised by a mutex inside one
// process and by flock(2) across processes sharing the file.
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
)

// How an agent reached reauth.
const (
	ViaLocal = "local"
	ViaSSH   = "ssh"
)

// Agent is who acted: the OS user locally, the SSH user and public-key
// fingerprint under `reauth serve`.
type Agent struct {
	User           string `json:"user,omitempty"`
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
	Via            string `json:"via,omitempty"`
}

// Record is one audit line. Token values never go in: TokenFingerprint holds
// mono.Fingerprint of the token.
type Record struct {
	Time             time.Time `json:"time"`
	Agent            Agent     `json:"agent,omitzero"`
	Session          string    `json:"session,omitempty"`
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
	mu      sync.Mutex
	f       *os.File
	now     func() time.Time
	secrets map[string][]string // guarded secrets keyed by their first guardKeyLen bytes
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
var secretKeyShape = regexp.MustCompile(`(?i)(live|test)_sk_[a-z0-9]{4,}`)

// fingerprintShape is what TokenFingerprint must look like, so a raw token
// put there by mistake is refused rather than written.
var fingerprintShape = regexp.MustCompile(`^sha256:[0-9a-f]{8,64}$`)

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
	return &Log{f: f, now: now, secrets: map[string][]string{}}, nil
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
// on disk (acknowledged). A zero Time is stamped with Options.Now. It refuses a
// record carrying a secret (errors.Is(err, ErrSecret)) and writes nothing.
func (l *Log) Append(r Record) error {
	if r.Action == "" {
		return errors.New("audit: record has no action")
	}
	r.PageURL = redactURL(r.PageURL)
	if r.TokenFingerprint != "" && !fingerprintShape.MatchString(r.TokenFingerprint) {
		return fmt.Errorf("%w (token_fingerprint is not a mono.Fingerprint)", ErrSecret)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return ErrClosed
	}
	if r.Time.IsZero() {
		r.Time = l.now()
	}
	for _, fv := range r.fields() {
		// Escape sequences are dropped here too, so `cat` or `tail -f` on
		// the file cannot drive a terminal with text that came from a browser.
		// Both forms are scanned: cleaning could join a secret that escape
		// codes had split.
		cleaned := mono.CleanText(*fv.value)
		if l.holdsSecret(*fv.value) || l.holdsSecret(cleaned) {
			return fmt.Errorf("%w (field %s)", ErrSecret, fv.name)
		}
		*fv.value = cleaned
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	line = append(line, '\n')
	if len(line) > maxLineBytes {
		return fmt.Errorf("audit: record too large (%d bytes)", len(line))
	}

	if err := lockFile(l.f); err != nil {
		return fmt.Errorf("audit: lock: %w", err)
	}
	defer unlockFile(l.f)
	if err := l.endTornLine(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if _, err := l.f.Write(line); err != nil {
		return fmt.Errorf("audit: write: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit: sync: %w", err)
	}
	return nil
}

// Close closes the file. Records already acknowledged are on disk.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// endTornLine writes a newline when the file does not end with one: a writer
// (this or another process) crashed mid-record. Without it the next record
// would be glued onto the fragment and lost with it. Called under the flock.
func (l *Log) endTornLine() error {
	fi, err := l.f.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := l.f.ReadAt(last, fi.Size()-1); err != nil && err != io.EOF {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	_, err = l.f.Write([]byte{'\n'})
	return err
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

// holdsSecret reports whether s contains a guarded secret or a Mono secret
// key. Each position of s is looked up by its first guardKeyLen bytes, so the
// cost grows with len(s), not with the number of guarded secrets.
func (l *Log) holdsSecret(s string) bool {
	if secretKeyShape.MatchString(s) {
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
