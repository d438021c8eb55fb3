// Package mono talks to Mono's API (https://api.withmono.com) and defines the
// data types of Mono's accounts and of its Connect widget's events. It never
// imports the UI.
//
// Client (NewClient) lists accounts page by page as an iterator, reads one
// account, mints reauth tokens (never retried) and asks for hosted reauth
// links and syncs. Every failure is an *Error whose Kind (KindOf) says what
// to do and whose Hint is a sentence for an agent; reads retry with jittered
// backoff on 429, 5xx and network errors. Every string from a reply has been
// through CleanText. Package mono/sandbox serves a fake Mono for the same
// client.
package mono

import (
	"strings"
	"time"
)

// DataStatus is Mono's data_status for an account. Compare with Is (Mono's
// casing is not guaranteed).
type DataStatus string

const (
	StatusAvailable   DataStatus = "AVAILABLE"
	StatusPartial     DataStatus = "PARTIAL"
	StatusUnavailable DataStatus = "UNAVAILABLE"
	StatusFailed      DataStatus = "FAILED"
	StatusProcessing  DataStatus = "PROCESSING"
)

// Is reports whether s equals want, ignoring case and surrounding space.
func (s DataStatus) Is(want DataStatus) bool {
	return strings.EqualFold(strings.TrimSpace(string(s)), string(want))
}

// Normal returns the upper-case canonical form of s.
func (s DataStatus) Normal() DataStatus {
	return DataStatus(strings.ToUpper(strings.TrimSpace(string(s))))
}

// Auth methods a customer linked with.
const (
	AuthInternetBanking = "internet_banking"
	AuthMobileBanking   = "mobile_banking"
)

// SyncReauthRequired is the sync code / meta.sync_status Mono uses when the
// bank needs the customer to re-authorise.
const SyncReauthRequired = "REAUTHORISATION_REQUIRED"

// SyncStatusSuccessful is account_updated's meta.sync_status after a sync
// that fetched the bank's data: the one signal that data is current.
const SyncStatusSuccessful = "SUCCESSFUL"

// SyncSucceeded reports whether a sync_status (account_updated's
// meta.sync_status, or an account read's, should Mono ever send one) says
// the sync fetched the bank's data: Mono's one word that the data is fresh.
func SyncSucceeded(status string) bool { return strings.EqualFold(status, SyncStatusSuccessful) }

// Institution is the bank an account is held at.
type Institution struct {
	ID       string `json:"id,omitempty"`
	Name     string `json:"name"`
	BankCode string `json:"bank_code,omitempty"`
	Type     string `json:"type,omitempty"`
}

// Customer is the business's customer who linked the account.
type Customer struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// Account is one linked account, merged from the list and detail endpoints.
// Every string in it has been through CleanText by the client.
type Account struct {
	ID            string      `json:"id"`
	Name          string      `json:"name"`
	AccountNumber string      `json:"account_number"`
	Currency      string      `json:"currency,omitempty"`
	Balance       int64       `json:"balance"` // minor units (kobo)
	Type          string      `json:"type,omitempty"`
	BVN           string      `json:"bvn,omitempty"` // last 4 digits only
	AuthMethod    string      `json:"auth_method,omitempty"`
	DataStatus    DataStatus  `json:"data_status"`
	Institution   Institution `json:"institution"`
	Customer      Customer    `json:"customer"`

	// Evidence for why an account may need reauth. Mono documents these only
	// on webhooks and sync replies; the client fills them when a reply carries
	// them (meta.sync_status, meta.sync_message, meta.last_synced_at) and
	// leaves them empty otherwise.
	SyncStatus    string    `json:"sync_status,omitempty"`
	SyncMessage   string    `json:"sync_message,omitempty"`
	LastSyncedAt  time.Time `json:"last_synced_at,omitzero"`
	RetrievedData []string  `json:"retrieved_data,omitempty"`

	// What Mono support asks for when debugging a failed sync: the account
	// read's data.meta.data_request_id and data.meta.session_id. Empty when
	// the reply has none (list items, older replies).
	DataRequestID string `json:"data_request_id,omitempty"`
	SessionID     string `json:"session_id,omitempty"`
}

// NeedsReauth reports whether the account carries Mono's reauth signal.
func (a Account) NeedsReauth() bool {
	return strings.EqualFold(strings.TrimSpace(a.SyncStatus), SyncReauthRequired)
}

// MaskedNumber renders the account number as ••••1234.
func (a Account) MaskedNumber() string {
	n := a.AccountNumber
	if len(n) > 4 {
		n = n[len(n)-4:]
	}
	return "••••" + n
}

// TokenLifetime is how long a reauth token lives after Mono mints it.
const TokenLifetime = 10 * time.Minute

// Token is a minted reauth token. Value is a secret: never log or print it;
// use Fingerprint.
type Token struct {
	AccountID string
	Value     string
	MintedAt  time.Time
	ExpiresAt time.Time
}

// Expired reports whether the token has expired at now.
func (t Token) Expired(now time.Time) bool { return !now.Before(t.ExpiresAt) }

// Remaining is the time left at now (never negative).
func (t Token) Remaining(now time.Time) time.Duration {
	if d := t.ExpiresAt.Sub(now); d > 0 {
		return d
	}
	return 0
}
