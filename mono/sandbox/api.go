package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reauth/reauth/mono"
)

// syncInterval is Mono's documented limit: one manual sync per account per
// two minutes.
const syncInterval = 2 * time.Minute

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/accounts", s.handleList)
	mux.HandleFunc("GET /v2/accounts/{id}", s.handleDetail)
	mux.HandleFunc("POST /v2/accounts/initiate", s.handleInitiate)
	mux.HandleFunc("POST /accounts/{id}/reauthorise", s.handleReauthorise)
	mux.HandleFunc("POST /accounts/{id}/sync", s.handleSync)
	mux.HandleFunc("GET /hosted/{ref}", s.handleHosted)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// NestJS's shape, which Mono's API answers unknown routes with.
		writeJSON(w, http.StatusNotFound, map[string]any{
			"statusCode": 404, "message": "Cannot " + r.Method + " " + r.URL.Path, "error": "Not Found",
		})
	})
	return mux
}

// JSON shapes of Mono's replies. Like Mono's, account reads carry no
// sync_status, sync_message or last_synced_at (Mono sends sync_status only in
// webhooks; the other two nowhere).

type institutionJSON struct {
	ID       string `json:"id,omitempty"`
	Name     string `json:"name"`
	BankCode string `json:"bank_code"`
	Type     string `json:"type"`
}

type listItemJSON struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	AccountNumber string          `json:"account_number"`
	Currency      string          `json:"currency"`
	Balance       int64           `json:"balance"`
	AuthMethod    string          `json:"auth_method"`
	Status        string          `json:"status"`
	BVN           string          `json:"bvn"`
	Type          string          `json:"type"`
	Institution   institutionJSON `json:"institution"`
	Customer      struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"customer"`
}

type listMetaJSON struct {
	Total    int     `json:"total"`
	Pages    int     `json:"pages"`
	Previous *string `json:"previous"`
	Next     *string `json:"next"`
}

type detailJSON struct {
	Account struct {
		ID            string          `json:"id"`
		Name          string          `json:"name"`
		AccountNumber string          `json:"account_number"`
		Currency      string          `json:"currency"`
		Balance       int64           `json:"balance"`
		Type          string          `json:"type"`
		BVN           string          `json:"bvn"`
		Institution   institutionJSON `json:"institution"`
	} `json:"account"`
	Customer struct {
		ID string `json:"id"`
	} `json:"customer"`
	Meta struct {
		DataStatus    string   `json:"data_status"`
		AuthMethod    string   `json:"auth_method"`
		RetrievedData []string `json:"retrieved_data"`
		Ref           *string  `json:"ref"`
		DataRequestID string   `json:"data_request_id"`
		SessionID     string   `json:"session_id"`
	} `json:"meta"`
}

// monoTime formats like Mono's timestamps: UTC with milliseconds.
func monoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "sandbox: cannot encode reply", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeOK writes Mono's v2 success envelope.
func writeOK(w http.ResponseWriter, data any, meta any, now time.Time) {
	env := map[string]any{
		"status": "successful", "message": "Request was successfully completed",
		"timestamp": monoTime(now), "data": data,
	}
	if meta != nil {
		env["meta"] = meta
	}
	writeJSON(w, http.StatusOK, env)
}

// writeFailed writes Mono's v2 failure envelope.
func writeFailed(w http.ResponseWriter, status int, message string, now time.Time) {
	writeJSON(w, status, map[string]any{
		"status": "failed", "message": message, "timestamp": monoTime(now), "data": nil,
	})
}

// writeV1 writes a v1 reply, e.g. the 404 for an unknown account.
func writeV1(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"message": message})
}

const msgNoAccount = "This account does not exist."

// baseURL is how the client reached us, used for absolute links (meta.next,
// mono_url) so they point back at this sandbox whatever its port.
func baseURL(r *http.Request) string {
	return "http://" + r.Host
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	page := 1
	if p := r.URL.Query().Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			writeFailed(w, http.StatusBadRequest, "page must be a positive integer", now)
			return
		}
		page = n
	}
	size := s.opts.PageSize
	total := len(s.data().accounts)
	pages := (total + size - 1) / size
	from := min((page-1)*size, total)
	to := min(from+size, total)

	items := make([]listItemJSON, 0, to-from)
	s.mu.Lock()
	for i := from; i < to; i++ {
		a := s.viewLocked(i, now)
		var it listItemJSON
		it.ID, it.Name, it.AccountNumber, it.Currency, it.Balance = a.ID, a.Name, a.AccountNumber, a.Currency, a.Balance
		it.AuthMethod, it.Status, it.BVN, it.Type = a.AuthMethod, string(a.DataStatus), a.BVN, a.Type
		it.Institution = institutionJSON(a.Institution)
		it.Customer.ID, it.Customer.Name, it.Customer.Email = a.Customer.ID, a.Customer.Name, a.Customer.Email
		items = append(items, it)
	}
	s.mu.Unlock()

	link := func(n int) *string {
		u := baseURL(r) + "/v2/accounts?page=" + strconv.Itoa(n)
		return &u
	}
	meta := listMetaJSON{Total: total, Pages: pages}
	if page > 1 && page <= pages+1 {
		meta.Previous = link(page - 1)
	}
	if page < pages {
		meta.Next = link(page + 1)
	}
	writeOK(w, items, meta, now)
}

func (s *Server) handleDetail(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	i, ok := s.lookup(r.PathValue("id"))
	if !ok {
		writeV1(w, http.StatusNotFound, msgNoAccount)
		return
	}
	s.mu.Lock()
	a := s.viewLocked(i, now)
	var reauthAt time.Time
	if o := s.overlays[i]; o != nil {
		reauthAt = o.confirmFrom
	}
	s.mu.Unlock()

	var d detailJSON
	d.Account.ID, d.Account.Name, d.Account.AccountNumber = a.ID, a.Name, a.AccountNumber
	d.Account.Currency, d.Account.Balance, d.Account.Type, d.Account.BVN = a.Currency, a.Balance, a.Type, a.BVN
	d.Account.Institution = institutionJSON{Name: a.Institution.Name, BankCode: a.Institution.BankCode, Type: a.Institution.Type}
	d.Customer.ID = a.Customer.ID
	d.Meta.DataStatus, d.Meta.AuthMethod = string(a.DataStatus), a.AuthMethod
	d.Meta.RetrievedData = a.RetrievedData
	if d.Meta.RetrievedData == nil {
		d.Meta.RetrievedData = []string{}
	}
	// A reauth starts a new session and data request.
	epoch := ""
	if !reauthAt.IsZero() {
		epoch = reauthAt.UTC().Format(time.RFC3339Nano)
	}
	d.Meta.DataRequestID = "DRQ" + strings.ToUpper(alnum(hash("drq", strings.ToLower(a.ID), epoch), 9))
	d.Meta.SessionID = "sess" + alnum(hash("session", strings.ToLower(a.ID), epoch), 16)
	writeOK(w, d, nil, now)
}

func (s *Server) handleReauthorise(w http.ResponseWriter, r *http.Request) {
	i, ok := s.lookup(r.PathValue("id"))
	if !ok {
		writeV1(w, http.StatusNotFound, msgNoAccount)
		return
	}
	id := s.data().accounts[i].ID
	if ScenarioFor(id) == ScenarioCannotReauth {
		// Mono answers this refusal with a 2xx and no token.
		writeV1(w, http.StatusOK, "This account can not be re-authorised.")
		return
	}
	now := s.now()
	token := s.newToken()
	s.mu.Lock()
	s.pruneTokensLocked(now)
	if old, ok := s.current[id]; ok {
		if rec := s.tokens[old]; rec != nil {
			rec.replaced = true
		}
	}
	s.tokens[token] = &tokenRecord{accountID: id, expires: now.Add(mono.TokenLifetime)}
	s.current[id] = token
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"token": token})
}

// pruneTokensLocked forgets tokens that expired over an hour ago, so a
// long-running sandbox does not accumulate them.
func (s *Server) pruneTokensLocked(now time.Time) {
	for tok, rec := range s.tokens {
		if now.Sub(rec.expires) > time.Hour {
			delete(s.tokens, tok)
			if s.current[rec.accountID] == tok {
				delete(s.current, rec.accountID)
			}
		}
	}
}

func (s *Server) handleInitiate(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	var body struct {
		Scope   string `json:"scope"`
		Account string `json:"account"`
		Meta    struct {
			Ref string `json:"ref"`
		} `json:"meta"`
		RedirectURL string `json:"redirect_url"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
		writeFailed(w, http.StatusBadRequest, "Request body must be JSON", now)
		return
	}
	switch {
	case body.Scope != "reauth":
		writeFailed(w, http.StatusBadRequest, "The sandbox supports only the reauth scope", now)
		return
	case strings.TrimSpace(body.Meta.Ref) == "":
		writeFailed(w, http.StatusBadRequest, "meta.ref is required", now)
		return
	case body.RedirectURL != "" && !absoluteHTTP(body.RedirectURL): // optional, as Mono documents it
		writeFailed(w, http.StatusBadRequest, "redirect_url must be an absolute URL", now)
		return
	}
	i, ok := s.lookup(body.Account)
	if !ok {
		writeFailed(w, http.StatusNotFound, msgNoAccount, now)
		return
	}
	a := s.data().accounts[i]
	if ScenarioFor(a.ID) == ScenarioCannotReauth {
		// Mono documents no refusal shape for initiate; the sandbox answers
		// as a v2 failure with the mint's words, so the app shows one
		// refusal for either way of asking.
		writeFailed(w, http.StatusBadRequest, "This account can not be re-authorised.", now)
		return
	}
	writeOK(w, map[string]any{
		"mono_url":     baseURL(r) + "/hosted/" + url.PathEscape(body.Meta.Ref),
		"customer":     a.Customer.ID,
		"meta":         map[string]string{"ref": body.Meta.Ref},
		"scope":        "reauth",
		"redirect_url": body.RedirectURL,
		"created_at":   monoTime(now),
	}, nil, now)
}

func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (s *Server) handleHosted(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = fmt.Fprintf(w, "Mono sandbox: hosted re-authorisation link.\nIn live mode this is Mono's own page; the sandbox only stands in for it.\n")
}

func (s *Server) handleSync(w http.ResponseWriter, r *http.Request) {
	i, ok := s.lookup(r.PathValue("id"))
	if !ok {
		writeV1(w, http.StatusNotFound, msgNoAccount)
		return
	}
	now := s.now()
	s.mu.Lock()
	a := s.viewLocked(i, now)
	last, synced := s.lastSync[a.ID]
	if synced && now.Sub(last) < syncInterval {
		s.mu.Unlock()
		wait := syncInterval - now.Sub(last)
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		writeV1(w, http.StatusTooManyRequests, "You can only sync an account once every 2 minutes.")
		return
	}
	s.lastSync[a.ID] = now
	needs := s.needsReauthLocked(i)
	s.mu.Unlock()

	reply := func(status int, ok bool, code, message string) {
		st := "failed"
		if ok {
			st = "successful"
		}
		writeJSON(w, status, map[string]any{"status": st, "code": code, "message": message})
	}
	switch {
	case needs:
		reply(http.StatusBadRequest, false, mono.SyncReauthRequired, "Re-authorisation is required to sync this account.")
	case a.DataStatus == mono.StatusFailed || a.DataStatus == mono.StatusUnavailable:
		reply(http.StatusOK, false, mono.SyncError, "The bank could not be reached. Try again later.")
	case a.DataStatus == mono.StatusPartial:
		reply(http.StatusOK, false, mono.SyncIncompleteStatement, "The bank returned an incomplete statement.")
	default:
		reply(http.StatusOK, true, mono.SyncSuccessful, "Sync successful.")
	}
}

// lookup finds an account by id (case-insensitively, like ObjectIds).
func (s *Server) lookup(id string) (int, bool) {
	if !mono.IsAccountID(id) {
		return 0, false
	}
	i, ok := s.data().index[strings.ToLower(id)]
	return i, ok
}

// viewLocked is account i as it reads at now, with any completed reauth or
// new reauth signal applied. The status after a reauth is computed from the
// clock here, at read time, so no goroutine or timer is needed. A read never
// says when data was last synced: Mono's do not (its account_updated webhook
// does).
func (s *Server) viewLocked(i int, now time.Time) mono.Account {
	a := s.data().accounts[i]
	o := s.overlays[i]
	if o == nil {
		return a
	}
	switch {
	case o.marked:
		a.DataStatus = o.frozenStatus
		a.RetrievedData = o.frozenRetrieved
	case !o.confirmFrom.IsZero():
		if now.Before(o.confirmFrom.Add(s.opts.ConfirmDelay)) {
			a.DataStatus = mono.StatusProcessing
			a.RetrievedData = nil
		} else {
			a.DataStatus, a.RetrievedData = afterSync(a)
		}
	}
	return a
}

// afterSync is what a synced account reads: AVAILABLE with everything,
// except at a bank that gives only the balance.
func afterSync(base mono.Account) (mono.DataStatus, []string) {
	if balanceOnlyBank(base.Institution) {
		st := base.DataStatus
		if st != mono.StatusFailed {
			st = mono.StatusPartial
		}
		return st, retrievedFor(st, true)
	}
	return mono.StatusAvailable, retrievedFor(mono.StatusAvailable, false)
}

// CompleteReauth is what the sandbox's local page calls when its simulated
// widget succeeds. It fails (ErrUnknownToken, ErrTokenExpired, ErrTokenUsed,
// ErrTokenReplaced) unless token is live. On success the token is spent and,
// as Mono does, the sandbox sends account_reauthorized at once; the account
// reads PROCESSING until ConfirmDelay has passed, then AVAILABLE, and
// account_updated with sync_status SUCCESSFUL (the only word that its data is
// current) is sent then.
func (s *Server) CompleteReauth(token string) (accountID string, err error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.tokens[token]
	switch {
	case rec == nil:
		return "", ErrUnknownToken
	case rec.used:
		return rec.accountID, ErrTokenUsed
	case rec.replaced:
		return rec.accountID, ErrTokenReplaced
	case !now.Before(rec.expires):
		return rec.accountID, ErrTokenExpired
	}
	rec.used = true
	i := s.data().index[strings.ToLower(rec.accountID)]
	s.overlays[i] = &overlay{confirmFrom: now}
	delete(s.lastSync, rec.accountID)

	s.dropPendingLocked(rec.accountID, now)
	s.emitLocked(rec.accountID, EventReauthorized, s.accountEvent(EventReauthorized, rec.accountID, now), now, 0)
	synced := s.data().accounts[i]
	synced.DataStatus, synced.RetrievedData = afterSync(synced)
	ready := now.Add(s.opts.ConfirmDelay)
	s.emitLocked(rec.accountID, EventAccountUpdated, s.accountUpdated(synced, ready, mono.SyncStatusSuccessful, true), now, s.opts.ConfirmDelay)
	return rec.accountID, nil
}

// TokenValid reports whether token is live (minted, unexpired, unused, not
// replaced). accountID is the token's account whenever the token is known.
func (s *Server) TokenValid(token string) (accountID string, ok bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.tokens[token]
	if rec == nil {
		return "", false
	}
	return rec.accountID, !rec.used && !rec.replaced && now.Before(rec.expires)
}

// MarkNeedsReauth plays the bank demanding reauth now: the sandbox sends
// account_updated with sync_status REAUTHORISATION_REQUIRED, which a pending
// SUCCESSFUL one no longer follows. The account's read does not change (its
// data_status stays what it reads now: Mono's cached data), exactly the trap
// a live Mono sets. note is only logged: Mono's webhooks carry no message.
// Unknown ids are ignored.
func (s *Server) MarkNeedsReauth(accountID, note string) {
	i, ok := s.lookup(accountID)
	if !ok {
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	current := s.viewLocked(i, now)
	o := &overlay{marked: true, frozenStatus: current.DataStatus, frozenRetrieved: current.RetrievedData}
	if prev := s.overlays[i]; prev != nil {
		o.confirmFrom = prev.confirmFrom
	}
	s.overlays[i] = o
	s.dropPendingLocked(current.ID, now)
	s.emitLocked(current.ID, EventAccountUpdated, s.accountUpdated(current, now, mono.SyncReauthRequired, false), now, 0)
	if s.opts.Logger != nil {
		s.opts.Logger.Debug("marked needs reauth", "account", current.ID, "note", note)
	}
}
