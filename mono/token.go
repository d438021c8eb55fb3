package mono

import (
	"crypto/sha256"
	"encoding/hex"
)

// Fingerprint is a short SHA-256 fingerprint of a secret (a token or a page
// secret): enough to correlate records, useless for replaying the secret.
func Fingerprint(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// Redacted is what stands in for a secret wherever one was caught in text
// (a page's event text, an audit record): one spelling, so a search for it
// finds every place.
const Redacted = "[redacted]"

// Fingerprint of the token value, safe for logs and the audit.
func (t Token) Fingerprint() string { return Fingerprint(t.Value) }

// Masked renders the token for a screen: the first and last two characters.
func (t Token) Masked() string { return MaskSecret(t.Value) }

// String keeps a token out of logs and error strings even when someone
// formats the whole struct with %v.
func (t Token) String() string {
	return "Token{" + t.AccountID + " " + t.Fingerprint() + " expires " + t.ExpiresAt.UTC().Format("15:04:05Z") + "}"
}

// GoString does the same for %#v.
func (t Token) GoString() string { return t.String() }

// MaskSecret shows only the first and last two characters of s.
func MaskSecret(s string) string {
	r := []rune(s)
	if len(r) <= 6 {
		return "••••••"
	}
	return string(r[:2]) + "••••••••" + string(r[len(r)-2:])
}
