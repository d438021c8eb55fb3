package app

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/state/audit"
)

// nextClaim waits for the next claim change on ch that ok accepts.
func nextClaim(t *testing.T, ch <-chan claim.Claim, what string, ok func(claim.Claim) bool) claim.Claim {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case c, open := <-ch:
			if !open {
				t.Fatalf("claim news closed before %s", what)
			}
			if ok(c) {
				return c
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Two runtimes on one PostgreSQL (replicas): a claim taken through one
// runtime's Deps is refused to the other's with its holder, taken over
// when asked, and the first runtime's programs hear of the takeover (the
// change feed) naming both agents.
func TestClaimsAcrossTwoRuntimesOnOnePostgres(t *testing.T) {
	cleanEnv(t)
	url := storetest.PostgresURL(t)
	// An hour's tick: only PostgreSQL's NOTIFY (and a process's own writes)
	// can explain news arriving within the test.
	fast := Tune{ClaimsPollEvery: time.Hour}
	_, one := setupRuntime(t, Config{Sandbox: true, Files: Files{Database: url}, Tune: fast})
	_, two := setupRuntime(t, Config{Sandbox: true, Files: Files{Database: url}, Tune: fast})
	ada, bola := audit.Agent{User: "ada", Via: audit.ViaSSH}, audit.Agent{User: "bola", Via: audit.ViaSSH}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	adaClaims, bolaClaims := one.Deps(ada).Claims, two.Deps(bola).Claims
	adaNews, bolaNews := adaClaims.Watch(ctx, nil), bolaClaims.Watch(ctx, nil)
	const acc = "65f1c0ffee0000000000dddd"

	if _, err := adaClaims.Take(ctx, acc, "ada-1", "minting a token", "", false); err != nil {
		t.Fatal(err)
	}
	got := nextClaim(t, bolaNews, "ada's claim on the other replica", func(c claim.Claim) bool { return c.Account == acc })
	if got.Holder.User != "ada" || got.Attempt != "ada-1" {
		t.Fatalf("replica two heard %+v", got)
	}
	if err := adaClaims.Update(ctx, acc, "ada-1", "page live", "customer's last step: submitted OTP"); err != nil {
		t.Fatal(err)
	}
	nextClaim(t, bolaNews, "ada's refresh", func(c claim.Claim) bool { return c.Step == "customer's last step: submitted OTP" })

	_, err := bolaClaims.Take(ctx, acc, "bola-1", "starting an attempt", "", false)
	var held *claim.HeldError
	if !errors.As(err, &held) || held.Claim.Holder.User != "ada" || held.Claim.Doing() != "page live, customer's last step: submitted OTP" {
		t.Fatalf("bola's take without asking: %v", err)
	}
	if _, err := bolaClaims.Take(ctx, acc, "bola-1", "starting an attempt", "", true); err != nil {
		t.Fatal(err)
	}
	taken := nextClaim(t, adaNews, "the takeover on ada's replica", func(c claim.Claim) bool { return c.Account == acc && c.Attempt == "bola-1" })
	if taken.Holder.User != "bola" || taken.From == nil || taken.From.Holder.User != "ada" || taken.From.Attempt != "ada-1" {
		t.Fatalf("ada's replica heard %+v (from %+v)", taken, taken.From)
	}
	if err := adaClaims.Update(ctx, acc, "ada-1", "page live", ""); !errors.Is(err, claim.ErrNotHeld) {
		t.Fatalf("ada's refresh after the takeover: %v", err)
	}
	if err := bolaClaims.Release(ctx, acc, "bola-1"); err != nil {
		t.Fatal(err)
	}
	nextClaim(t, adaNews, "the release", func(c claim.Claim) bool { return c.Account == acc && !c.Live() })
}

// The plain-files store keeps claims in the process's memory: one runtime's
// programs still share them.
func TestClaimsOnTheFileStoreAreInMemory(t *testing.T) {
	dir := cleanEnv(t)
	_, rt := setupRuntime(t, Config{Sandbox: true, Files: Files{AuditLog: filepath.Join(dir, "audit.jsonl")}})
	if _, ok := rt.Storage().Claims().(*claim.Memory); !ok {
		t.Fatalf("claims backend %T", rt.Storage().Claims())
	}
	ctx := context.Background()
	a, b := rt.Deps(audit.Agent{User: "ada"}).Claims, rt.Deps(audit.Agent{User: "bola"}).Claims
	if _, err := a.Take(ctx, "acc", "ada-1", "", "", false); err != nil {
		t.Fatal(err)
	}
	var held *claim.HeldError
	if _, err := b.Take(ctx, "acc", "bola-1", "", "", false); !errors.As(err, &held) || held.Claim.Holder.User != "ada" {
		t.Fatalf("bola's take: %v", err)
	}
}
