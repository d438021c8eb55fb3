package connect

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// postAsync posts one event as the page does, on a goroutine of its own:
// the status arrives on the channel (0 for a transport error).
func postAsync(srv *Server, s *Session, secret string, body []byte) <-chan int {
	out := make(chan int, 1)
	go func() {
		hr, err := http.NewRequest(http.MethodPost, loopback(srv)+"/s/"+s.ID()+"/events", bytes.NewReader(body))
		if err != nil {
			out <- 0
			return
		}
		hr.Host = "pages.example"
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("Origin", sharedPublic)
		hr.Header.Set(SecretHeader, secret)
		resp, err := testClient.Do(hr)
		if err != nil {
			out <- 0
			return
		}
		_ = resp.Body.Close()
		out <- resp.StatusCode
	}()
	return out
}

func answered(t *testing.T, ch <-chan int, within time.Duration) int {
	t.Helper()
	select {
	case code := <-ch:
		return code
	case <-time.After(within):
		t.Fatalf("no answer within %v", within)
		return 0
	}
}

// With AckRecorded, the page's outcome post is answered once its consumer
// says the event is recorded: a 204 then means it is in the audit. Chatter
// is answered at once. Without a word from the consumer, the answer goes
// out at the bound.
func TestOutcomeIsAnsweredOnceRecorded(t *testing.T) {
	cfg := sandboxConfig()
	cfg.PublicURL = sharedPublic
	cfg.AckRecorded = true
	srv := startServer(t, cfg, func(tu *tuning) { tu.recordedWait = time.Hour })
	s := newSess(t, srv, "acc_ack", "")
	p := &page{t: t, id: s.ID(), secret: secretOf(s)}
	p.config(srv)
	if ev := next(t, s, 5*time.Second); !ev.IsPageOpen() {
		t.Fatalf("first event %+v", ev)
	}

	// Chatter: answered without waiting for anything.
	if code := answered(t, postAsync(srv, s, p.secret, pagePost(1, "event", "OPENED", p.pageID)), 10*time.Second); code != http.StatusNoContent {
		t.Fatalf("chatter: %d", code)
	}
	if ev := next(t, s, 5*time.Second); ev.Seq != 1 {
		t.Fatalf("got %+v", ev)
	}
	// An outcome: delivered at once, answered only after Recorded.
	done := postAsync(srv, s, p.secret, pagePost(2, "event", "ERROR", p.pageID))
	if ev := next(t, s, 5*time.Second); ev.Seq != 2 || !ev.IsOutcome() {
		t.Fatalf("got %+v", ev)
	}
	s.Recorded(1) // older than the outcome: not enough
	select {
	case code := <-done:
		t.Fatalf("the outcome was answered %d before it was recorded", code)
	default:
	}
	s.Recorded(2)
	if code := answered(t, done, 10*time.Second); code != http.StatusNoContent {
		t.Fatalf("outcome after Recorded: %d", code)
	}

	// A consumer that never says: answered at the bound.
	quick := startServer(t, cfg, func(tu *tuning) { tu.recordedWait = 50 * time.Millisecond })
	qs := newSess(t, quick, "acc_ack_quick", "")
	qp := &page{t: t, id: qs.ID(), secret: secretOf(qs)}
	qp.config(quick)
	if code := answered(t, postAsync(quick, qs, qp.secret, pagePost(1, "success", "", qp.pageID)), 10*time.Second); code != http.StatusNoContent {
		t.Fatalf("unrecorded outcome at the bound: %d", code)
	}

	// Without AckRecorded nothing waits.
	plain := sandboxConfig()
	plain.PublicURL = sharedPublic
	off := startServer(t, plain, func(tu *tuning) { tu.recordedWait = time.Hour })
	os := newSess(t, off, "acc_ack_off", "")
	op := &page{t: t, id: os.ID(), secret: secretOf(os)}
	op.config(off)
	if code := answered(t, postAsync(off, os, op.secret, pagePost(1, "success", "", op.pageID)), 10*time.Second); code != http.StatusNoContent {
		t.Fatalf("without AckRecorded: %d", code)
	}
}
