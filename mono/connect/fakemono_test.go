package connect

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
)

// The page, its simulated widget and the fake Mono together: tokens minted
// through the real client, completion reported through SandboxComplete.
func TestSandboxWidgetWithTheFakeMono(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64 // the fake Mono's clock runs ahead by this much
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	sb := sandbox.New(sandbox.Options{Seed: 7, Accounts: 40, Now: now})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	client, err := mono.NewClient(mono.Config{BaseURL: sb.URL(), SecretKey: sandbox.SecretKey, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	scenarioAccount := func(want sandbox.Scenario) mono.Account {
		for _, a := range sandbox.Scenarios() {
			if a.Scenario == want {
				acct, err := client.Account(context.Background(), a.ID)
				if err != nil {
					t.Fatal(err)
				}
				return acct
			}
		}
		t.Fatalf("no %s account", want)
		return mono.Account{}
	}
	cfg := sandboxConfig()
	cfg.PublicKey = sandbox.PublicKey
	cfg.AutoplayStepDelay, cfg.SandboxOpenDelay = 30*time.Millisecond, 100*time.Millisecond
	cfg.SandboxComplete = func(ctx context.Context, token string) error {
		_, err := sb.CompleteReauth(token)
		return err
	}

	t.Run("succeeds, autoplay", func(t *testing.T) {
		c := cfg
		c.Autoplay = true
		srv := startServer(t, c)
		acct := scenarioAccount(sandbox.ScenarioSucceeds)
		tok, err := client.Reauthorise(context.Background(), acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		s, err := srv.NewSession(SessionParams{Account: acct, Token: tok, Scenario: string(sandbox.ScenarioFor(acct.ID))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, _ := newTab(t)
		navigate(t, ctx, s.URL())
		waitFor(t, s, 20*time.Second, func(ev mono.WidgetEvent) bool { return ev.Callback == mono.CallbackSuccess })
		if _, live := sb.TokenValid(tok.Value); live {
			t.Error("the fake Mono still holds the token as unused after success")
		}
	})

	t.Run("token expired at the bank: the widget shows an ERROR", func(t *testing.T) {
		srv := startServer(t, cfg)
		acct := scenarioAccount(sandbox.ScenarioTokenExpires)
		tok, err := client.Reauthorise(context.Background(), acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		s, err := srv.NewSession(SessionParams{Account: acct, Token: tok, Scenario: string(sandbox.ScenarioFor(acct.ID))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, _ := newTab(t)
		navigate(t, ctx, s.URL())
		clickOn(t, ctx, "INSTITUTIONS", ".bank")
		clickOn(t, ctx, "AUTH_METHOD", "#auth-internet_banking")
		clickOn(t, ctx, "LOGIN", "#login-submit")
		clickOn(t, ctx, "MFA", "#otp-submit")
		waitWidgetPage(t, ctx, "ACCOUNTS")
		// The customer dawdled: by the fake Mono's clock the token is gone.
		skew.Store(int64(mono.TokenLifetime + time.Minute))
		clickOn(t, ctx, "ACCOUNTS", "#accounts-submit")
		ev := waitFor(t, s, 20*time.Second, func(ev mono.WidgetEvent) bool {
			return ev.Name == mono.EventError || ev.Callback == mono.CallbackSuccess
		})
		if ev.Name != mono.EventError || ev.Data.ErrorType != "REAUTH_FAILED" || !strings.Contains(ev.Data.ErrorMessage, "expired") {
			t.Fatalf("want an ERROR about the expired token, got %+v", ev)
		}
		if strings.Contains(ev.Data.ErrorMessage, tok.Value) {
			t.Error("the token leaked into the error message")
		}
		clickOn(t, ctx, "ERROR", "#error-close")
		if ev := next(t, s, 10*time.Second); ev.Callback != mono.CallbackClose {
			t.Fatalf("want close, got %+v", ev)
		}
	})
}
