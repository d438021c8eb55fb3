package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	_ "modernc.org/sqlite"
)

// `reauth serve --admin-addr` answers /healthz, /readyz and /metrics (with
// the app's own series), and a host key given in REAUTH_SSH_HOST_KEY is the
// one the server presents; on SIGTERM it exits cleanly.
func TestServeAdminEndpointsAndGivenHostKey(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "replicas")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	cmd := exec.Command(binPath, "serve", "--sandbox", "--allow-any-key", "--ssh-addr", "127.0.0.1:0",
		"--admin-addr", "127.0.0.1:0", "--accounts-refresh", "0")
	cmd.Env = []string{"HOME=" + state, "XDG_STATE_HOME=" + state, "PATH=" + os.Getenv("PATH"),
		"REAUTH_SSH_HOST_KEY=" + string(pem.EncodeToMemory(block))}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})

	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var admin, banner string
	deadline := time.After(60 * time.Second)
	for admin == "" || banner == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve stopped before its banner (admin %q, banner %q)", admin, banner)
			}
			if rest, ok := strings.CutPrefix(l, "admin: "); ok {
				admin = strings.TrimSuffix(strings.Fields(rest)[0], "/metrics,")
			}
			if strings.HasPrefix(l, "reauth serve: ssh") {
				banner = l
			}
		case <-deadline:
			t.Fatal("no banner from reauth serve")
		}
	}
	if !strings.Contains(banner, gossh.FingerprintSHA256(signer.PublicKey())) {
		t.Fatalf("banner %q does not show the given host key %s", banner, gossh.FingerprintSHA256(signer.PublicKey()))
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := get("/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	// The shared account list loads in the background: its first Mono
	// call shows up in the latency series once made.
	wants := []string{"reauth_agents_connected 0", `reauth_mono_request_duration_seconds_count{endpoint="list accounts",status="200"}`}
	waitUntil := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		code, body := get("/metrics")
		missing := ""
		for _, w := range wants {
			if !strings.Contains(body, w) {
				missing = w
			}
		}
		if code == 200 && missing == "" {
			break
		}
		if time.Now().After(waitUntil) {
			t.Fatalf("/metrics: %d, lacks %s", code, missing)
		}
		<-tick.C
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
}

// `reauth audit --verify` on the default SQLite store: intact after two
// mints; after someone with the file edits a record (dropping the
// append-only trigger first), it names that record and exits 1; an update
// with the trigger in place is refused by the schema.
func TestAuditVerifyCatchesAnEditedRecord(t *testing.T) {
	state := t.TempDir()
	env := []string{"XDG_STATE_HOME=" + state, "REAUTH_AGENT=ada"}
	for range 2 {
		if r := runBin(t, env, "token", "5ca1ab1e0000000000000001", "--json"); r.code != 0 {
			t.Fatalf("token: exit %d %s", r.code, r.stderr)
		}
	}
	r := runBin(t, env, "audit", "--verify")
	if r.code != 0 || !strings.Contains(r.stdout, "audit chain intact: 4 records") {
		t.Fatalf("intact: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	db, err := sql.Open("sqlite", filepath.Join(state, "reauth", "reauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_records SET record = replace(record, 'ada', 'eve') WHERE id = 3`); err == nil {
		t.Fatal("the schema let a record be updated")
	}
	if _, err := db.Exec(`DROP TRIGGER audit_records_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_records SET record = replace(record, 'ada', 'eve') WHERE id = 3`); err != nil {
		t.Fatal(err)
	}
	r = runBin(t, env, "audit", "--verify")
	if r.code != 1 || !strings.Contains(r.stderr, "audit chain broken at record 3") {
		t.Fatalf("edited: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

// --replica-id names the replica in its page links: a name that cannot is a
// usage error, said before anything starts.
func TestServeRefusesABadReplicaID(t *testing.T) {
	t.Setenv("MONO_SECRET_KEY", "")
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"serve", "--sandbox", "--allow-any-key", "--replica-id", "Replica_1"}, &out, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), "--replica-id Replica_1: use 1-32 lowercase letters and digits") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}
