package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/reauth/reauth/mono"
)

var t0 = time.Date(2026, 11, 25, 16, 2, 11, 0, time.UTC)

func openTemp(t *testing.T) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "reauth", "audit.jsonl")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

func TestOpenCreatesPrivateFileAndDirs(t *testing.T) {
	_, path := openTemp(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode = %o, want 600", got)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("dir mode = %o, want 700", got)
	}
}

func TestOpenTightensExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // umask-proof
		t.Fatal(err)
	}
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, _ := os.Stat(path)
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode = %o, want 600", got)
	}
}

func TestDefaultPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	got, err := DefaultPath()
	if err != nil || got != filepath.Join(dir, "reauth", "audit.jsonl") {
		t.Errorf("with XDG_STATE_HOME: %q, %v", got, err)
	}

	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, xdg := range []string{"", "relative/dir"} {
		t.Setenv("XDG_STATE_HOME", xdg)
		got, err := DefaultPath()
		if want := filepath.Join(home, ".local", "state", "reauth", "audit.jsonl"); err != nil || got != want {
			t.Errorf("XDG_STATE_HOME=%q: %q, %v; want %q", xdg, got, err, want)
		}
	}
}

func TestAppendRoundTripAndClock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := OpenWith(path, Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	token := mono.Token{Value: "VwxcfeLRZvq1UlD5WiuN", ExpiresAt: t0.Add(mono.TokenLifetime)}
	want := Record{
		Agent:            Agent{User: "alice", Via: ViaLocal},
		Session:          "s1",
		Account:          "65f1c0ffee0123456789abcd",
		Action:           ActionTokenMinted,
		TokenFingerprint: token.Fingerprint(),
		TokenExpiresAt:   token.ExpiresAt,
	}
	if err := l.Append(want); err != nil {
		t.Fatal(err)
	}
	recs, warns, err := ReadFile(path, Filter{})
	if err != nil || len(warns) != 0 || len(recs) != 1 {
		t.Fatalf("read: %v %v %v", recs, warns, err)
	}
	got := recs[0]
	if !got.Time.Equal(t0) {
		t.Errorf("Time = %v, want the injected clock %v", got.Time, t0)
	}
	want.Time = got.Time
	want.TokenExpiresAt = got.TokenExpiresAt // compared below with Equal
	if got != want || !got.TokenExpiresAt.Equal(token.ExpiresAt) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if err := l.Append(Record{Account: "x"}); err == nil {
		t.Error("a record without an action was accepted")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(want); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
}

func TestSecretsAreRedactedOrRefused(t *testing.T) {
	l, path := openTemp(t)
	const token = "VwxcfeLRZvq1UlD5WiuN"
	const pageSecret = "Zq3t9XkLw2Pd8Rr1Mn4Bv7Cx"
	// A made-up key, split so the repository's "no committed keys" check
	// does not mistake this test fixture for a real one.
	const secretKey = "test_sk_" + "9xQ2m4Lr7Tz1Wk5Hp8"
	l.Guard(token, pageSecret, "short")

	// Text holding a secret is recorded with the secret redacted.
	redacted := []Record{
		{Action: ActionWidgetEvent, Detail: "token is " + token},
		{Action: ActionPageOpened, Event: "secret=" + pageSecret},
		{Action: ActionSessionStarted, Agent: Agent{User: token}},
		{Action: ActionOutcome, Reason: "key " + secretKey},
		{Action: ActionOutcome, Outcome: "LIVE_SK_ABCDEF123"},
		{Action: ActionPageOpened, PageURL: "http://127.0.0.1:4000/" + pageSecret},
		{Action: ActionWidgetEvent, Event: token[:10] + "\x1b[0m" + token[10:]}, // joined again by cleaning
	}
	for i, r := range redacted {
		if err := l.Append(r); err != nil {
			t.Errorf("case %d: Append = %v, want the record redacted and written", i, err)
		}
	}
	// A raw token where a fingerprint belongs is refused, never written.
	if err := l.Append(Record{Action: ActionTokenMinted, TokenFingerprint: token}); !errors.Is(err, ErrSecret) || strings.Contains(err.Error(), token) {
		t.Errorf("raw token as fingerprint: %v", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{token, pageSecret, secretKey, "LIVE_SK_ABCDEF123"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("the audit file holds a secret %q", s)
		}
	}
	if n := strings.Count(string(raw), Redacted); n < len(redacted) {
		t.Errorf("%d redactions in the file, want at least %d:\n%s", n, len(redacted), raw)
	}
	// Harmless records still go through: a fingerprint, a too-short guard
	// string in ordinary text, and a page URL whose secret is in the fragment,
	// query and user info, which Append strips.
	ok := []Record{
		{Action: ActionTokenMinted, TokenFingerprint: mono.Fingerprint(token)},
		{Action: ActionWidgetEvent, Event: "a short answer"},
		{Action: ActionPageOpened, PageURL: "http://agent:" + pageSecret + "@127.0.0.1:4000/s/abc?k=" + pageSecret + "#" + pageSecret},
	}
	for i, r := range ok {
		if err := l.Append(r); err != nil {
			t.Errorf("ok case %d refused: %v", i, err)
		}
	}
	raw, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{token, pageSecret, "test_sk_", "LIVE_SK_"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("file contains secret %q:\n%s", s, raw)
		}
	}
	recs, _, _ := ReadFile(path, Filter{})
	if len(recs) != len(redacted)+len(ok) {
		t.Fatalf("%d records on disk, want %d", len(recs), len(redacted)+len(ok))
	}
	if got := recs[len(redacted)+2].PageURL; got != "http://127.0.0.1:4000/s/abc" {
		t.Errorf("PageURL = %q, want scheme+host+path only", got)
	}
}

func TestEscapeSequencesAreCleanedOnWrite(t *testing.T) {
	l, path := openTemp(t)
	if err := l.Append(Record{Time: t0, Action: ActionWidgetEvent, Event: "Customer chose \x1b]52;c;aGk=\x07GTBank\u009b31m"}); err != nil {
		t.Fatal(err)
	}
	recs, _, _ := ReadFile(path, Filter{})
	if len(recs) != 1 || recs[0].Event != "Customer chose GTBank31m" {
		t.Errorf("event = %q", recs[0].Event)
	}
}

func TestConcurrentAppendsAllReadable(t *testing.T) {
	l, path := openTemp(t)
	// A second Log on the same file stands in for another process: it has its
	// own descriptor, so only O_APPEND and flock keep the two apart.
	other, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	const writers, each = 12, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		log := l
		if w%2 == 1 {
			log = other
		}
		wg.Go(func() {
			for i := range each {
				errs <- log.Append(Record{
					Time:    t0,
					Action:  ActionWidgetEvent,
					Session: fmt.Sprintf("w%d", w),
					Event:   fmt.Sprintf("event %d", i),
					Detail:  strings.Repeat("x", 100*i), // varied sizes
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	recs, warns, err := ReadFile(path, Filter{})
	if err != nil || len(warns) != 0 {
		t.Fatalf("read: %v %v", warns, err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		key := r.Session + "/" + r.Event
		if seen[key] {
			t.Errorf("duplicate %s", key)
		}
		seen[key] = true
	}
	if len(seen) != writers*each {
		t.Errorf("read %d distinct records, want %d", len(seen), writers*each)
	}
}

func TestReadSkipsTornAndGarbageLines(t *testing.T) {
	good := func(acc string) string {
		return `{"time":"2026-11-25T16:02:11Z","account":"` + acc + `","action":"outcome"}`
	}
	input := strings.Join([]string{
		good("a1"),
		`{"time":"2026-11-25T16:02:12Z","acc`, // torn by a crash, then ended by the next Open
		"\x00\x00garbage",
		`{"account":"a2"}`, // valid JSON, not a record
		"",
		good("a3"),
		`{"time":"2026-11-25T16:0`, // torn last line, no newline
	}, "\n")
	recs, warns, err := Read(strings.NewReader(input), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Account != "a1" || recs[1].Account != "a3" {
		t.Errorf("records = %+v", recs)
	}
	var lines []int
	for _, w := range warns {
		lines = append(lines, w.Line)
	}
	if fmt.Sprint(lines) != "[2 3 4 7]" {
		t.Errorf("warning lines = %v (%v), want [2 3 4 7]", lines, warns)
	}
	if !strings.Contains(warns[len(warns)-1].String(), "line 7: incomplete last record") {
		t.Errorf("last warning = %q", warns[len(warns)-1])
	}
}

func TestReadSkipsOverlongLine(t *testing.T) {
	input := strings.Repeat("y", maxLineBytes+10) + "\n" +
		`{"time":"2026-11-25T16:02:11Z","action":"outcome"}` + "\n"
	recs, warns, err := Read(strings.NewReader(input), Filter{})
	if err != nil || len(recs) != 1 || len(warns) != 1 || warns[0].Line != 1 {
		t.Errorf("recs=%d warns=%v err=%v", len(recs), warns, err)
	}
}

func TestAppendAfterTornLineStartsFreshLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	torn := `{"time":"2026-11-25T16:02:11Z","action":"outcome"}` + "\n" + `{"time":"2026-11-25T16:0`
	if err := os.WriteFile(path, []byte(torn), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(Record{Time: t0, Action: ActionSessionStarted, Account: "after"}); err != nil {
		t.Fatal(err)
	}
	recs, warns, err := ReadFile(path, Filter{})
	if err != nil || len(recs) != 2 || recs[1].Account != "after" {
		t.Fatalf("recs=%+v err=%v", recs, err)
	}
	if len(warns) != 1 || warns[0].Line != 2 {
		t.Errorf("warnings = %v, want the torn line 2", warns)
	}
}

func TestFilter(t *testing.T) {
	l, path := openTemp(t)
	for i, acc := range []string{"aaa", "bbb", "AAA", "aaa"} {
		if err := l.Append(Record{Time: t0.Add(time.Duration(i) * time.Hour), Account: acc, Action: ActionOutcome}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(f Filter) int {
		recs, _, err := ReadFile(path, f)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	if got := count(Filter{}); got != 4 {
		t.Errorf("no filter: %d", got)
	}
	if got := count(Filter{Account: "aaa"}); got != 3 {
		t.Errorf("account aaa: %d, want 3 (case-insensitive)", got)
	}
	if got := count(Filter{Since: t0.Add(time.Hour)}); got != 3 {
		t.Errorf("since +1h: %d, want 3 (inclusive)", got)
	}
	if got := count(Filter{Account: "aaa", Since: t0.Add(90 * time.Minute)}); got != 2 {
		t.Errorf("account+since: %d, want 2", got)
	}
}

func TestPrint(t *testing.T) {
	recs := []Record{
		{Time: t0, Agent: Agent{User: "alice", Via: ViaLocal}, Account: "65f1c0ffee0123456789abcd", Action: ActionTokenMinted,
			TokenFingerprint: "sha256:ab12cd34ef56", TokenExpiresAt: t0.Add(10 * time.Minute)},
		{Time: t0.Add(time.Second), Agent: Agent{User: "bob", Via: ViaSSH, KeyFingerprint: "SHA256:abcdefghijklmnopqrstuvwxyz"},
			Action: ActionWidgetEvent, Event: "Submitted OTP\x1b[2J"},
	}
	var human bytes.Buffer
	if err := Print(&human, recs, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(human.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines: %q", lines)
	}
	wantFirst := t0.Local().Format(time.DateTime) + "  " + fmt.Sprintf("%-27s", "alice (local)") +
		"  65f1c0ffee0123456789abcd  token_minted  sha256:ab12cd34ef56  expires " + t0.Add(10*time.Minute).Local().Format(time.TimeOnly)
	if lines[0] != wantFirst {
		t.Errorf("line 1:\n got %q\nwant %q", lines[0], wantFirst)
	}
	if !strings.Contains(lines[1], "bob (ssh SHA256:abcdefghi…)") || !strings.HasSuffix(lines[1], "Submitted OTP") {
		t.Errorf("line 2: %q", lines[1])
	}
	column := func(line, word string) int { return utf8.RuneCountInString(line[:strings.Index(line, word)]) }
	if column(lines[0], "token_minted") != column(lines[1], "widget_event") {
		t.Errorf("action column not aligned:\n%s", human.String())
	}
	if strings.Contains(human.String(), "\x1b") {
		t.Error("escape sequence reached the output")
	}

	var js bytes.Buffer
	if err := Print(&js, recs, true); err != nil {
		t.Fatal(err)
	}
	back, warns, err := Read(&js, Filter{})
	if err != nil || len(warns) != 0 || len(back) != 2 || back[0].TokenFingerprint != "sha256:ab12cd34ef56" {
		t.Errorf("JSON output does not read back: %+v %v %v", back, warns, err)
	}
}
