package search

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/reauth/reauth/mono/sandbox"
)

// The resume state (a match's possible next bytes, kept so extending the
// query drops accounts unread) must never change an answer: random typing,
// deleting, pasting and pages arriving mid-query give exactly what a fresh
// search gives, and every so often exactly the plain reference.
func TestResumeStateEqualsFreshOverRandomEdits(t *testing.T) {
	t.Parallel()
	accounts := append(sandbox.Generate(7, 3_000), planted()...)
	rng := rand.New(rand.NewPCG(8, 9))
	// Characters drawn from the data, plus ones it lacks or rarely has.
	var alphabet []string
	for _, a := range accounts[:200] {
		for _, r := range strings.ToLower(a.Name + a.Customer.Email + a.AccountNumber + a.ID) {
			alphabet = append(alphabet, string(r))
		}
	}
	alphabet = append(alphabet, " ", " ", "z", "é", "ọ", "@", ".", "-", "q", "x")
	fields := func() string {
		a := accounts[rng.IntN(len(accounts))]
		f := []string{a.Name, a.Customer.Email, a.AccountNumber, a.ID, a.Institution.Name}[rng.IntN(5)]
		from := rng.IntN(len(f))
		return strings.ToLower(f[from:min(len(f), from+1+rng.IntN(6))])
	}
	// A name word with two adjacent letters swapped, so typo hits come and
	// go as the query grows and shrinks.
	typo := func() string {
		words := strings.Fields(strings.ToLower(accounts[rng.IntN(len(accounts))].Name))
		w := []byte(words[rng.IntN(len(words))])
		if len(w) >= 4 {
			i := 1 + rng.IntN(len(w)-2) // 1 is left out of the tier
			w[i], w[i+1] = w[i+1], w[i]
		}
		return string(w)
	}

	ix := New()
	loaded := 2_000
	ix.Add(accounts[:loaded])
	se := NewSearcher(8)
	se.contMin = 0 // keep state for every query, not only big answers
	q := ""
	pending := "" // a typo being typed one letter at a time
	typos := 0
	for step := range 1_500 {
		switch r := rng.IntN(100); {
		case r < 60 || q == "":
			if pending != "" {
				q, pending = q+pending[:1], pending[1:]
			} else {
				q += alphabet[rng.IntN(len(alphabet))]
			}
		case r < 85:
			_, size := lastRune(q)
			q = q[:len(q)-size]
		case r < 88:
			q += fields()
		case r < 95:
			q, pending = "", typo()
		case r < 97:
			q = ""
		default:
			if loaded < len(accounts) {
				next := min(len(accounts), loaded+1+rng.IntN(300))
				ix.Add(accounts[loaded:next])
				loaded = next
			}
		}
		if len(q) > 16 {
			q = q[:0]
		}
		snap := ix.Snapshot()
		got := se.Search(snap, q)
		want := NewSearcher(1).Search(snap, q)
		if got.Tiers != want.Tiers || !slices.Equal(got.Hits, want.Hits) {
			t.Fatalf("step %d %q: typed %v, fresh %v", step, q, got.Tiers, want.Tiers)
		}
		if got.Tiers[TierTypo] > 0 {
			typos++
		}
		if step%50 == 0 {
			refHits, refTiers := referenceSearch(accounts[:loaded], q)
			if got.Tiers != refTiers || !slices.Equal(got.Hits, refHits) {
				t.Fatalf("step %d %q: typed %v, reference %v", step, q, got.Tiers, refTiers)
			}
		}
	}
	if typos < 10 {
		t.Fatalf("only %d queries had typo hits: the edits do not reach the typo tier", typos)
	}
	t.Logf("%d queries had typo hits", typos)
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < 0x80 || s[i] >= 0xC0 {
			return []rune(s[i:])[0], len(s) - i
		}
	}
	return 0, 1
}

// The state itself: extending a query by bytes outside an account's state
// must lose that account, and the state must hold the bytes of every field
// that follows a match.
func TestResumeStateContents(t *testing.T) {
	ix := fixture()
	snap := ix.Snapshot()
	se := NewSearcher(0)
	se.contMin = 0
	se.Search(snap, "tb") // "tunde bakare": t..b in the name only
	i := 4
	if se.contQuery != "tb" || se.grade[i] != uint8(TierFuzzy)+1 {
		t.Fatalf("no state for %q (grade %d)", se.contQuery, se.grade[i])
	}
	if want := byteMask("akare"); se.cont[i] != want {
		t.Fatalf("state %x, want the classes of %q (%x)", se.cont[i], "akare", want)
	}
	if r := se.Search(snap, "tbz"); len(r.Hits) != 0 {
		t.Fatalf("tbz: %v", r.Hits)
	}
	if r := se.Search(snap, "tbk"); !slices.Contains(r.Hits, int32(i)) {
		t.Fatalf("tbk lost tunde bakare: %v", r.Hits)
	}
}
