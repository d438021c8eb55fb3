package connect

import (
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// An event is handed straight to Events when nothing waits ahead of it, and
// through the pump's queue otherwise. Posts accepted back to back while the
// consumer reads in fits and starts make the two paths alternate thousands
// of times (and meet the pump with an event on its way): every event must
// still arrive exactly once, in seq order.
func TestDirectAndQueuedDeliveryKeepOrder(t *testing.T) {
	srv := startServer(t, sandboxConfig(), func(tu *tuning) { tu.rateBurst = 1e9; tu.rateRefill = 1e9 })
	s := newSess(t, srv, "acct1", "")
	const n = 20000
	got := make(chan []int64, 1)
	go func() {
		var seqs []int64
		for len(seqs) < n {
			ev, ok := <-s.Events()
			if !ok {
				break
			}
			if ev.Seq == 0 {
				continue // server-made
			}
			seqs = append(seqs, ev.Seq)
			if len(seqs)%501 == 0 {
				time.Sleep(time.Millisecond) // fall behind: the queue fills, then empties
			}
		}
		got <- seqs
	}()
	for seq := int64(1); seq <= n; seq++ {
		// Every one an outcome: none may be dropped however far behind the
		// consumer is.
		ev := mono.WidgetEvent{Seq: seq, Callback: mono.CallbackEvent, Name: mono.EventError, At: time.Now()}
		if v := s.accept(ev, ""); v.status != 204 {
			t.Fatalf("seq %d refused: %d %s", seq, v.status, v.why)
		}
	}
	var seqs []int64
	select {
	case seqs = <-got:
	case <-time.After(60 * time.Second):
		t.Fatal("the consumer never got every event")
	}
	if len(seqs) != n {
		t.Fatalf("got %d events, want %d", len(seqs), n)
	}
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("event %d has seq %d, want %d (out of order or lost)", i, seq, i+1)
		}
	}
	if d := s.Dropped(); d != 0 {
		t.Errorf("%d outcomes dropped", d)
	}
}
