package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/tui"
)

// The public URL both replicas' pages share (the load balancer's); tests
// reach each replica's listener directly with this Host.
const lbURL = "http://pages.example"

var plainClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// customer sends one request as a browser on the shared public URL would,
// to the replica listening at addr.
func customer(t *testing.T, addr, method, path, secret string, body []byte) (int, string) {
	t.Helper()
	r, err := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Host = "pages.example"
	r.Header.Set("Origin", lbURL)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if secret != "" {
		r.Header.Set(connect.SecretHeader, secret)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := plainClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func openPage(t *testing.T, rt *Runtime, account string) *connect.Session {
	t.Helper()
	now := time.Now()
	s, err := rt.pages.NewSession(connect.SessionParams{Account: mono.Account{ID: account, Name: "Ada"},
		Token:    mono.Token{AccountID: account, Value: "tok_" + account, MintedAt: now, ExpiresAt: now.Add(mono.TokenLifetime)},
		Contract: connect.ContractToken})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Two replicas on one PostgreSQL behind one public URL: a page opened on
// replica one is reached through replica two's listener (the load balancer
// sent the customer there), its events reach replica one's session in
// order; an unknown owner, and one that stopped, end the link.
func TestPagesReachTheirReplica(t *testing.T) {
	cleanEnv(t)
	live(t)
	db := storetest.PostgresURL(t)
	_, one := setupRuntime(t, Config{Files: Files{Database: db}, PublicURL: lbURL, ReplicaID: "one"})
	_, two := setupRuntime(t, Config{Files: Files{Database: db}, PublicURL: lbURL})
	if two.env.ReplicaID == "" || two.env.ReplicaID == "one" || !connect.ValidReplicaID(two.env.ReplicaID) {
		t.Fatalf("replica two's id %q", two.env.ReplicaID)
	}
	s := openPage(t, one, "acc_repl")
	if owner, _ := connect.OwnerOf(s.ID()); owner != "one" || !strings.HasPrefix(s.URL(), lbURL+"/s/one-") {
		t.Fatalf("session %s at %s", s.ID(), s.URL())
	}
	_, secret, _ := strings.Cut(s.URL(), "#")
	base := "/s/" + s.ID()
	addr2 := two.pages.Addr()

	if code, body := customer(t, addr2, http.MethodGet, base, "", nil); code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Fatalf("page through replica two: %d %.80q", code, body)
	}
	code, body := customer(t, addr2, http.MethodGet, base+"/config", secret, nil)
	var cfg struct {
		PairingCode string `json:"pairingCode"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &cfg) != nil || cfg.PairingCode != s.PairingCode() {
		t.Fatalf("config through replica two: %d %s", code, body)
	}
	for seq := 1; seq <= 10; seq++ {
		b, _ := json.Marshal(map[string]any{"seq": seq, "callback": "event", "name": "STEP"})
		if code, body := customer(t, addr2, http.MethodPost, base+"/events", secret, b); code != http.StatusNoContent {
			t.Fatalf("post %d through replica two: %d %s", seq, code, body)
		}
	}
	// A wrong secret through replica two is refused by the owner.
	b, _ := json.Marshal(map[string]any{"seq": 11, "callback": "event", "name": "BAD"})
	if code, _ := customer(t, addr2, http.MethodPost, base+"/events", "wrong", b); code != http.StatusUnauthorized {
		t.Fatalf("wrong secret through replica two: %d", code)
	}
	var got []int64
	deadline := time.After(waitLimit)
	for len(got) < 10 {
		select {
		case ev := <-s.Events():
			if ev.Name == "STEP" {
				got = append(got, ev.Seq)
			} else if ev.Name == "BAD" {
				t.Fatal("a refused post reached the session")
			}
		case <-deadline:
			t.Fatalf("events at replica one: %v", got)
		}
	}
	for i, seq := range got {
		if seq != int64(i+1) {
			t.Fatalf("events out of order: %v", got)
		}
	}

	// An owner no replica is: the link has ended.
	code, body = customer(t, addr2, http.MethodGet, "/s/nosuch-AAAAAAAAAAAAAAAAAAAAAA/config", "x", nil)
	if code != http.StatusGone || !strings.Contains(body, "server_closed") {
		t.Fatalf("unknown owner: %d %s", code, body)
	}
	// A second process claiming replica one's id elsewhere is refused.
	e3, err := Setup(Config{Files: Files{Database: db}, PublicURL: lbURL, ReplicaID: "one", Tune: Tune{Sandbox: small}})
	if err != nil {
		t.Fatal(err)
	}
	defer e3.Close()
	if _, err := New(context.Background(), e3); err == nil || !errors.As(err, new(ConfigError)) || !strings.Contains(err.Error(), `"one" is in use`) {
		t.Fatalf("a second replica one: %v", err)
	}
	// Replica one stops: its page, asked through replica two, has ended.
	one.Close()
	code, body = customer(t, addr2, http.MethodPost, base+"/events", secret, b)
	if code != http.StatusGone || !strings.Contains(body, "server_closed") {
		t.Fatalf("page of a stopped replica: %d %s", code, body)
	}
}

// On PostgreSQL a webhook one replica receives reaches the other's programs
// at once (NOTIFY wakes its marks poller; its timer is an hour here), and
// after the listener's connection is cut a change made while nobody
// listened still arrives (re-read on reconnect), as do later ones.
func TestMarksWakeOtherReplicas(t *testing.T) {
	cleanEnv(t)
	live(t)
	t.Setenv("MONO_WEBHOOK_SECRET", "whsec-test-0123456789")
	db := storetest.PostgresURL(t)
	hour := Tune{MarksPollEvery: time.Hour}
	_, one := setupRuntime(t, Config{Files: Files{Database: db}, WebhookAddr: "127.0.0.1:0", Tune: hour})
	_, two := setupRuntime(t, Config{Files: Files{Database: db}, Tune: hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	news := two.Deps(LocalAgent()).Signals(ctx)
	send := func(id, evt string, kind webhook.EventKind) {
		t.Helper()
		if err := webhook.Send(ctx, one.WebhookURL(), "whsec-test-0123456789", webhook.Payload(kind, id, evt)); err != nil {
			t.Fatal(err)
		}
	}
	const a, b, c = "65f1c0ffee00000000000a01", "65f1c0ffee00000000000b02", "65f1c0ffee00000000000c03"
	conn := pgConn(t, db)
	channel := pgx.Identifier{listenChannel(t, db)}.Sanitize()
	listeners := func() int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN ' || $1`, channel).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Both pollers listen (one's as well: other processes write marks too)
	// before anything is sent, so their first re-read is behind them.
	for deadline := time.Now().Add(waitLimit); listeners() < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("%d listeners on %s", listeners(), channel)
		}
	}
	send(a, "evt-wake-1", webhook.ReauthRequired)
	receive(t, news, "the mark replica one received", func(s tui.AccountSignal) bool { return s.AccountID == a && s.NeedsReauth })

	// A change no notification announces (written straight into the table),
	// then the listeners' connections cut: the reconnect's re-read finds it.
	entry, _ := json.Marshal(webhook.Mark{Kind: webhook.MarkReauthRequired, Event: "test", At: time.Now(), Since: time.Now()})
	if _, err := conn.Exec(ctx, `INSERT INTO webhook_marks(account_id, kind, at, mono_time, entry, version)
		VALUES ($1, 'reauth_required', now(), false, $2, (SELECT coalesce(max(version), 0) + 1 FROM webhook_marks))`, b, entry); err != nil {
		t.Fatal(err)
	}
	if two.marks.NeedsReauth(b) {
		t.Fatal("a change nobody announced was read before any reconnect")
	}
	var cut int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query = 'LISTEN ' || $1`, channel).Scan(&cut); err != nil || cut != 2 {
		t.Fatalf("listeners cut: %d %v", cut, err)
	}
	receive(t, news, "the change made while nobody listened", func(s tui.AccountSignal) bool { return s.AccountID == b && s.NeedsReauth })
	send(c, "evt-wake-2", webhook.ReauthRequired)
	receive(t, news, "a mark after the reconnect", func(s tui.AccountSignal) bool { return s.AccountID == c && s.NeedsReauth })
}

func pgConn(t *testing.T, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// listenChannel is the store's NOTIFY channel for the schema db names.
func listenChannel(t *testing.T, db string) string {
	t.Helper()
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	return "reauth." + u.Query().Get("search_path")
}

// countingRegistry is a registry in memory that counts its reads.
type countingRegistry struct {
	mu    sync.Mutex
	live  map[string]string
	reads []time.Time
	down  error // when set, Live fails with it
}

func (c *countingRegistry) Register(_ context.Context, id, url string, _ time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live[id] = url
	return nil
}

func (c *countingRegistry) Live(context.Context, time.Duration) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads = append(c.reads, time.Now())
	if c.down != nil {
		return nil, c.down
	}
	return maps.Clone(c.live), nil
}

func (c *countingRegistry) Leave(_ context.Context, id, _ string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.live, id)
	return nil
}

// An owner missing from the last good read while the registry cannot be
// read is not known to be gone: forward says unknown (the page retries),
// not ErrNoLiveReplica (the customer told the link has ended). Once the
// registry answers again, a replica it does not list is gone.
func TestForwardDoesNotCallAnOwnerGoneWhenTheRegistryCannotBeRead(t *testing.T) {
	reg := &countingRegistry{live: map[string]string{"r2": "http://127.0.0.1:2"}}
	r2 := &replicaSet{id: "r2", reg: reg, self: "http://127.0.0.1:2"}
	r2.read(context.Background())
	reg.mu.Lock()
	reg.live["r1"] = "http://127.0.0.1:1" // r1 registers; r2 has not read since
	reg.down = errors.New("connection refused")
	reg.mu.Unlock()
	u, err := r2.forward("r1")
	if !errors.Is(err, errReplicasUnknown) || errors.Is(err, connect.ErrNoLiveReplica) {
		t.Fatalf("forward(r1) with the registry down = %v, %v: want errReplicasUnknown", u, err)
	}
	if u, err := r2.forward("r2"); err != nil || u.String() != "http://127.0.0.1:2" {
		t.Fatalf("forward(r2), known from the last good read = %v, %v", u, err)
	}
	reg.mu.Lock()
	reg.down = nil
	delete(reg.live, "r1") // r1 stops while the registry is back
	reg.mu.Unlock()
	if _, err := r2.forward("r1"); !errors.Is(err, connect.ErrNoLiveReplica) {
		t.Fatalf("forward(r1) after a good read without it = %v: want ErrNoLiveReplica", err)
	}
}

// A replica that registers just after another read the registry is found
// when its first page's request reaches the other at once: the owner
// missing from a read begun before the request is read again, not declared
// gone (410 tells the customer's page the link ended). A replica that never
// registered is still unknown after that read, and requests for made-up
// owners cost the registry one read per replicaMissReread, not one each.
func TestForwardFindsAReplicaThatJustRegistered(t *testing.T) {
	reg := &countingRegistry{live: map[string]string{"r2": "http://127.0.0.1:2"}}
	r2 := &replicaSet{id: "r2", reg: reg, self: "http://127.0.0.1:2"}
	r2.read(context.Background())
	if err := reg.Register(context.Background(), "r1", "http://127.0.0.1:1", ReplicaStaleAfter); err != nil {
		t.Fatal(err)
	}
	u, err := r2.forward("r1") // moments after r2's read
	if err != nil || u.String() != "http://127.0.0.1:1" {
		t.Fatalf("forward(r1) = %v, %v: want r1's URL (it registered after r2's last read)", u, err)
	}
	reg.mu.Lock()
	before := len(reg.reads)
	reg.mu.Unlock()
	for range 3 {
		if _, err := r2.forward("nosuch"); !errors.Is(err, connect.ErrNoLiveReplica) {
			t.Fatalf("a replica that never registered: %v, want ErrNoLiveReplica", err)
		}
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	reads := reg.reads[before-1:]
	if len(reads) != 4 {
		t.Fatalf("%d registry reads for 3 unknown owners, want one each", len(reads)-1)
	}
	for i := 1; i < len(reads); i++ {
		if gap := reads[i].Sub(reads[i-1]); gap < replicaMissReread {
			t.Fatalf("reads %v apart, want at least %v", gap, replicaMissReread)
		}
	}
}
