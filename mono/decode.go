package mono

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// Mono's replies are documented loosely and vary between v1 and v2, so the
// wire types below accept what a reasonable server might send (numbers as
// strings and vice versa, null, "_id" for "id") instead of failing a whole
// page over one odd field. Everything is cleaned when converted to Account.

// flexString accepts a JSON string, number or bool; null, objects and
// arrays read as "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*f = ""
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case 'n', '{', '[':
		// null, or a shape we do not expect here: leave it empty.
	default:
		*f = flexString(b)
	}
	return nil
}

// flexInt accepts a JSON number or a numeric string ("12345", "12345.0");
// anything else reads as 0.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	*f = flexInt(parseLooseInt(string(s)))
	return nil
}

func parseLooseInt(s string) int64 {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	if s == "" {
		return 0
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if x, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(x) && !math.IsInf(x, 0) && math.Abs(x) < 1<<62 {
		return int64(math.Round(x))
	}
	return 0
}

// flexTime accepts RFC 3339 text or epoch seconds / milliseconds (as a
// number or a string); anything else reads as the zero time.
type flexTime time.Time

func (f *flexTime) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	*f = flexTime(parseLooseTime(string(s)))
	return nil
}

func parseLooseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		if n > 1e12 { // milliseconds since the epoch
			return time.UnixMilli(n).UTC()
		}
		return time.Unix(n, 0).UTC()
	}
	return time.Time{}
}

// flexStrings accepts an array of strings (others dropped) or a single string.
type flexStrings []string

func (f *flexStrings) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*f = nil
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '[':
		var items []flexString
		if err := json.Unmarshal(b, &items); err != nil {
			return nil // not a list of scalars: ignore it
		}
		for _, it := range items {
			if it != "" {
				*f = append(*f, string(it))
			}
		}
	case '"':
		var s flexString
		if err := s.UnmarshalJSON(b); err != nil {
			return err
		}
		if s != "" {
			*f = flexStrings{string(s)}
		}
	}
	return nil
}

// wireInstitution is an institution object, or just its name as a string.
type wireInstitution struct {
	ID        flexString `json:"id"`
	OID       flexString `json:"_id"`
	Name      flexString `json:"name"`
	BankCode  flexString `json:"bank_code"`
	BankCode2 flexString `json:"bankCode"`
	Type      flexString `json:"type"`
}

func (w *wireInstitution) UnmarshalJSON(b []byte) error {
	*w = wireInstitution{}
	type plain wireInstitution // no UnmarshalJSON: no recursion
	return objectOrString(b, &w.Name, (*plain)(w))
}

// wireCustomer is a customer object, or just its id as a string (v1).
type wireCustomer struct {
	ID    flexString `json:"id"`
	OID   flexString `json:"_id"`
	Name  flexString `json:"name"`
	Email flexString `json:"email"`
}

func (w *wireCustomer) UnmarshalJSON(b []byte) error {
	*w = wireCustomer{}
	type plain wireCustomer // no UnmarshalJSON: no recursion
	return objectOrString(b, &w.ID, (*plain)(w))
}

// objectOrString decodes b into obj when it is a JSON object, and otherwise
// (Mono sometimes sends just a name or an id) into str.
func objectOrString(b []byte, str *flexString, obj any) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return nil
	case b[0] != '{':
		return str.UnmarshalJSON(b)
	}
	return json.Unmarshal(b, obj)
}

// wireMeta is the detail's data.meta, or a list item's meta.
type wireMeta struct {
	DataStatus    flexString  `json:"data_status"`
	AuthMethod    flexString  `json:"auth_method"`
	RetrievedData flexStrings `json:"retrieved_data"`
	SyncStatus    flexString  `json:"sync_status"`
	SyncMessage   flexString  `json:"sync_message"`
	LastSyncedAt  flexTime    `json:"last_synced_at"`
	// Mono support's handles for a sync (account reads; some webhooks).
	DataRequestID      flexString `json:"data_request_id"`
	DataRequestIDCamel flexString `json:"dataRequestId"`
	SessionID          flexString `json:"session_id"`
	SessionIDCamel     flexString `json:"sessionId"`
}

// wireAccount is a list item or the detail's data.account.
type wireAccount struct {
	ID            flexString      `json:"id"`
	OID           flexString      `json:"_id"`
	Name          flexString      `json:"name"`
	AccountNumber flexString      `json:"account_number"`
	Currency      flexString      `json:"currency"`
	Balance       flexInt         `json:"balance"`
	Type          flexString      `json:"type"`
	BVN           flexString      `json:"bvn"`
	AuthMethod    flexString      `json:"auth_method"`
	Status        flexString      `json:"status"`
	DataStatus    flexString      `json:"data_status"`
	Institution   wireInstitution `json:"institution"`
	Customer      wireCustomer    `json:"customer"`
	SyncStatus    flexString      `json:"sync_status"`
	SyncMessage   flexString      `json:"sync_message"`
	LastSyncedAt  flexTime        `json:"last_synced_at"`
	RetrievedData flexStrings     `json:"retrieved_data"`
	Meta          *wireMeta       `json:"meta"`
}

// listMeta is a v2 list reply's meta.
type listMeta struct {
	Total    flexInt    `json:"total"`
	Pages    flexInt    `json:"pages"`
	Previous flexString `json:"previous"`
	Next     flexString `json:"next"`
}

// envelope is a v2 reply; v1 replies fill only Message (or top-level fields
// the caller reads separately).
type envelope struct {
	Status  flexString      `json:"status"`
	Message flexString      `json:"message"`
	Data    json.RawMessage `json:"data"`
	Meta    json.RawMessage `json:"meta"`
}

// failed reports a v2 envelope that says it failed despite a 2xx status.
func (e envelope) failed() bool {
	return strings.EqualFold(strings.TrimSpace(string(e.Status)), "failed")
}

func firstNonEmpty(vals ...flexString) string {
	for _, v := range vals {
		if s := strings.TrimSpace(string(v)); s != "" {
			return s
		}
	}
	return ""
}

// toAccount converts the wire form, cleaning every string. Detail-only parts
// (customer, meta) are passed separately and win over the account's own.
func (c *Client) toAccount(w wireAccount, cust *wireCustomer, meta *wireMeta) Account {
	if cust == nil {
		cust = &w.Customer
	}
	if meta == nil {
		meta = w.Meta
	}
	if meta == nil {
		meta = &wireMeta{}
	}
	a := Account{
		ID:            c.clean(firstNonEmpty(w.ID, w.OID)),
		Name:          c.clean(string(w.Name)),
		AccountNumber: c.clean(string(w.AccountNumber)),
		Currency:      strings.ToUpper(c.clean(string(w.Currency))),
		Balance:       int64(w.Balance),
		Type:          c.clean(string(w.Type)),
		BVN:           c.clean(string(w.BVN)),
		AuthMethod:    strings.ToLower(c.clean(firstNonEmpty(meta.AuthMethod, w.AuthMethod))),
		DataStatus:    DataStatus(c.clean(firstNonEmpty(meta.DataStatus, w.DataStatus, w.Status))).Normal(),
		Institution: Institution{
			ID:       c.clean(firstNonEmpty(w.Institution.ID, w.Institution.OID)),
			Name:     c.clean(string(w.Institution.Name)),
			BankCode: c.clean(firstNonEmpty(w.Institution.BankCode, w.Institution.BankCode2)),
			Type:     c.clean(string(w.Institution.Type)),
		},
		Customer: Customer{
			ID:    c.clean(firstNonEmpty(cust.ID, cust.OID)),
			Name:  c.clean(string(cust.Name)),
			Email: c.clean(string(cust.Email)),
		},
		SyncStatus:   strings.ToUpper(c.clean(firstNonEmpty(meta.SyncStatus, w.SyncStatus))),
		SyncMessage:  c.clean(firstNonEmpty(meta.SyncMessage, w.SyncMessage)),
		LastSyncedAt: time.Time(meta.LastSyncedAt),
		// Optional like the sync fields: absent, null or odd, they read as "".
		DataRequestID: c.clean(firstNonEmpty(meta.DataRequestID, meta.DataRequestIDCamel)),
		SessionID:     c.clean(firstNonEmpty(meta.SessionID, meta.SessionIDCamel)),
	}
	if a.LastSyncedAt.IsZero() {
		a.LastSyncedAt = time.Time(w.LastSyncedAt)
	}
	retrieved := meta.RetrievedData
	if len(retrieved) == 0 {
		retrieved = w.RetrievedData
	}
	for _, r := range retrieved {
		if s := c.clean(r); s != "" {
			a.RetrievedData = append(a.RetrievedData, s)
		}
	}
	return a
}

// messageOf extracts Mono's message from a v1 or v2 body: "message" as a
// string or a list of strings, else "error". Non-JSON bodies (an HTML error
// page from a proxy) give "" so they never reach a screen.
func messageOf(body []byte) string {
	var m struct {
		Message json.RawMessage `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	for _, raw := range []json.RawMessage{m.Message, m.Error} {
		if len(raw) == 0 {
			continue
		}
		var s flexString
		_ = s.UnmarshalJSON(raw)
		if s != "" {
			return string(s)
		}
		var list flexStrings
		_ = list.UnmarshalJSON(raw)
		if len(list) > 0 {
			return strings.Join(list, "; ")
		}
		var obj struct {
			Message flexString `json:"message"`
		}
		if json.Unmarshal(raw, &obj) == nil && obj.Message != "" {
			return string(obj.Message)
		}
	}
	return ""
}
