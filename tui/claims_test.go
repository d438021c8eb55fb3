package tui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// teamClaims is the team's claims for programs in one test: a memory
// backend and every write told to every watcher, as the app's runtime
// does.
type teamClaims struct {
	m    *claim.Memory
	mu   sync.Mutex
	subs []chan claim.Claim
}

func newTeamClaims() *teamClaims { return &teamClaims{m: claim.NewMemory()} }

func (tc *teamClaims) publish(c claim.Claim) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for _, ch := range tc.subs {
		ch <- c
	}
}

func (tc *teamClaims) as(user string, now func() time.Time) Claims {
	return agentClaimsFake{tc: tc, agent: audit.Agent{User: user, Via: audit.ViaSSH}, now: now}
}

type agentClaimsFake struct {
	tc    *teamClaims
	agent audit.Agent
	now   func() time.Time
}

func (a agentClaimsFake) Get(ctx context.Context, account string) (claim.Claim, bool, error) {
	return a.tc.m.Get(ctx, account)
}

func (a agentClaimsFake) Take(ctx context.Context, account, attempt, phase, step string, takeOver bool) (claim.Claim, error) {
	c, err := a.tc.m.Take(ctx, claim.Take{Account: account, Holder: a.agent, Attempt: attempt, Phase: phase, Step: step, TakeOver: takeOver, Now: a.now()})
	if err == nil {
		a.tc.publish(c)
	}
	return c, err
}

func (a agentClaimsFake) Update(ctx context.Context, account, attempt, phase, step string) error {
	c, err := a.tc.m.Update(ctx, claim.Update{Account: account, Attempt: attempt, Phase: phase, Step: step, Now: a.now()})
	if err == nil {
		a.tc.publish(c)
	}
	return err
}

func (a agentClaimsFake) Release(ctx context.Context, account, attempt string) error {
	ok, err := a.tc.m.Release(ctx, account, attempt, a.now())
	if ok {
		c, _, _ := a.tc.m.Get(ctx, account)
		a.tc.publish(c)
	}
	return err
}

func (a agentClaimsFake) Watch(ctx context.Context, _ func(string) bool) <-chan claim.Claim {
	ch := make(chan claim.Claim, 256)
	a.tc.mu.Lock()
	a.tc.subs = append(a.tc.subs, ch)
	a.tc.mu.Unlock()
	return ch
}

// Two agents' programs on one account: Bola sees Ada's claim (who, since
// when, what she is at); t asks before taking it over; yes takes it, Ada's
// attempt ends TAKEN OVER naming Bola in her pane and banner, her page
// closes, and the audit has both sides: her outcome naming Bola, his
// "took over from ada".
func TestClaimTakeOverBetweenTwoPrograms(t *testing.T) {
	team := newTeamClaims()
	ada := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) {
		d.Agent = "ada"
		d.Claims = team.as("ada", d.Now)
	}})
	bola := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) {
		d.Agent = "bola"
		d.Claims = team.as("bola", d.Now)
	}})
	openWrongOTP(t, ada)
	openWrongOTP(t, bola)
	account := ada.m.session.account.ID

	// Looking is not taking: nothing claimed yet.
	if _, ok, _ := team.m.Get(context.Background(), account); ok {
		t.Fatal("opening the account claimed it")
	}
	ada.mintAndOpenPage()
	page := ada.pages.last()
	page.events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackEvent, Name: mono.EventSubmitCredentials, At: ada.clock.Now()}
	ada.until("widget live", func(m Model) bool { return m.session.sess.Phase() == state.WidgetLive })
	ada.until("claim refreshed", func(Model) bool {
		c, _, _ := team.m.Get(context.Background(), account)
		return c.Phase == "page live"
	})

	want := "ada is re-authorising this account since 14:00 — page live, customer's last step: submitted login details"
	bola.until("Ada's claim shown", func(m Model) bool { return strings.Contains(plain(m), want) })

	// t asks first; n leaves Ada alone.
	bola.key("t")
	bola.until("the question", func(m Model) bool { return m.session.dialog == confirmTakeOver })
	if v := plain(bola.m); !strings.Contains(v, "Take over from ada (since") || !strings.Contains(v, "y / n") {
		t.Fatalf("no question:\n%s", v)
	}
	bola.key("n")
	if bola.m.session.sess.Phase() != state.Explaining || bola.m.session.dialog != noDialog {
		t.Fatalf("n changed Bola's attempt: %s", bola.m.session.sess.Phase())
	}
	if c, _, _ := team.m.Get(context.Background(), account); c.Holder.User != "ada" {
		t.Fatalf("n took the claim: %+v", c)
	}

	// Six minutes on: Ada's program keeps her claim fresh (not stale), so
	// Bola is asked again.
	ada.tick(6 * time.Minute)
	ada.until("Ada's claim refreshed", func(Model) bool {
		c, _, _ := team.m.Get(context.Background(), account)
		return c.Updated.Equal(ada.clock.Now())
	})
	bola.clock.Advance(6 * time.Minute)
	bola.key("t")
	bola.until("the question again", func(m Model) bool { return m.session.dialog == confirmTakeOver })
	bola.key("y")
	bola.until("Bola's token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	if v := plain(bola.m); !strings.Contains(v, "You took over this account from ada") {
		t.Fatalf("Bola's pane does not say it:\n%s", v)
	}

	ada.until("Ada told", func(m Model) bool { return m.session.sess.Phase() == state.TakenOver })
	v := plain(ada.m)
	for _, w := range []string{"TAKEN OVER", "bola took over this account at 14:06"} {
		if !strings.Contains(v, w) {
			t.Fatalf("Ada's screen lacks %q:\n%s", w, v)
		}
	}
	ada.until("Ada's page closed", func(Model) bool {
		select {
		case <-page.Done():
			return true
		default:
			return false
		}
	})
	ada.until("Ada's outcome recorded", func(Model) bool {
		for _, r := range ada.audit.recsCopy() {
			if r.Action == audit.ActionOutcome && r.Outcome == "TAKEN OVER" && strings.Contains(r.Detail, "bola") {
				return true
			}
		}
		return false
	})
	for _, r := range ada.audit.recsCopy() {
		if r.Action == audit.ActionOutcome && r.Outcome == "ENDED BY AGENT" {
			t.Fatalf("Ada's attempt recorded as ended by her: %+v", r)
		}
	}
	bola.until("Bola's takeover recorded", func(Model) bool {
		for _, r := range bola.audit.recsCopy() {
			if r.Action == audit.ActionClaimTakenOver && strings.Contains(r.Detail, "ada") && strings.Contains(r.Detail, ada.m.session.id()) {
				return true
			}
		}
		return false
	})
	if c, _, _ := team.m.Get(context.Background(), account); c.Holder.User != "bola" || c.From == nil || c.From.Holder.User != "ada" {
		t.Fatalf("claim after takeover: %+v", c)
	}
	// Ada sees Bola's claim now; her t would ask her in turn.
	ada.until("Bola's claim shown to Ada", func(m Model) bool {
		return strings.Contains(plain(m), "bola is re-authorising this account since 14:06")
	})

	// Bola's outcome releases it.
	bola.key("esc")
	bola.key("y")
	bola.until("released", func(Model) bool {
		c, _, _ := team.m.Get(context.Background(), account)
		return !c.Live()
	})
	ada.until("the claim line gone", func(m Model) bool { return !strings.Contains(plain(m), "is re-authorising this account") })
}

// News of the colleague's claim written before this attempt took the
// account over can reach the program after the take's answer (news has its
// own channel). It is older than the take: the attempt keeps the account
// and is not told it was taken back. (Before versions were compared, this
// ended Bola's attempt "TAKEN OVER: ada took over" about one run in two of
// the package's tests.)
func TestOlderClaimNewsAfterATakeOverIsNotATakeBack(t *testing.T) {
	team := newTeamClaims()
	ada := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) {
		d.Agent = "ada"
		d.Claims = team.as("ada", d.Now)
	}})
	bola := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) {
		d.Agent = "bola"
		d.Claims = team.as("bola", d.Now)
	}})
	openWrongOTP(t, ada)
	openWrongOTP(t, bola)
	account := ada.m.session.account.ID
	ada.mintAndOpenPage()
	adas, ok, _ := team.m.Get(context.Background(), account)
	if !ok || adas.Holder.User != "ada" || !adas.Live() {
		t.Fatalf("Ada holds no claim: %+v", adas)
	}
	bola.key("t")
	bola.until("the question", func(m Model) bool { return m.session.dialog == confirmTakeOver })
	bola.key("y")
	bola.until("Bola's token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })

	bola.send(ClaimSignal{Claim: adas}) // Ada's claim as it was before the take, arriving late
	if ph := bola.m.session.sess.Phase(); ph != state.TokenReady || !bola.m.session.claims.holding {
		t.Fatalf("late news of Ada's old claim moved Bola's attempt to %s (holding %v):\n%s", ph, bola.m.session.claims.holding, plain(bola.m))
	}
	if v := plain(bola.m); strings.Contains(v, "TAKEN OVER") {
		t.Fatalf("Bola is told the account was taken back:\n%s", v)
	}
	// Newer news still counts: Ada taking it back is a take-back.
	ada.until("Ada told", func(m Model) bool { return m.session.sess.Phase() == state.TakenOver })
	back, err := team.m.Take(context.Background(), claim.Take{Account: account, Holder: audit.Agent{User: "ada", Via: audit.ViaSSH},
		Attempt: "ada-2", TakeOver: true, Now: ada.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	bola.send(ClaimSignal{Claim: back})
	if ph := bola.m.session.sess.Phase(); ph != state.TakenOver {
		t.Fatalf("Ada's newer take left Bola's attempt at %s", ph)
	}
}

// The account screen with a colleague's claim (who, since when, what they
// are at), the question before taking it over, and the attempt a colleague
// took over (banner and pane naming them), at every golden size.
func TestGoldenClaimViews(t *testing.T) {
	colleague := func(h *harness, user string, at time.Time) claim.Claim {
		return claim.Claim{Account: h.m.session.account.ID, Holder: audit.Agent{User: user, Via: audit.ViaSSH}, Attempt: user + "-1",
			Since: at, Phase: "page live", Step: "customer's last step: submitted login details", Updated: at, Version: 1}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, h *harness)
	}{
		{"claimed", func(t *testing.T, h *harness) {
			openWrongOTP(t, h)
			h.send(ClaimSignal{Claim: colleague(h, "ada", h.clock.Now())})
		}},
		{"take_over_question", func(t *testing.T, h *harness) {
			openWrongOTP(t, h)
			h.send(claimTakeMsg{err: &claim.HeldError{Claim: colleague(h, "ada", h.clock.Now())}})
		}},
		{"taken_over", func(t *testing.T, h *harness) {
			openWrongOTP(t, h)
			h.mintAndOpenPage()
			h.m.session.claims.holding = true // as if taken (the harness has no Claims)
			c := colleague(h, "bola", h.clock.Now().Add(12*time.Minute))
			c.Phase, c.Step = "starting an attempt", ""
			c.From = &claim.Taken{Holder: audit.Agent{User: "ada"}, Attempt: h.m.session.id(), At: c.Since}
			h.send(ClaimSignal{Claim: c})
			if h.m.session.sess.Phase() != state.TakenOver {
				t.Fatalf("phase %s", h.m.session.sess.Phase())
			}
		}},
	}
	for _, c := range cases {
		for _, sz := range [][2]int{{80, 24}, {120, 40}, {200, 60}} {
			for _, dark := range []bool{true, false} {
				bg := "light"
				if dark {
					bg = "dark"
				}
				t.Run(fmt.Sprintf("%s_%dx%d_%s", c.name, sz[0], sz[1], bg), func(t *testing.T) {
					h := newHarness(t, harnessOpts{width: sz[0], height: sz[1], dark: dark})
					c.setup(t, h)
					golden.RequireEqual(t, h.m.View().Content)
				})
			}
		}
	}
}

// A claim whose holder stopped refreshing it (their program is gone) is
// taken without asking, and the pane says whose it was and since when
// nothing was heard of them.
func TestStaleClaimIsTakenSayingSo(t *testing.T) {
	team := newTeamClaims()
	bola := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) {
		d.Agent = "bola"
		d.Claims = team.as("bola", d.Now)
	}})
	openWrongOTP(t, bola)
	at := bola.clock.Now()
	if _, err := team.as("ada", func() time.Time { return at }).Take(context.Background(), bola.m.session.account.ID, "ada-1", "page live", "", false); err != nil {
		t.Fatal(err)
	}
	bola.until("ada's claim shown", func(m Model) bool {
		return strings.Contains(plain(m), "ada is re-authorising this account since 14:00")
	})
	bola.clock.Advance(claim.DefaultStaleAfter + time.Minute)
	bola.key("t")
	bola.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	if bola.m.session.dialog != noDialog {
		t.Fatal("a stale claim asked")
	}
	if v := plain(bola.m); !strings.Contains(v, "You took over this account from ada (their claim was stale: no sign of their program since 14:00)") {
		t.Fatalf("the pane does not say so:\n%s", v)
	}
	bola.until("recorded", func(Model) bool {
		for _, r := range bola.audit.recsCopy() {
			if r.Action == audit.ActionClaimTakenOver && strings.Contains(r.Detail, "stale") {
				return true
			}
		}
		return false
	})
}

// goneReplicaClaims takes claims as a replica that sees replica "r0" gone
// from the registry (claim.Take.GoneReplica).
type goneReplicaClaims struct{ agentClaimsFake }

func (g goneReplicaClaims) Take(ctx context.Context, account, attempt, phase, step string, takeOver bool) (claim.Claim, error) {
	c, err := g.tc.m.Take(ctx, claim.Take{Account: account, Holder: g.agent, Attempt: attempt, Phase: phase, Step: step,
		TakeOver: takeOver, Replica: "r1", GoneReplica: "r0", Now: g.now()})
	if err == nil {
		g.tc.publish(c)
	}
	return c, err
}

// An agent who takes the account from their own attempt on a replica that
// died (same key) is told it was their own interrupted attempt, not named
// to themself as a colleague.
func TestOwnInterruptedAttemptIsSaidAsYours(t *testing.T) {
	team := newTeamClaims()
	ada := audit.Agent{User: "ada", Via: audit.ViaSSH, KeyFingerprint: "SHA256:ada"}
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) {
		d.Agent, d.AgentKey = "ada", ada.KeyFingerprint
		d.Claims = goneReplicaClaims{agentClaimsFake{tc: team, agent: ada, now: d.Now}}
	}})
	openWrongOTP(t, h)
	if _, err := team.m.Take(context.Background(), claim.Take{Account: h.m.session.account.ID, Holder: ada, Attempt: "ada-0",
		Phase: "page live", Replica: "r0", Now: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	h.key("t")
	h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	v := plain(h.m)
	if !strings.Contains(v, "You took this account from your own interrupted attempt") || strings.Contains(v, "ada's interrupted") {
		t.Fatalf("the pane does not say it was her own:\n%s", v)
	}
}

// The History does not say "no outcome" of an attempt the team's claims
// say is running elsewhere: it says "in progress", "interrupted" when the
// server running it went silent, or when its program stopped refreshing
// the claim only what is known ("no word since 14:00"), never "in progress".
func TestHistorySaysALiveAttemptIsInProgress(t *testing.T) {
	for _, tc := range []struct {
		name  string
		gone  bool
		stale bool
		want  string
	}{{"live", false, false, "in progress"}, {"its server went silent", true, false, "interrupted"},
		{"its program went quiet", false, true, "no word since 14:00"}} {
		t.Run(tc.name, func(t *testing.T) {
			team := newTeamClaims()
			bola := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) {
				d.Agent = "bola"
				d.Claims = team.as("bola", d.Now)
				d.ReplicaGone = func(string, time.Time) bool { return tc.gone }
			}})
			bola.until("loaded", loaded)
			var id string
			for _, a := range bola.m.search.accounts {
				if strings.Contains(a.Name, "Okonkwo") {
					id = a.ID
				}
			}
			at := bola.clock.Now()
			// Ada's attempt so far, as the shared audit holds it: no outcome yet.
			for i, act := range []audit.Action{audit.ActionSessionStarted, audit.ActionTokenMintRequested, audit.ActionTokenMinted, audit.ActionPageOpened} {
				bola.audit.Record(audit.Record{Time: at, Agent: audit.Agent{User: "ada"}, Session: "ada-1", Seq: i + 1, Account: id, Action: act})
			}
			if _, err := team.m.Take(context.Background(), claim.Take{Account: id, Holder: audit.Agent{User: "ada", Via: audit.ViaSSH},
				Attempt: "ada-1", Phase: "page live", Replica: "r0", Now: at}); err != nil {
				t.Fatal(err)
			}
			if tc.stale {
				bola.clock.Advance(claim.DefaultStaleAfter + time.Minute)
			}
			openWrongOTP(t, bola)
			historyLine := func(m Model) string {
				for _, l := range strings.Split(plain(m), "\n") {
					if strings.Contains(l, "History ") {
						return l
					}
				}
				return ""
			}
			// The History (the audit's read) and the account's claim (the
			// claims' read) land in either order: wait for both.
			bola.until("ada's attempt in the History, "+tc.want, func(m Model) bool { return strings.Contains(historyLine(m), tc.want) })
			if l := historyLine(bola.m); !strings.Contains(l, "ada") || strings.Contains(l, "no outcome") {
				t.Fatalf("History %q, want ada's attempt %s:\n%s", l, tc.want, plain(bola.m))
			}
		})
	}
}
