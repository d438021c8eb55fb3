package app

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"charm.land/log/v2"

	"github.com/reauth/reauth/mono/webhook"
)

// sandboxHooks takes the embedded sandbox's webhooks
// (sandbox.Options.Webhooks) into an in-memory marks store, as a receiver
// takes Mono's: sandbox marks never reach the live webhooks.json.
//
// The sandbox pushes from the moment it is made, before the app's runtime
// exists. Until something attaches, a pushed body is dropped: the
// sandbox's Webhooks() still holds it, and attach records all of those
// first. After that each pushed body is recorded, and each one the store
// applies is handed to onEvent. A body is recorded once: the backlog may
// still be arriving when attach has read it, and its legacy payloads carry
// no event_id for the store to dedupe on.
type sandboxHooks struct {
	mu       sync.Mutex
	store    *webhook.Store
	now      func() time.Time
	logger   *log.Logger
	attached bool
	onEvent  func(webhook.Event) // nil: record only
	recorded map[[sha256.Size]byte]struct{}
}

func newSandboxHooks(now func() time.Time, logger *log.Logger) *sandboxHooks {
	return &sandboxHooks{store: webhook.NewMemoryStore(), now: now, logger: logger,
		recorded: map[[sha256.Size]byte]struct{}{}}
}

// attach records every webhook sent so far (sent: the sandbox's
// Webhooks), then each pushed one as it comes, handing each applied event
// to onEvent. It returns the store. The first attach with an onEvent sets
// it (a command's record-only attach may come first).
func (h *sandboxHooks) attach(sent func() [][]byte, onEvent func(webhook.Event)) *webhook.Store {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.attached {
		// Under the lock, so a body pushed meanwhile waits and is then
		// either among these or new.
		for _, body := range sent() {
			h.recordLocked(body)
		}
		h.attached = true
	}
	if h.onEvent == nil {
		h.onEvent = onEvent
	}
	return h.store
}

// push is sandbox.Options.Webhooks.
func (h *sandboxHooks) push(_ context.Context, body []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.attached {
		return // attach reads it from the sandbox's Webhooks
	}
	if ev, ok := h.recordLocked(body); ok && h.onEvent != nil {
		h.onEvent(ev)
	}
}

// recordLocked parses one body and records it in the store, once; ok when
// the store applied it.
func (h *sandboxHooks) recordLocked(body []byte) (webhook.Event, bool) {
	sum := sha256.Sum256(body)
	if _, dup := h.recorded[sum]; dup {
		return webhook.Event{}, false
	}
	h.recorded[sum] = struct{}{}
	ev, err := webhook.Parse(body)
	if err != nil {
		h.logger.Warn("sandbox webhook not understood", "err", err)
		return webhook.Event{}, false
	}
	if ev.Kind == webhook.Unknown {
		return webhook.Event{}, false
	}
	ev.Received = h.now()
	out, err := h.store.Record(ev)
	if err != nil {
		h.logger.Warn("sandbox webhook not recorded", "event", ev.Name, "account", ev.AccountID, "err", err)
		return webhook.Event{}, false
	}
	return ev, out == webhook.Applied
}
