package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/reauth/reauth/mono"
)

// Meta is the data.meta of an account_updated payload.
type Meta struct {
	DataStatus    mono.DataStatus
	SyncStatus    string
	DataRequestID string
	SessionID     string
}

// Payload builds a Mono-shaped webhook body for kind about accountID, with a
// top-level event_id when eventID is set (and no timestamp: Delivery makes
// the 2026 shape). meta (at most one) fills data.meta for account_updated.
// For the sandbox and tests.
func Payload(kind EventKind, accountID, eventID string, meta ...Meta) []byte {
	d := Delivery{Kind: kind, AccountID: accountID, EventID: eventID}
	if len(meta) > 0 {
		d.Meta = &meta[0]
	}
	return d.Body()
}

// Delivery is one webhook as Mono sends it, for the sandbox and tests: the
// 2022 shape with no EventID and no Timestamp, the 2026 shape with both
// (and App, Business).
type Delivery struct {
	Kind      EventKind
	AccountID string
	EventID   string    // top-level event_id; "" for none
	Timestamp time.Time // top-level timestamp (ISO, milliseconds); zero for none
	Meta      *Meta     // data.meta; nil for none
	JobStatus string    // JobUpdate's data.status (e.g. JobFailed)
	JobID     string    // JobUpdate's data.id
	JobName   string    // JobUpdate's data.name (e.g. "transactions")
	App       string    // data.app
	Business  string    // data.business
}

// Body is the delivery's JSON body. The account is data.account._id, as
// Mono documents, except for AccountUnlinked (data.account.id, as Mono's
// sample has it) and JobUpdate (data.account, a bare id).
func (d Delivery) Body() []byte {
	type wireMeta struct {
		DataStatus    mono.DataStatus `json:"data_status,omitempty"`
		SyncStatus    string          `json:"sync_status,omitempty"`
		DataRequestID string          `json:"data_request_id,omitempty"`
		SessionID     string          `json:"session_id,omitempty"`
	}
	type data struct {
		Account  any       `json:"account"`
		Meta     *wireMeta `json:"meta,omitempty"`
		ID       string    `json:"id,omitempty"`
		Name     string    `json:"name,omitempty"`
		Status   string    `json:"status,omitempty"`
		App      string    `json:"app,omitempty"`
		Business string    `json:"business,omitempty"`
	}
	body := struct {
		Event     string `json:"event"`
		EventID   string `json:"event_id,omitempty"`
		Timestamp string `json:"timestamp,omitempty"`
		Data      data   `json:"data"`
	}{Event: d.Kind.String(), EventID: d.EventID,
		Data: data{Account: map[string]string{"_id": d.AccountID}, App: d.App, Business: d.Business}}
	switch d.Kind {
	case Unknown:
		body.Event = "mono.events.unknown"
	case AccountUnlinked:
		body.Data.Account = map[string]string{"id": d.AccountID}
	case JobUpdate:
		body.Data.Account, body.Data.ID, body.Data.Name, body.Data.Status = d.AccountID, d.JobID, d.JobName, d.JobStatus
	}
	if !d.Timestamp.IsZero() {
		body.Timestamp = d.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	if m := d.Meta; m != nil {
		body.Data.Meta = &wireMeta{DataStatus: m.DataStatus, SyncStatus: m.SyncStatus, DataRequestID: m.DataRequestID, SessionID: m.SessionID}
	}
	out, err := json.Marshal(body)
	if err != nil {
		panic(err) // only strings: cannot fail
	}
	return out
}

// Send POSTs a webhook to url the way Mono does, with the shared secret in the
// mono-webhook-secret header. ev is sent as-is when it is []byte (e.g. from
// Payload) and JSON-encoded otherwise. A non-2xx answer is an error naming the
// status; the secret never appears in errors.
func Send(ctx context.Context, url, secret string, ev any) error {
	var body []byte
	switch v := ev.(type) {
	case []byte:
		body = v
	case json.RawMessage:
		body = v
	default:
		var err error
		if body, err = json.Marshal(v); err != nil {
			return fmt.Errorf("webhook: encode: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SecretHeader, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook: POST %s: %s", url, resp.Status)
	}
	return nil
}
