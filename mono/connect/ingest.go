package connect

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/reauth/reauth/mono"
)

// MaxPostBytes is the largest event post accepted.
const MaxPostBytes = 16 << 10

// post is the body of POST /s/<id>/events. Unknown top-level fields are
// refused; unknown data fields are ignored (Mono adds fields over time).
type post struct {
	Seq      int64           `json:"seq"`
	Callback string          `json:"callback"`
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	// Secret is read only from text/plain bodies: navigator.sendBeacon
	// cannot set SecretHeader.
	Secret string `json:"secret"`
	// Page is the page instance's id from its config (pageId). A post
	// naming an instance a newer one superseded is answered 409.
	Page string `json:"page"`
}

// postData is the typed view of the data fields we know. A known field with
// the wrong JSON type is refused.
type postData struct {
	Timestamp             *float64        `json:"timestamp"`
	Reference             *string         `json:"reference"`
	Institution           json.RawMessage `json:"institution"`
	AuthMethod            *string         `json:"authMethod"`
	PrevAuthMethod        *string         `json:"prevAuthMethod"`
	MFAType               *string         `json:"mfaType"`
	SelectedAccountsCount *float64        `json:"selectedAccountsCount"`
	ErrorType             *string         `json:"errorType"`
	ErrorMessage          *string         `json:"errorMessage"`
	PageName              *string         `json:"pageName"`
	Code                  *string         `json:"code"`
}

type postInstitution struct {
	ID   *string `json:"id"`
	Name *string `json:"name"`
}

// validEventName reports whether a widget event name is 1-64 characters of
// [A-Za-z0-9_.:-]. A loop, not a regexp: the bounded repeat compiled into 64
// copies of the class at start-up (0.7 ms of every launch).
func validEventName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// validPageID: empty (a post naming no page instance), or up to 64
// base64url characters as openPage makes them.
func validPageID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

var knownCallbacks = map[string]mono.Callback{
	string(mono.CallbackLoad):      mono.CallbackLoad,
	string(mono.CallbackEvent):     mono.CallbackEvent,
	string(mono.CallbackSuccess):   mono.CallbackSuccess,
	string(mono.CallbackClose):     mono.CallbackClose,
	string(mono.CallbackHeartbeat): mono.CallbackHeartbeat,
	string(mono.CallbackUnload):    mono.CallbackUnload,
	string(mono.CallbackPageError): mono.CallbackPageError,
}

// handleEvents is the ingest. Checks, in order: session (404/410), content
// type (415), Origin (403), secret in the header (401), size (413), one JSON
// object (400), secret in a beacon body (401), shape (400), then the
// session's end (410), page instance (409), seq window (400) and rate limit
// (429). Any refusal leaves the session untouched.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	sess, v := s.lookup(r.PathValue("id"))
	if v.status != 0 {
		s.answer(w, v)
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && mt != "text/plain") {
		s.refuse(w, r, http.StatusUnsupportedMediaType, "content type must be application/json (or text/plain from sendBeacon)")
		return
	}
	if !s.originOK(r) {
		s.refuse(w, r, http.StatusForbidden, "foreign or missing Origin")
		return
	}
	headerSecret := r.Header.Get(SecretHeader)
	if headerSecret != "" && !sess.secretOK(headerSecret) {
		s.refuse(w, r, http.StatusUnauthorized, "wrong page secret")
		return
	}
	if headerSecret == "" && mt != "text/plain" {
		s.refuse(w, r, http.StatusUnauthorized, "missing page secret")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPostBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.refuse(w, r, http.StatusRequestEntityTooLarge, "event too large (max 16 KB)")
			return
		}
		s.refuse(w, r, http.StatusBadRequest, "could not read body")
		return
	}
	p, err := decodePost(body)
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if headerSecret == "" && !sess.secretOK(p.Secret) {
		s.refuse(w, r, http.StatusUnauthorized, "missing or wrong page secret")
		return
	}
	ev, err := toEvent(p, s.set.Now())
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	v = sess.accept(ev, p.Page)
	if v.expire {
		s.endSession(sess, EndExpired)
	}
	if v.status != http.StatusNoContent {
		s.answer(w, v)
		return
	}
	if s.set.AckRecorded && ev.IsOutcome() && mt != "text/plain" {
		// The page is told the event is taken once it is in the agent's
		// audit (a beacon's answer is read by nobody).
		if !sess.waitRecorded(r.Context(), ev.Seq, s.set.tune.recordedWait) && sess.EndReason() == "" && r.Context().Err() == nil {
			// The agent's app did not say within the bound (its audit
			// down, or it stopped reading): answered anyway, and said.
			s.set.Logger.Warn("an outcome event was answered before the agent's app recorded it", "session", sess.id,
				"seq", ev.Seq, "waited", s.set.tune.recordedWait)
		}
	}
	s.observePost(true, http.StatusNoContent)
	w.WriteHeader(http.StatusNoContent)
}

type badPost string

func (e badPost) Error() string { return string(e) }

func decodePost(body []byte) (post, error) {
	var p post
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return post{}, badPost("body is not a valid event (JSON object with seq, callback, name, data)")
	}
	if _, err := dec.Token(); err != io.EOF {
		return post{}, badPost("body has data after the event")
	}
	return p, nil
}

// Length limits after cleaning, in runes.
const (
	maxShortText = 120
	maxLongText  = 500
)

// toEvent checks the shape of a post and converts it, passing every string
// through mono.CleanText.
func toEvent(p post, now time.Time) (mono.WidgetEvent, error) {
	cb, ok := knownCallbacks[p.Callback]
	if !ok {
		return mono.WidgetEvent{}, badPost("unknown callback")
	}
	if p.Seq <= 0 {
		return mono.WidgetEvent{}, badPost("seq must be a positive integer")
	}
	if !validPageID(p.Page) {
		return mono.WidgetEvent{}, badPost("page must be the pageId from the config")
	}
	ev := mono.WidgetEvent{Seq: p.Seq, Callback: cb, At: now}
	switch {
	case cb == mono.CallbackEvent:
		if !validEventName(p.Name) {
			return mono.WidgetEvent{}, badPost("event name must be a short token")
		}
		// One spelling from here on: Mono sends upper case, a page
		// might not, and the drop policy and the machine must agree.
		ev.Name = mono.NormalEventName(p.Name)
	case p.Name != "":
		return mono.WidgetEvent{}, badPost("only event posts carry a name")
	}
	if len(p.Data) == 0 || string(p.Data) == "null" {
		return ev, nil
	}
	if bytes.TrimSpace(p.Data)[0] != '{' {
		return mono.WidgetEvent{}, badPost("data must be an object")
	}
	var d postData
	if err := json.Unmarshal(p.Data, &d); err != nil {
		return mono.WidgetEvent{}, badPost("data has a field of the wrong type")
	}
	if d.Timestamp != nil {
		ms := *d.Timestamp
		if math.IsNaN(ms) || math.IsInf(ms, 0) || ms <= 0 || ms > 1e15 {
			return mono.WidgetEvent{}, badPost("data.timestamp must be milliseconds since the epoch")
		}
		// The browser's clock may be wrong; a wildly wrong time would only
		// confuse the agent, so it falls back to the time of receipt.
		if at := time.UnixMilli(int64(ms)); absDuration(at.Sub(now)) <= 24*time.Hour {
			ev.At = at
		}
	}
	if d.SelectedAccountsCount != nil {
		n := *d.SelectedAccountsCount
		if n < 0 || n > 1000 || n != math.Trunc(n) {
			return mono.WidgetEvent{}, badPost("data.selectedAccountsCount must be a small whole number")
		}
		ev.Data.SelectedAccountsCount = int(n)
	}
	if len(d.Institution) > 0 && string(d.Institution) != "null" {
		// Documented as {id, name}; a bare name is accepted too, defensively.
		var inst postInstitution
		var name string
		if err := json.Unmarshal(d.Institution, &inst); err == nil {
			ev.Data.InstitutionID = clean(inst.ID, maxShortText)
			ev.Data.InstitutionName = clean(inst.Name, maxShortText)
		} else if err := json.Unmarshal(d.Institution, &name); err == nil {
			ev.Data.InstitutionName = clean(&name, maxShortText)
		} else {
			return mono.WidgetEvent{}, badPost("data.institution must be an object {id, name}")
		}
	}
	ev.Data.Reference = clean(d.Reference, maxShortText)
	ev.Data.AuthMethod = clean(d.AuthMethod, maxShortText)
	ev.Data.PrevAuthMethod = clean(d.PrevAuthMethod, maxShortText)
	ev.Data.MFAType = clean(d.MFAType, maxShortText)
	ev.Data.ErrorType = clean(d.ErrorType, maxShortText)
	ev.Data.ErrorMessage = clean(d.ErrorMessage, maxLongText)
	ev.Data.PageName = clean(d.PageName, maxShortText)
	ev.Data.Code = clean(d.Code, maxLongText)
	return ev, nil
}

func clean(s *string, max int) string {
	if s == nil {
		return ""
	}
	c := mono.CleanText(*s)
	if utf8.RuneCountInString(c) > max {
		r := []rune(c)
		c = string(r[:max-1]) + "…"
	}
	return c
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
