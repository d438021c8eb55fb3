package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reauth/reauth/mono"
)

// The webhooks the sandbox sends are the only place it says an account needs
// reauth, as with Mono: its account reads carry no sync_status, sync_message
// or last_synced_at. Shapes follow Mono's documented samples
// (shared/mono-samples): the 2026 payloads with top-level event_id and
// timestamp, data.app and data.business; some ordinary accounts get the
// legacy 2022 reauthorisation_required with neither.
//
// Three sources, in the order a receiver gets them:
//
//   - the backlog: one webhook for each account whose sync went wrong before
//     the sandbox started (scenario accounts, about 15% of ordinary ones),
//     timestamped in the past;
//   - CompleteReauth: account_reauthorized at once, then account_updated with
//     sync_status SUCCESSFUL once ConfirmDelay has passed (only then is the
//     account's data current);
//   - MarkNeedsReauth: account_updated with sync_status REAUTHORISATION_REQUIRED.

// Mono's webhook event names.
const (
	EventReauthRequired = "mono.events.reauthorisation_required"
	EventReauthorized   = "mono.events.account_reauthorized"
	EventAccountUpdated = "mono.events.account_updated"
	EventJobsUpdate     = "mono.accounts.jobs.update"
)

// The sandbox's app and business ids, as data.app and data.business carry.
const (
	sandboxApp      = "5ca1ab1eaa0000000000a001"
	sandboxBusiness = "5ca1ab1ebb0000000000b001"
)

// emission is a webhook sent after the sandbox started.
type emission struct {
	seq       int
	accountID string
	event     string
	due       time.Time // on the sandbox's clock (Options.Now)
	realDue   time.Time // on the wall clock: when the push goes out
	body      []byte
	delivered bool
}

// maxEmissions bounds the webhooks a long-running sandbox remembers.
const maxEmissions = 10_000

// backlogHook is one webhook of the backlog.
type backlogHook struct {
	index int // the account's position
	at    time.Time
	body  []byte
}

// Webhooks returns every webhook the sandbox has sent by now, as Mono's raw
// JSON bodies, oldest first: the backlog, then those of completed reauths and
// MarkNeedsReauth whose time has come on the sandbox's clock (Options.Now)
// or that Options.Webhooks was already handed. A receiver fed them in order
// knows what a live app would.
func (s *Server) Webhooks() [][]byte {
	var out [][]byte
	for _, h := range s.backlog() {
		out = append(out, h.body)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.emittedInOrderLocked() {
		if e.delivered || !e.due.After(now) {
			out = append(out, e.body)
		}
	}
	return out
}

// ScenarioWebhooks returns the backlog's webhooks for the scenario accounts
// that need reauth, in the scenario accounts' order: what tells an app, as
// Mono would, why each needs reauth.
func (s *Server) ScenarioWebhooks() [][]byte {
	hooks := s.backlog()
	var out [][]byte
	for i := range scenarioTable {
		for _, h := range hooks {
			if h.index == i {
				out = append(out, h.body)
			}
		}
	}
	return out
}

// backlog builds (once) the webhooks Mono sent before the sandbox started,
// oldest first.
func (s *Server) backlog() []backlogHook {
	return s.backlogOnce()
}

func (s *Server) makeBacklog() []backlogHook {
	c := s.data()
	idx := make([]int, 0, len(c.troubles))
	for i := range c.troubles {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	out := make([]backlogHook, 0, len(idx))
	for _, i := range idx {
		tr := c.troubles[i]
		a := c.accounts[i]
		at := genEpoch.Add(-tr.ago).Add(c.shift)
		var body []byte
		switch tr.kind {
		case troubleUpdatedReauth:
			body = s.accountUpdated(a, at, mono.SyncReauthRequired, false)
		case troubleUpdatedFailed:
			body = s.accountUpdated(a, at, "FAILED", false)
		case troubleReauthRequired:
			body = s.accountEvent(EventReauthRequired, a.ID, at)
		case troubleLegacyReauth:
			body = mustJSON(map[string]any{"event": EventReauthRequired, "data": map[string]any{"account": idJSON{a.ID}}})
		case troubleJobFailed:
			body = s.jobFailed(a, at)
		default:
			continue
		}
		out = append(out, backlogHook{index: i, at: at, body: body})
	}
	slices.SortStableFunc(out, func(x, y backlogHook) int { return x.at.Compare(y.at) })
	return out
}

// needsReauthLocked: Mono's latest word on account i is that it needs reauth.
func (s *Server) needsReauthLocked(i int) bool {
	if o := s.overlays[i]; o != nil {
		return o.marked
	}
	return s.data().troubles[i].kind.needsReauth()
}

// emitLocked records a webhook sent now+delay (on the sandbox clock) and
// wakes the pusher.
func (s *Server) emitLocked(accountID, event string, body []byte, now time.Time, delay time.Duration) {
	s.emitSeq++
	s.emitted = append(s.emitted, &emission{seq: s.emitSeq, accountID: accountID, event: event,
		due: now.Add(delay), realDue: time.Now().Add(delay), body: body})
	if len(s.emitted) > maxEmissions {
		// Forget the oldest that are past and pushed (or have nobody to
		// push to).
		keep := s.emitted[:0]
		drop := len(s.emitted) - maxEmissions/2
		for _, e := range s.emitted {
			if drop > 0 && !e.due.After(now) && (e.delivered || s.opts.Webhooks == nil) {
				drop--
				continue
			}
			keep = append(keep, e)
		}
		s.emitted = keep
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// dropPendingLocked forgets webhooks about accountID not yet due: what a
// newer event overtakes (a sync that will now not succeed).
func (s *Server) dropPendingLocked(accountID string, now time.Time) {
	keep := s.emitted[:0]
	for _, e := range s.emitted {
		if e.accountID == accountID && e.due.After(now) && !e.delivered {
			continue
		}
		keep = append(keep, e)
	}
	clear(s.emitted[len(keep):])
	s.emitted = keep
}

// emittedInOrderLocked is the emissions by due time, then sequence.
func (s *Server) emittedInOrderLocked() []*emission {
	out := slices.Clone(s.emitted)
	slices.SortStableFunc(out, func(x, y *emission) int {
		if c := x.due.Compare(y.due); c != 0 {
			return c
		}
		return x.seq - y.seq
	})
	return out
}

// push runs while Options.Webhooks is set: the backlog first, then each
// emission when its time comes, one at a time, in due order.
func (s *Server) push(ctx context.Context) {
	defer close(s.pushDone)
	for _, h := range s.backlog() {
		if ctx.Err() != nil {
			return
		}
		s.opts.Webhooks(ctx, h.body)
	}
	for {
		s.mu.Lock()
		var next *emission
		for _, e := range s.emittedInOrderLocked() {
			if !e.delivered && (next == nil || e.realDue.Before(next.realDue)) {
				next = e
			}
		}
		s.mu.Unlock()
		var timer <-chan time.Time
		if next != nil {
			wait := time.Until(next.realDue)
			if wait <= 0 {
				s.mu.Lock()
				gone := !slices.Contains(s.emitted, next)
				next.delivered = true
				s.mu.Unlock()
				if !gone {
					s.opts.Webhooks(ctx, next.body)
				}
				continue
			}
			t := time.NewTimer(wait)
			timer = t.C
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-s.kick:
				t.Stop()
			case <-timer:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
	}
}

// Payload shapes.

type idJSON struct {
	ID string `json:"_id"`
}

type hookEnvelope struct {
	Event     string `json:"event"`
	EventID   string `json:"event_id,omitempty"`
	Timestamp string `json:"timestamp,omitempty"`
	Data      any    `json:"data"`
}

type hookAccountData struct {
	Account  any    `json:"account"`
	Meta     any    `json:"meta,omitempty"`
	App      string `json:"app"`
	Business string `json:"business"`
}

type updatedAccountJSON struct {
	ID            string `json:"_id"`
	Name          string `json:"name"`
	AccountNumber string `json:"accountNumber"`
	Currency      string `json:"currency"`
	Balance       int64  `json:"balance"`
	Type          string `json:"type"`
	BVN           string `json:"bvn"`
	AuthMethod    string `json:"authMethod"`
	Institution   struct {
		Name     string `json:"name"`
		BankCode string `json:"bankCode"`
		Type     string `json:"type"`
	} `json:"institution"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

type updatedMetaJSON struct {
	DataStatus    string   `json:"data_status"`
	AuthMethod    string   `json:"auth_method"`
	Ref           string   `json:"ref"`
	SyncStatus    string   `json:"sync_status"`
	JobID         string   `json:"job_id"`
	HasNewData    bool     `json:"has_new_data"`
	RetrievedData []string `json:"retrieved_data"`
}

type jobJSON struct {
	Account  string `json:"account"`
	Business string `json:"business"`
	App      string `json:"app"`
	ID       string `json:"id"`
	Name     string `json:"name"`
	Status   string `json:"status"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("sandbox: webhook payload: " + err.Error()) // only strings, numbers and bools
	}
	return b
}

// accountEvent is a 2026 payload naming only the account
// (account_reauthorized, reauthorisation_required).
func (s *Server) accountEvent(event, accountID string, at time.Time) []byte {
	return mustJSON(hookEnvelope{Event: event, EventID: s.eventID(event, accountID, at), Timestamp: monoTime(at),
		Data: hookAccountData{Account: idJSON{accountID}, App: sandboxApp, Business: sandboxBusiness}})
}

// accountUpdated is account_updated for a as it reads, with syncStatus.
// newData says the sync fetched new data (after a reauth).
func (s *Server) accountUpdated(a mono.Account, at time.Time, syncStatus string, newData bool) []byte {
	var acct updatedAccountJSON
	acct.ID, acct.Name, acct.AccountNumber, acct.Currency, acct.Balance = a.ID, a.Name, a.AccountNumber, a.Currency, a.Balance
	acct.Type, acct.BVN, acct.AuthMethod = a.Type, a.BVN, a.AuthMethod
	acct.Institution.Name, acct.Institution.BankCode, acct.Institution.Type = a.Institution.Name, a.Institution.BankCode, a.Institution.Type
	acct.CreatedAt = monoTime(s.linkedAt(a.ID))
	acct.UpdatedAt = monoTime(at.Add(-130 * time.Millisecond))
	meta := updatedMetaJSON{
		DataStatus: string(a.DataStatus), AuthMethod: a.AuthMethod, Ref: customerRef(a.Customer.ID),
		SyncStatus: syncStatus, JobID: jobID(a.ID, at), HasNewData: newData, RetrievedData: a.RetrievedData,
	}
	if meta.RetrievedData == nil {
		meta.RetrievedData = []string{}
	}
	return mustJSON(hookEnvelope{Event: EventAccountUpdated, EventID: s.eventID(EventAccountUpdated, a.ID, at), Timestamp: monoTime(at),
		Data: hookAccountData{Account: acct, Meta: meta, App: sandboxApp, Business: sandboxBusiness}})
}

// jobFailed is a failed Real-Time Data job for the account's transactions.
func (s *Server) jobFailed(a mono.Account, at time.Time) []byte {
	return mustJSON(hookEnvelope{Event: EventJobsUpdate, EventID: s.eventID(EventJobsUpdate, a.ID, at), Timestamp: monoTime(at),
		Data: jobJSON{Account: a.ID, Business: sandboxBusiness, App: sandboxApp, ID: jobID(a.ID, at), Name: "transactions", Status: "failed"}})
}

// eventID is a deterministic 16-character event_id: the same seed, account,
// event and time always give the same id, so recordings repeat.
func (s *Server) eventID(event, accountID string, at time.Time) string {
	return alnum(hash("event", strconv.FormatInt(s.opts.Seed, 10), event, strings.ToLower(accountID), at.UTC().Format(time.RFC3339Nano)), 16)
}

// linkedAt is when the account was first linked (created_at), months before
// the sandbox's epoch.
func (s *Server) linkedAt(accountID string) time.Time {
	h := hash("linked", strings.ToLower(accountID))
	days := 60 + int(binary.BigEndian.Uint16(h[:2])%600)
	return genEpoch.Add(-time.Duration(days) * 24 * time.Hour).Add(time.Duration(binary.BigEndian.Uint32(h[2:6])%86_400_000) * time.Millisecond).Add(s.data().shift)
}

func customerRef(customerID string) string {
	if len(customerID) > 6 {
		customerID = customerID[len(customerID)-6:]
	}
	return "cust-" + customerID
}

func jobID(accountID string, at time.Time) string {
	return "job_" + alnum(hash("job", strings.ToLower(accountID), at.UTC().Format(time.RFC3339Nano)), 10)
}

func hash(parts ...string) [32]byte {
	return sha256.Sum256([]byte(strings.Join(parts, "\x00")))
}

// alnum spells n characters of [A-Za-z0-9] from h.
func alnum(h [32]byte, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, n)
	for i := range out {
		out[i] = alphabet[int(h[i%len(h)])%len(alphabet)]
	}
	return string(out)
}
