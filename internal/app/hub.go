package app

import (
	"context"
	"strings"

	"github.com/reauth/reauth/internal/link"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/tui"
)

// Hub fans webhook news out to every running program (and a `reauth link`
// run). Publishing never blocks: a subscriber that is not reading misses a
// signal, and the marks store still has it.
type Hub struct{ b *broker[tui.AccountSignal] }

// NewHub is a hub with no subscribers.
func NewHub() *Hub { return &Hub{b: newBroker[tui.AccountSignal](16, nil)} }

// Subscribe is tui.Deps.Signals: news from now on, until ctx ends (then the
// channel closes).
func (h *Hub) Subscribe(ctx context.Context) <-chan tui.AccountSignal { return h.b.subscribe(ctx) }

// Publish tells every subscriber.
func (h *Hub) Publish(sig tui.AccountSignal) { h.b.publish(sig) }

// PublishEvent tells every subscriber about an event the marks store
// applied (SignalOf).
func (h *Hub) PublishEvent(ev webhook.Event) { h.Publish(SignalOf(ev)) }

// SignalOf is what programs are told of an applied webhook: at Mono's time
// for it (When), whether it marks the account as needing reauth (an
// unlinking does not: it cannot be re-authorised), whether it is
// account_reauthorized, and account_updated's sync_status (SUCCESSFUL is
// what turns a succeeded attempt Verified).
func SignalOf(ev webhook.Event) tui.AccountSignal {
	kind, marks := ev.Marks()
	return tui.AccountSignal{AccountID: ev.AccountID, Event: ev.Name,
		NeedsReauth:  marks && kind != webhook.MarkUnlinked,
		Reauthorized: ev.Kind == webhook.Reauthorized,
		DataStatus:   ev.DataStatus, SyncStatus: ev.SyncStatus, At: ev.When()}
}

// signalOfMark is what programs are told when the store holds m for
// accountID (a mark, an unlinking, or a clearing) that another process
// wrote.
func signalOfMark(accountID string, m webhook.Mark) tui.AccountSignal {
	return tui.AccountSignal{AccountID: accountID, Event: m.Event, NeedsReauth: m.NeedsReauth(),
		Reauthorized: m.Kind == webhook.Cleared && isReauthorizedEvent(m.Event),
		DataStatus:   m.DataStatus, SyncStatus: m.SyncStatus, At: m.At}
}

// isReauthorizedEvent reports whether a Mark's event is Mono's
// account_reauthorized (either spelling).
func isReauthorizedEvent(name string) bool {
	name = strings.ToLower(strings.TrimSpace(name))
	return name == webhook.Reauthorized.String() || name == "mono.events.account_reauthorised"
}

// LinkSignals forwards the hub's news about one account to a `reauth link`
// run (link.Options.Signals) until ctx ends.
func (h *Hub) LinkSignals(ctx context.Context, accountID string) <-chan link.Signal {
	in := h.Subscribe(ctx)
	out := make(chan link.Signal, 8)
	go func() {
		defer close(out)
		for sig := range in {
			if sig.AccountID != accountID {
				continue // a webhook for another account never touches this run
			}
			select {
			case out <- link.Signal{AccountID: sig.AccountID, Reauthorized: sig.Reauthorized, SyncStatus: sig.SyncStatus, At: sig.At}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
