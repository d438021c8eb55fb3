package audit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// chainOf is a Backend holding stored rows, for VerifyChain.
type chainOf []Stored

func (c chainOf) Append(context.Context, []Record) error         { return errors.New("read-only") }
func (c chainOf) Query(context.Context, Query) ([]Record, error) { return nil, nil }
func (c chainOf) Close() error                                   { return nil }
func (c chainOf) Walk(_ context.Context, fn func(Stored) error) error {
	for _, s := range c {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

func sealed(t *testing.T, n int) chainOf {
	t.Helper()
	var c chainOf
	prev := ""
	for i := range n {
		s, err := Seal(int64(i+1), prev, Record{Time: t0.Add(time.Duration(i) * time.Minute), Agent: Agent{User: "bola"},
			Session: "s1", Seq: i + 1, Account: "Acc" + string(rune('a'+i)), Action: ActionWidgetEvent, Event: "e"})
		if err != nil {
			t.Fatal(err)
		}
		c = append(c, s)
		prev = s.Hash
	}
	return c
}

// The hash is defined once and must not drift: a change would make every
// stored chain fail to verify.
func TestChainHashIsStable(t *testing.T) {
	r := Record{Time: t0.In(time.FixedZone("WAT", 3600)), Agent: Agent{User: "bola", Via: ViaLocal}, Session: "s1", Seq: 1,
		Account: "65f1c0ffee0123456789abcd", Action: ActionOutcome, Outcome: "SUCCEEDED", ID: 9, PrevHash: "x", Hash: "y"}
	js, err := r.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `{"time":"2026-11-25T16:02:11Z","agent":{"user":"bola","via":"local"},"session":"s1","seq":1,` +
		`"account":"65f1c0ffee0123456789abcd","action":"outcome","outcome":"SUCCEEDED"}`
	if string(js) != wantJSON {
		t.Errorf("canonical JSON\n got %s\nwant %s", js, wantJSON)
	}
	s, err := Seal(1, "", r)
	if err != nil {
		t.Fatal(err)
	}
	if s.Hash != ChainHash(1, "", js) || len(s.Hash) != 64 || s.AccountKey != "65f1c0ffee0123456789abcd" {
		t.Errorf("Seal = %+v", s)
	}
	if ChainHash(1, "", js) == ChainHash(2, "", js) || ChainHash(1, "", js) == ChainHash(1, s.Hash, js) {
		t.Error("the hash ignores the record's place or the previous hash")
	}
	const want = "ea5ffb9f1112f22d" // sha256 of "1\n\n{}" (printf '1\n\n{}' | sha256sum)
	if got := ChainHash(1, "", []byte("{}"))[:16]; got != want {
		t.Errorf("ChainHash(1, \"\", {}) starts %s, want %s", got, want)
	}
}

func TestVerifyChain(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(c chainOf) chainOf
		id      int64
		problem string
	}{
		{"whole", func(c chainOf) chainOf { return c }, 0, ""},
		{"content edited", func(c chainOf) chainOf {
			c[3].JSON = []byte(strings.Replace(string(c[3].JSON), `"e"`, `"f"`, 1))
			return c
		}, 4, "does not match its hash"},
		{"content edited, its hash recomputed", func(c chainOf) chainOf {
			c[3].JSON = []byte(strings.Replace(string(c[3].JSON), `"e"`, `"f"`, 1))
			c[3].Hash = ChainHash(c[3].ID, c[3].PrevHash, c[3].JSON)
			return c
		}, 5, "does not follow record 4"},
		{"column edited", func(c chainOf) chainOf { c[2].AgentUser = "ada"; return c }, 3, "query columns"},
		{"account key edited", func(c chainOf) chainOf { c[2].AccountKey = "x"; return c }, 3, "query columns"},
		{"time edited", func(c chainOf) chainOf { c[2].Time = c[2].Time.Add(time.Second); return c }, 3, "query columns"},
		{"middle deleted", func(c chainOf) chainOf { return append(c[:4:4], c[5:]...) }, 6, "record 5 before it is missing"},
		{"two deleted", func(c chainOf) chainOf { return append(c[:4:4], c[6:]...) }, 7, "records 5 to 6"},
		{"first deleted", func(c chainOf) chainOf { return c[1:] }, 2, "record 1 before it is missing"},
		{"deleted and renumbered", func(c chainOf) chainOf {
			c = append(c[:4:4], c[5:]...)
			for i := 4; i < len(c); i++ {
				c[i].ID--
			}
			return c
		}, 5, "does not follow record 4"},
		{"repeated", func(c chainOf) chainOf { return append(c[:5:5], c[4:]...) }, 5, "repeats"},
		{"not JSON", func(c chainOf) chainOf {
			c[1].JSON = []byte("garbage")
			c[1].Hash = ChainHash(c[1].ID, c[1].PrevHash, c[1].JSON)
			c[2].PrevHash = c[1].Hash
			return c
		}, 2, "not a record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.tamper(sealed(t, 8))
			rep, err := VerifyChain(context.Background(), c)
			if tt.id == 0 {
				if err != nil || rep.Records != 8 || rep.Head != c[7].Hash {
					t.Fatalf("Verify = %+v, %v", rep, err)
				}
				return
			}
			var ce *ChainError
			if !errors.As(err, &ce) || ce.ID != tt.id || !strings.Contains(ce.Problem, tt.problem) {
				t.Fatalf("Verify = %v, want record %d: %q", err, tt.id, tt.problem)
			}
			if !strings.Contains(err.Error(), "widget_event") || !strings.Contains(err.Error(), "audit chain broken at record") {
				t.Errorf("message %q does not name the record", err)
			}
		})
	}
	if _, err := VerifyChain(context.Background(), &File{}); !errors.Is(err, ErrNoChain) {
		t.Errorf("the file: %v, want ErrNoChain", err)
	}
}

// BenchmarkVerifyChain is Verify's own cost per record (no store).
func BenchmarkVerifyChain(b *testing.B) {
	c := sealed(&testing.T{}, 1)
	prev := c[0].Hash
	for i := 1; i < 10_000; i++ {
		s, _ := Seal(int64(i+1), prev, Record{Time: t0, Agent: Agent{User: "bola", Via: ViaSSH, KeyFingerprint: "SHA256:abcdefgh"},
			Session: "s1", Seq: i, Account: "65f1c0ffee0123456789abcd", Action: ActionReasonShown, Reason: "MFA required by the bank",
			Detail: "Mono webhook account_updated at 14:02: sync_status REAUTHORISATION_REQUIRED"})
		c = append(c, s)
		prev = s.Hash
	}
	for b.Loop() {
		if _, err := VerifyChain(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(c)), "ns/record")
}
