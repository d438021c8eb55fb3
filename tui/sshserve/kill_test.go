package sshserve

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/internal/app"
	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// childReplica is a `reauth serve` replica running as a child process (the
// real binary), so the test can SIGKILL it: no deferred cleanup, no Leave
// from the registry, no release of its claims, no last audit write.
type childReplica struct {
	cmd     *exec.Cmd
	dir     string
	sshAddr string
	hostFP  string // SHA256 fingerprint of its host key, as it printed it
	stderr  *syncBuffer
	exited  chan struct{}
}

// buildReauthBinary builds the binary as `make build` does, into a temp dir.
func buildReauthBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "reauth")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/reauth/reauth")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startChildReplica runs `reauth serve --sandbox` as replica id on the
// database at dbURL behind publicURL, letting in the agents of
// authorizedKeys, and returns once it printed its SSH port.
func startChildReplica(t *testing.T, bin, id, dbURL, publicURL, authorizedKeys string) *childReplica {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--sandbox", "--ssh-addr", "127.0.0.1:0",
		"--host-key", filepath.Join(dir, "host_ed25519"), "--authorized-keys", authorizedKeys,
		"--database-url", dbURL, "--public-url", publicURL, "--replica-id", id,
		"--widget-addr", "127.0.0.1:0", "--log-file", filepath.Join(dir, "reauth.log"), "--resume-grace", "1m")
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+dir, "MONO_SECRET_KEY=", "MONO_SECRET_KEY_FILE=", "NO_COLOR=",
		"REAUTH_SSH_HOST_KEY=", "REAUTH_AUDIT_LOG=", "REAUTH_INTERNAL_URL=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &childReplica{cmd: cmd, dir: dir, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // if the test did not already
		<-p.exited
		if t.Failed() {
			logs, _ := os.ReadFile(filepath.Join(dir, "reauth.log"))
			t.Logf("replica %s's stderr:\n%s\nits log:\n%s", id, p.stderr.String(), logs)
		}
	})
	ready := make(chan struct{})
	go func() {
		defer close(p.exited)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			// "reauth serve: ssh -p PORT HOST  (host key SHA256:…)"
			if f := strings.Fields(lines.Text()); p.sshAddr == "" && len(f) > 8 && f[0] == "reauth" && f[2] == "ssh" {
				p.sshAddr = "127.0.0.1:" + f[4]
				p.hostFP = strings.TrimSuffix(f[8], ")")
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("reauth serve (replica %s) ended before printing its SSH port: %v\n%s", id, cmd.ProcessState, p.stderr.String())
	case <-time.After(2 * waitLimit): // a fresh binary's first start migrates the store
		t.Fatalf("reauth serve (replica %s) printed no SSH port in %v", id, 2*waitLimit)
	}
	return p
}

// dial connects user with key to the child, checking its host key against
// the fingerprint it printed.
func (p *childReplica) dial(t *testing.T, user string, key gossh.Signer) *gossh.Client {
	t.Helper()
	pinned := func(_ string, _ net.Addr, k gossh.PublicKey) error {
		if fp := gossh.FingerprintSHA256(k); fp != p.hostFP {
			return fmt.Errorf("host key %s, the server printed %s", fp, p.hostFP)
		}
		return nil
	}
	c, err := gossh.Dial("tcp", p.sshAddr, &gossh.ClientConfig{User: user, Auth: []gossh.AuthMethod{gossh.PublicKeys(key)},
		HostKeyCallback: pinned, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("dial %s as %s: %v", p.sshAddr, user, err)
	}
	return c
}

// Issue 19: kill a replica mid-attempt (SIGKILL). Replica one is the real
// binary in a child process, replica two this process, on one PostgreSQL
// behind a balancer that sends the customer's page to replica two (which
// forwards it to one). Ada's attempt runs on replica one, the customer has
// submitted their login details, and replica one is killed. Bola, on
// replica two, is told within the registry's bound that ada's attempt was
// interrupted and what to do; t takes the account without asking anyone,
// recording her attempt INTERRUPTED and his claim_taken_over naming her
// attempt; everything stored before the kill is still there, unchanged, on
// an intact hash chain; the customer's link answers that it ended.
func TestKillReplicaMidAttempt(t *testing.T) {
	bin := buildReauthBinary(t)
	db := storetest.PostgresURL(t)
	lb := newBalancer(t)
	two := newFixture(t, fixtureOpts{agents: []string{"ada", "bola"}, database: db, claimsEvery: 100 * time.Millisecond,
		resumeGrace: time.Minute, publicURL: lb.URL, replicaID: "r2"})
	lb.to(t, "http://"+two.rt.PagesAddr()) // the customer always reaches replica two
	// Replica one lets in the same agents (one team): replica two's
	// authorized_keys.
	one := startChildReplica(t, bin, "r1", db, lb.URL, two.keysPath)

	// Ada's attempt, on replica one (whose sandbox is seeded as replica
	// two's: the account ids agree).
	const query, holder = "anozie", "Ikechukwu Anozie"
	ada := openTerminal(t, one.dial(t, "ada", two.keys["ada"]), termOpts{width: 120, height: 40})
	pageURL := openPageOnceLoaded(t, ada, "loaded", query, holder)
	if !strings.HasPrefix(pageURL, lb.URL+"/s/r1-") {
		t.Fatalf("ada's page link %q is not replica one's behind the balancer", pageURL)
	}
	// The customer's browser, through the balancer (replica two forwards
	// to one).
	postEvent(t, pageURL, 1, "load", "", nil)
	postEvent(t, pageURL, 2, "event", "SUBMIT_CREDENTIALS", nil)
	ada.waitText("Submitted login details")

	// Acknowledged: what the store holds of ada's attempt (the mint, the
	// page, the customer's events).
	adaFP := gossh.FingerprintSHA256(two.keys["ada"].PublicKey())
	var acked []audit.Record
	waitRecord(t, "ada's attempt in the store up to the customer's login", func() bool {
		acked = two.auditOf(adaFP).records()
		var minted, opened, submitted bool
		for _, r := range acked {
			switch {
			case r.Action == audit.ActionTokenMinted:
				minted = true
			case r.Action == audit.ActionPageOpened:
				opened = true
			case r.Action == audit.ActionWidgetEvent && strings.HasPrefix(r.Event, "Submitted login details"):
				submitted = true
			}
		}
		return minted && opened && submitted
	})
	adaAttempt := ""
	for _, r := range acked {
		if r.Session == "" {
			continue
		}
		if adaAttempt == "" {
			adaAttempt = r.Session
		}
		if r.Session != adaAttempt {
			t.Fatalf("ada has two attempts (%s, %s): %+v", adaAttempt, r.Session, r)
		}
		if r.Action == audit.ActionOutcome {
			t.Fatalf("ada's attempt already has an outcome: %+v", r)
		}
	}

	// Bola, on replica two, sees ada's live attempt (its claim says where
	// the customer is): the claim, replica one's, is fresh.
	bola := two.open("bola", termOpts{width: 120, height: 40})
	openAccount(t, bola, query, holder)
	held := bola.waitText("customer's last step: submitted login details")
	if !strings.Contains(held, "ada is re-authorising this account since") || strings.Contains(held, "interrupted") {
		t.Fatalf("bola's screen does not show ada's live attempt:\n%s", held)
	}

	// Replica one dies: no shutdown, no goodbye.
	killed := time.Now()
	if err := one.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-one.exited

	// Within the registry's bound (replica one's last beat goes stale,
	// then replica two's next read sees it gone), bola is told the attempt
	// was interrupted and what to do.
	const slack = 3 * time.Second // rendering and reading on a busy machine
	bound := app.ReplicaStaleAfter + 2*app.ReplicaBeatEvery + slack
	s := bola.waitFor("ada's attempt shown as interrupted", func(s string) bool {
		return strings.Contains(flatScreen(s), "ada's attempt here was interrupted")
	})
	took := time.Since(killed)
	t.Logf("bola saw ada's attempt interrupted %v after the kill (bound %v)", took.Round(10*time.Millisecond), bound)
	if took > bound {
		t.Errorf("interruption shown %v after the kill, over the bound %v", took, bound)
	}
	for _, want := range []string{"the server running it went silent (last word", "the other servers no longer serve its page",
		"t starts a new attempt (nobody is asked)"} {
		if !strings.Contains(flatScreen(s), want) {
			t.Fatalf("bola's screen does not say %q:\n%s", want, s)
		}
	}

	// The customer's link through the balancer answers that it ended, at
	// once.
	base, secret, _ := strings.Cut(pageURL, "#")
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(base)
	if err != nil {
		t.Fatalf("the page after the kill: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Fatalf("the page after the kill: %s, want 410 Gone", resp.Status)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/events", strings.NewReader(`{"seq":3,"callback":"event","name":"SUBMIT_MFA"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", lb.URL)
	req.Header.Set(connect.SecretHeader, secret)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatalf("posting to the page after the kill: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusGone || !strings.Contains(string(body), "ended") {
		t.Fatalf("posting to the page after the kill: %s %s, want 410 ended", resp.Status, body)
	}

	// Ada, connecting again through replica two before anyone takes the
	// account, is told on her account list that her attempt was
	// interrupted, not left to find it out (nor offered it).
	_ = ada.client.Close()
	adaBack := two.open("ada", termOpts{width: 120, height: 40})
	s = adaBack.waitText("Your attempt on " + holder + " was interrupted: server r1 went silent (last word")
	if strings.Contains(s, "moved from replica") || strings.Contains(s, "Resumed") {
		t.Fatalf("ada was offered her interrupted attempt:\n%s", s)
	}
	_ = adaBack.client.Close()

	// t takes the account at once: no question, and bola is told whose
	// interrupted attempt he took it from; he gets his token.
	bola.send("t")
	s = bola.waitText("You took this account from ada's interrupted attempt")
	if strings.Contains(s, "Take over from") || strings.Contains(s, "y / n") {
		t.Fatalf("t asked bola before taking an interrupted attempt:\n%s", s)
	}
	bola.waitText(" left")

	// The audit: every record acknowledged before the kill, unchanged;
	// ada's attempt ended INTERRUPTED; bola's takeover names her and it;
	// the hash chain intact.
	bolaFP := gossh.FingerprintSHA256(two.keys["bola"].PublicKey())
	store := two.rt.Storage().Audit()
	ctx := context.Background()
	var mine []audit.Record
	waitRecord(t, "ada's attempt INTERRUPTED and bola's takeover", func() bool {
		var err error
		mine, err = store.Query(ctx, audit.Query{Session: adaAttempt})
		if err != nil {
			t.Fatal(err)
		}
		interrupted := false
		for _, r := range mine {
			if r.Action == audit.ActionOutcome && r.Outcome == state.Interrupted {
				interrupted = true
			}
		}
		if !interrupted {
			return false
		}
		for _, r := range two.auditOf(bolaFP).records() {
			if r.Action == audit.ActionClaimTakenOver && strings.Contains(r.Detail, "took over from ada") &&
				strings.Contains(r.Detail, "interrupted") && strings.Contains(r.Detail, adaAttempt) {
				return true
			}
		}
		return false
	})
	byID := map[int64]audit.Record{}
	outcomes := 0
	for _, r := range mine {
		byID[r.ID] = r
		if r.Action == audit.ActionOutcome {
			outcomes++
			if r.Outcome != state.Interrupted || !strings.Contains(r.Detail, "replica r1") {
				t.Errorf("ada's attempt's outcome: %+v", r)
			}
		}
	}
	if outcomes != 1 {
		t.Errorf("ada's attempt has %d outcomes, want one (INTERRUPTED)", outcomes)
	}
	for _, r := range acked {
		got, ok := byID[r.ID]
		switch {
		case !ok:
			t.Errorf("record %d (%s %s), stored before the kill, is gone", r.ID, r.Action, r.Event)
		case got.Hash == "" || got.Hash != r.Hash || got.PrevHash != r.PrevHash || got.Seq != r.Seq || got.Action != r.Action:
			t.Errorf("record %d changed after the kill:\nbefore %+v\nafter  %+v", r.ID, r, got)
		}
	}
	if rep, err := store.Verify(ctx); err != nil {
		t.Errorf("the audit's hash chain: %v", err)
	} else {
		t.Logf("audit chain intact: %d records", rep.Records)
	}

	// Ada, back through replica two, is not offered her dead attempt.
	_ = ada.client.Close()
	back := two.open("ada", termOpts{width: 120, height: 40})
	s = back.waitText("loaded 60 / 60")
	if strings.Contains(s, "moved from replica") || strings.Contains(s, "Resumed") {
		t.Fatalf("ada was offered her interrupted attempt:\n%s", s)
	}
}

// flatScreen is a screen's text as one line: its lines trimmed and joined by
// spaces, so a sentence the layout wrapped still reads whole.
func flatScreen(screen string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(screen, "\n") {
		line = strings.Trim(line, " │┃|")
		if line == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(line)
	}
	return b.String()
}
