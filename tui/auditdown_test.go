package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// downAudit is an audit that can say a record was not written (Appender),
// as the app's store does when PostgreSQL is unreachable.
type downAudit struct {
	mu   sync.Mutex
	down bool
	err  error // what Append says while down; nil: "cannot reach the database"
	recs []audit.Record
}

func (a *downAudit) Append(r audit.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		if a.err != nil {
			return a.err
		}
		return errors.New("cannot reach the database")
	}
	a.recs = append(a.recs, r)
	return nil
}

func (a *downAudit) Record(r audit.Record) { _ = a.Append(r) }

// With the audit unwritable the mint stops: nothing is asked of Mono, the
// token line says why, and the agent can try again once it is back — the
// mint then goes ahead, its request recorded first.
func TestNoMintWhenTheAuditCannotRecordIt(t *testing.T) {
	au := &downAudit{down: true}
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) { d.Audit = au }})
	openWrongOTP(t, h)
	mint := "POST /accounts/" + wrongOTPID + "/reauthorise"
	h.key("t")
	h.until("mint refused", func(m Model) bool { return m.session.sess.MintError() != "" })
	if got := countLog(h.sb, mint); got != 0 {
		t.Fatalf("%d mint requests reached Mono with the audit down", got)
	}
	if v := plain(h.m); !strings.Contains(v, "the audit cannot be written, so no token was minted") {
		t.Fatalf("the screen does not say why:\n%s", v)
	}
	if h.m.session.sess.Phase() != state.Explaining || !h.m.keys.Mint.Enabled() {
		t.Fatalf("phase %v, mint enabled %v: the agent cannot try again", h.m.session.sess.Phase(), h.m.keys.Mint.Enabled())
	}

	au.mu.Lock()
	au.down = false
	au.mu.Unlock()
	h.key("t")
	h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	if got := countLog(h.sb, mint); got != 1 {
		t.Fatalf("%d mint requests after the audit came back, want 1", got)
	}
	au.mu.Lock()
	defer au.mu.Unlock()
	var actions []audit.Action
	for _, r := range au.recs {
		actions = append(actions, r.Action)
	}
	if !slices.Contains(actions, audit.ActionTokenMintRequested) {
		t.Fatalf("the mint that went ahead has no token_mint_requested record: %v", actions)
	}
}

// A store that does not answer (the audit's commit timed out) is said to
// be the audit's: never "Mono did not answer in time", since Mono was
// never asked.
func TestAuditTimeoutIsNotSaidToBeMonos(t *testing.T) {
	au := &downAudit{down: true, err: fmt.Errorf("commit: %w", context.DeadlineExceeded)}
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) { d.Audit = au }})
	openWrongOTP(t, h)
	h.key("t")
	h.until("mint refused", func(m Model) bool { return m.session.sess.MintError() != "" })
	v := plain(h.m)
	if strings.Contains(v, "Mono did not answer") {
		t.Fatalf("an audit timeout is blamed on Mono:\n%s", v)
	}
	if !strings.Contains(v, "the audit cannot be written, so no token was minted") || !strings.Contains(v, "did not answer in time") {
		t.Fatalf("the screen does not say the audit store timed out:\n%s", v)
	}
	if got := countLog(h.sb, "POST /accounts/"+wrongOTPID+"/reauthorise"); got != 0 {
		t.Fatalf("%d mint requests reached Mono", got)
	}
}
