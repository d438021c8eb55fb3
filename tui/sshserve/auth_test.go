package sshserve

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
)

func noDeps(audit.Agent) tui.Deps { return tui.Deps{} }

func TestUnknownKeyIsRefused(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}})
	stranger := newKey(t)
	c, err := f.dial("ada", stranger) // the right user name does not help
	if err == nil {
		_ = c.Close()
		t.Fatal("a key not in authorized_keys got in")
	}
	if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("refusal: %v", err)
	}
	if n := len(f.seenAgents()); n != 0 {
		t.Fatalf("NewDeps ran %d times for a refused key", n)
	}
}

func TestAuthorizedKeysReloadAddsAndRevokes(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}})
	bob := newKey(t)
	if c, err := f.dial("bob", bob); err == nil {
		_ = c.Close()
		t.Fatal("bob got in before his key was added")
	}
	// Add bob, drop ada: no restart.
	if err := os.WriteFile(f.keysPath, []byte(authorizedLine(bob, "bob@support")), 0o600); err != nil {
		t.Fatal(err)
	}
	bump(t, f.keysPath)
	c, err := f.dial("bob", bob)
	if err != nil {
		t.Fatalf("bob refused after his key was added: %v", err)
	}
	_ = c.Close()
	if c, err := f.dial("ada", f.keys["ada"]); err == nil {
		_ = c.Close()
		t.Fatal("ada still got in after her key was removed")
	}
	// A file that breaks fails closed, even for keys it used to list.
	if err := os.WriteFile(f.keysPath, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bump(t, f.keysPath)
	if c, err := f.dial("bob", bob); err == nil {
		_ = c.Close()
		t.Fatal("a broken authorized_keys file still let bob in")
	}
	if !strings.Contains(f.logs.String(), "refusing every key") {
		t.Fatalf("the broken file was not logged:\n%s", f.logs.String())
	}
}

// bump moves the file's mtime forward so a same-size rewrite within the
// clock's resolution is still seen as a change.
func bump(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	next := fi.ModTime().Add(time.Second)
	if err := os.Chtimes(path, next, next); err != nil {
		t.Fatal(err)
	}
}

func TestNewRefusesWithoutUsableAuthorizedKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := authorizedLine(newKey(t), "ada")
	cases := []struct {
		name, path, want string
	}{
		{"no flag", "", "--authorized-keys"},
		{"missing file", filepath.Join(dir, "nope"), "no such file"},
		{"a directory", dir, "not a regular file"},
		{"empty file", write("empty", ""), "no public keys"},
		{"only comments", write("comments", "# nobody yet\n\n"), "no public keys"},
		{"a bad line", write("bad", good+"ssh-ed25519 AAAAnotbase64\n"), "line 2"},
		{"a restricting option", write("from", `from="10.0.0.0/8" `+good), `"from"`},
		{"a command option", write("cmd", `command="/bin/sh" `+good), `"command"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(Config{Addr: "127.0.0.1:0", HostKeyPath: filepath.Join(t.TempDir(), "hk"), AuthorizedKeysPath: c.path, NewDeps: noDeps})
			if err == nil {
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
	// Options that only forbid what we never offer are fine.
	p := write("harmless", "restrict,no-port-forwarding "+good)
	if _, err := New(Config{Addr: "127.0.0.1:0", HostKeyPath: filepath.Join(t.TempDir(), "hk"), AuthorizedKeysPath: p, NewDeps: noDeps}); err != nil {
		t.Fatalf("harmless options refused: %v", err)
	}
	if _, err := New(Config{Addr: "127.0.0.1:0", HostKeyPath: filepath.Join(t.TempDir(), "hk"), AuthorizedKeysPath: p}); err == nil {
		t.Fatal("New accepted a Config without NewDeps")
	}
}

func TestAllowAnyKeyWarnsAndLetsAnyoneIn(t *testing.T) {
	f := newFixture(t, fixtureOpts{allowAny: true})
	if w := f.srv.Warning(); !strings.Contains(w, "ANY SSH key") {
		t.Fatalf("Warning() = %q", w)
	}
	if !strings.Contains(f.logs.String(), "any SSH key is accepted") {
		t.Fatal("no warning in the log")
	}
	f.keys["eve"] = newKey(t)
	tm := f.open("eve", termOpts{})
	// No authorized keys file, so no comment: the agent is named by the
	// key's fingerprint, and "eve" is only what the client claims.
	fp := gossh.FingerprintSHA256(f.keys["eve"].PublicKey())
	short := fp[:len("SHA256:")+8]
	tm.waitText(short + "… · claims eve")
	if got := f.seenAgents(); len(got) != 1 || got[0] != (audit.Agent{User: short, KeyFingerprint: fp, Via: audit.ViaSSH, ClaimedUser: "eve"}) {
		t.Fatalf("NewDeps got %+v, want %s claiming eve", got, short)
	}

	g := newFixture(t, fixtureOpts{agents: []string{"ada"}})
	if w := g.srv.Warning(); w != "" {
		t.Fatalf("Warning() = %q without AllowAnyKey", w)
	}
}

func TestHostKeyGeneratedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(keys, []byte(authorizedLine(newKey(t), "ada")), 0o600); err != nil {
		t.Fatal(err)
	}
	hk := filepath.Join(dir, "state", "ssh_host_ed25519")
	s1, err := New(Config{Addr: "127.0.0.1:0", HostKeyPath: hk, AuthorizedKeysPath: keys, NewDeps: noDeps})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(hk)
	if err != nil {
		t.Fatalf("no host key written: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key mode %04o, want 0600", fi.Mode().Perm())
	}
	if s1.hostKey.PublicKey().Type() != gossh.KeyAlgoED25519 {
		t.Fatalf("host key type %s", s1.hostKey.PublicKey().Type())
	}
	s2, err := New(Config{Addr: "127.0.0.1:0", HostKeyPath: hk, AuthorizedKeysPath: keys, NewDeps: noDeps})
	if err != nil {
		t.Fatal(err)
	}
	if s1.HostKeyFingerprint() != s2.HostKeyFingerprint() {
		t.Fatal("a second start made a new host key")
	}
	if err := os.Chmod(hk, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Addr: "127.0.0.1:0", HostKeyPath: hk, AuthorizedKeysPath: keys, NewDeps: noDeps}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable host key was accepted (err %v)", err)
	}
	if err := os.WriteFile(hk, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(hk, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Addr: "127.0.0.1:0", HostKeyPath: hk, AuthorizedKeysPath: keys, NewDeps: noDeps}); err == nil || !strings.Contains(err.Error(), "not an OpenSSH private key") {
		t.Fatalf("a garbage host key was accepted (err %v)", err)
	}
}

// Replicas behind one load balancer are given one host key (HostKey, from
// REAUTH_SSH_HOST_KEY) and so present one server to every agent; nothing is
// written to HostKeyPath, and a bad key's error never holds its text.
func TestGivenHostKeyIsSharedByReplicas(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(keys, []byte(authorizedLine(newKey(t), "ada")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "shared")
	if err != nil {
		t.Fatal(err)
	}
	shared := pem.EncodeToMemory(block)
	unused := filepath.Join(dir, "state", "ssh_host_ed25519")
	var prints []string
	for range 2 {
		s, err := New(Config{Addr: "127.0.0.1:0", HostKey: shared, HostKeyPath: unused, AuthorizedKeysPath: keys, NewDeps: noDeps})
		if err != nil {
			t.Fatal(err)
		}
		prints = append(prints, s.HostKeyFingerprint())
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if want := gossh.FingerprintSHA256(signer.PublicKey()); prints[0] != want || prints[1] != want {
		t.Fatalf("fingerprints %v, want both %s (the given key)", prints, want)
	}
	if _, err := os.Stat(unused); !os.IsNotExist(err) {
		t.Fatalf("a host key file was written although one was given (stat: %v)", err)
	}
	bad := []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END OPENSSH PRIVATE KEY-----\n")
	_, err = New(Config{Addr: "127.0.0.1:0", HostKey: bad, AuthorizedKeysPath: keys, NewDeps: noDeps})
	if err == nil || !strings.Contains(err.Error(), "REAUTH_SSH_HOST_KEY") || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("bad given key: err %v (want one naming REAUTH_SSH_HOST_KEY without the key's text)", err)
	}
}

// An agent's key opens the app and nothing else: no tunnels into the
// server's network (the page server, the sandbox, anything on loopback).
func TestNoPortForwarding(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}})
	c, err := f.dial("ada", f.keys["ada"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	target := strings.TrimPrefix(f.sb.URL(), "http://")
	if conn, err := c.Dial("tcp", target); err == nil {
		_ = conn.Close()
		t.Fatal("a direct-tcpip tunnel to the sandbox was opened")
	}
	if ln, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		_ = ln.Close()
		t.Fatal("a remote forward was accepted")
	}
	if _, _, err := c.SendRequest("no-such-request@reauth", true, nil); err != nil {
		t.Fatalf("the connection broke on an unknown request: %v", err)
	}
}

// Config.Connected hears each agent's session start and end (the agents
// connected gauge): one up when ada's program runs, back down when she
// leaves.
func TestConnectedCountsSessions(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}})
	waitCount := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for f.connected.Load() != want {
			if time.Now().After(deadline) {
				t.Fatalf("connected = %d, want %d", f.connected.Load(), want)
			}
			<-tick.C
		}
	}
	ada := f.open("ada", termOpts{})
	waitCount(1)
	ada.close()
	waitCount(0)
}
