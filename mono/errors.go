package mono

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrorKind classifies what went wrong talking to Mono, so callers (the TUI,
// the shell commands, the state machine) can react without parsing strings.
type ErrorKind int

const (
	// KindUnknown is the zero value: nil, or an error the client did not make.
	KindUnknown      ErrorKind = iota
	KindUnauthorised           // 401: bad or missing secret key
	KindForbidden              // 403: the key may not do this
	KindNotFound               // 404: no such account
	KindRateLimited            // 429: see Error.RetryAfter
	KindServer                 // 5xx: Mono-side failure
	KindBadReply               // 2xx we could not decode, a redirect, or an unexpected shape
	KindCannotReauth           // Mono answered "This account can not be re-authorised."
	KindBadRequest             // 400 (and other 4xx not listed here)
	KindConflict               // 409
	KindNetwork                // dial failure, reset, timeout
	KindInvalidInput           // rejected locally before any request was sent
	KindCanceled               // the caller's context was cancelled
	// KindPaymentRequired is 402, Mono's "request failed": the parameters
	// were valid but Mono would not carry the request out, e.g. because the
	// business's wallet cannot pay for a billed (live) call.
	KindPaymentRequired
)

var kindNames = [...]string{
	KindUnknown:      "unknown",
	KindUnauthorised: "unauthorised",
	KindForbidden:    "forbidden",
	KindNotFound:     "not found",
	KindRateLimited:  "rate limited",
	KindServer:       "server error",
	KindBadReply:     "bad reply",
	KindCannotReauth: "cannot re-authorise",
	KindBadRequest:   "bad request",
	KindConflict:     "conflict",
	KindNetwork:      "network",
	KindInvalidInput: "invalid input",
	KindCanceled:     "canceled",

	KindPaymentRequired: "payment required",
}

func (k ErrorKind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Error is every error the client returns. Message is Mono's own message
// (cleaned, truncated) or our description of the failure; it never holds the
// secret key or a token.
type Error struct {
	Kind       ErrorKind
	Status     int           // HTTP status, 0 when no reply arrived
	Message    string        // Mono's message or a description of the failure
	RetryAfter time.Duration // from Retry-After on 429/503, 0 if absent
	Op         string        // what the client was doing, e.g. "get account"
	Err        error         // underlying cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("mono: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.kind().String())
	if e.Status != 0 {
		fmt.Fprintf(&b, " (%d)", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// kind is e.Kind, except that a 402 reply classed as a plain bad request
// (every 4xx without a kind of its own is) reads as KindPaymentRequired:
// Mono's 402 "request failed" is about billing, not about the request, and
// an agent must be told to look at the wallet rather than at the input.
// KindOf, Hint and Error all go through it, so a 402 has its own kind
// wherever the error was made.
func (e *Error) kind() ErrorKind {
	if e.Kind == KindBadRequest && e.Status == http.StatusPaymentRequired {
		return KindPaymentRequired
	}
	return e.Kind
}

// KindOf reports the kind of err: the kind of the first *Error in its chain
// (KindPaymentRequired for a 402, see Error.kind),
// KindCanceled / KindNetwork for bare context errors, else KindUnknown.
func KindOf(err error) ErrorKind {
	if err == nil {
		return KindUnknown
	}
	var me *Error
	if errors.As(err, &me) {
		return me.kind()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return KindNetwork
	}
	return KindUnknown
}

// Hint is one plain sentence an agent can act on.
func (e *Error) Hint() string {
	status := func(def int) int {
		if e.Status != 0 {
			return e.Status
		}
		return def
	}
	switch e.kind() {
	case KindUnauthorised:
		return fmt.Sprintf("Mono rejected the secret key (%d). Check MONO_SECRET_KEY.", status(401))
	case KindForbidden:
		return fmt.Sprintf("Mono says this secret key may not do that (%d). Check the key's permissions in the Mono dashboard.", status(403))
	case KindNotFound:
		if e.Op == opListAccounts {
			// The list itself cannot be missing: the base URL is wrong.
			return fmt.Sprintf("Mono answered %d for the account list; check MONO_API_URL.", status(404))
		}
		return fmt.Sprintf("Mono has no account with that id (%d).", status(404))
	case KindRateLimited:
		if e.RetryAfter > 0 {
			return fmt.Sprintf("Mono is rate limiting us (%d); retry in %s.", status(429), roundUpSeconds(e.RetryAfter))
		}
		return fmt.Sprintf("Mono is rate limiting us (%d); wait a moment and retry.", status(429))
	case KindServer:
		return fmt.Sprintf("Mono had a problem (%d); try again shortly.", status(500))
	case KindBadReply:
		return "Mono sent a reply we could not read."
	case KindCannotReauth:
		return "Mono says this account cannot be re-authorised."
	case KindPaymentRequired:
		h := fmt.Sprintf("Mono refused the request as unpaid (%d): check your Mono wallet/billing.", status(402))
		if e.Message != "" {
			h += " Mono said: " + strings.TrimRight(e.Message, ". ") + "."
		}
		return h
	case KindBadRequest:
		return withMessage(fmt.Sprintf("Mono refused the request (%d)", status(400)), e.Message)
	case KindConflict:
		return withMessage(fmt.Sprintf("Mono reported a conflict (%d)", status(409)), e.Message)
	case KindNetwork:
		if e.Message == "" {
			return "Could not reach Mono."
		}
		return "Could not reach Mono: " + e.Message + ". Check the network and MONO_API_URL."
	case KindInvalidInput:
		if e.Message == "" {
			return "That input is not valid."
		}
		return upperFirst(e.Message)
	case KindCanceled:
		return "The request was cancelled."
	}
	return "Something went wrong talking to Mono."
}

// Hint returns the agent-facing sentence for any error: the *Error's Hint, or
// a generic sentence for anything else.
func Hint(err error) string {
	if err == nil {
		return ""
	}
	var me *Error
	if errors.As(err, &me) {
		return me.Hint()
	}
	return (&Error{Kind: KindOf(err)}).Hint()
}

func withMessage(s, msg string) string {
	if msg == "" {
		return s + "."
	}
	msg = strings.TrimRight(msg, ". ")
	return s + ": " + msg + "."
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// roundUpSeconds shows a wait as whole seconds ("12s", "2m0s"), rounding up so
// we never tell an agent to retry too early.
func roundUpSeconds(d time.Duration) time.Duration {
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}
