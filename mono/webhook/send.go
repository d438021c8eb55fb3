package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/reauth/reauth/mono"
)

// Meta is the data.meta of an account_updated payload.
type Meta struct {
	DataStatus mono.DataStatus
	SyncStatus string
}

// Payload builds a Mono-shaped webhook body for kind about accountID, with a
// top-level event_id when eventID is set. meta (at most one) fills
// data.meta for account_updated. For the sandbox and tests.
func Payload(kind EventKind, accountID, eventID string, meta ...Meta) []byte {
	type account struct {
		ID string `json:"_id"`
	}
	type wireMeta struct {
		DataStatus mono.DataStatus `json:"data_status,omitempty"`
		SyncStatus string          `json:"sync_status,omitempty"`
	}
	type data struct {
		Account account   `json:"account"`
		Meta    *wireMeta `json:"meta,omitempty"`
	}
	body := struct {
		Event   string `json:"event"`
		EventID string `json:"event_id,omitempty"`
		Data    data   `json:"data"`
	}{Event: kind.String(), EventID: eventID, Data: data{Account: account{ID: accountID}}}
	if kind == Unknown {
		body.Event = "mono.events.unknown"
	}
	if len(meta) > 0 {
		body.Data.Meta = &wireMeta{DataStatus: meta[0].DataStatus, SyncStatus: meta[0].SyncStatus}
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
