package search

import (
	"fmt"
	"slices"
	"testing"

	"github.com/reauth/reauth/mono"
)

func acct(id, name, number, bank, email string) mono.Account {
	return mono.Account{ID: id, Name: name, AccountNumber: number,
		Institution: mono.Institution{Name: bank}, Customer: mono.Customer{Name: name, Email: email}}
}

func fixture() *Index {
	ix := New()
	ix.Add([]mono.Account{
		acct("65a000000000000000000001", "Chinedu Adams", "0123456789", "GTBank", "chinedu@example.ng"),
		acct("65a000000000000000000002", "Adaeze Okonkwo", "2233445566", "Access Bank", "adaeze.o@example.ng"),
		acct("65a000000000000000000003", "Bola Ade", "3344556677", "Zenith Bank", "bola@ada.example"),
		acct("65a000000000000000000004", "Ada", "4455667788", "UBA", "ada@example.ng"),
		acct("65a000000000000000000005", "Tunde Bakare", "5566778899", "Kuda", "tunde@example.ng"),
	})
	return ix
}

func names(ix *Index, r Result) []string {
	snap := ix.Snapshot()
	var out []string
	for _, h := range r.Hits {
		out = append(out, snap.entries[h].name())
	}
	return out
}

func TestRankingPutsExactAndPrefixFirst(t *testing.T) {
	ix := fixture()
	se := NewSearcher(0)
	r := se.Search(ix.Snapshot(), "ADA")
	got := names(ix, r)
	// exact "ada", then prefix "adaeze okonkwo", then word-prefix "chinedu adams",
	// then substring in email "bola ade"? no: "bola@ada" contains "ada".
	want := []string{"ada", "chinedu adams", "adaeze okonkwo", "bola ade"}
	// Within a tier, load order: chinedu adams (word prefix) loads before adaeze.
	if !slices.Equal(got, want) {
		t.Fatalf("ranking = %q, want %q", got, want)
	}
	if r.Tiers[TierExact] != 1 || r.Tiers[TierPrefix] != 2 || r.Tiers[TierSubstring] != 1 {
		t.Fatalf("tiers = %v", r.Tiers)
	}
}

func TestAccountNumberAndIDPrefix(t *testing.T) {
	ix := fixture()
	se := NewSearcher(0)
	if got := names(ix, se.Search(ix.Snapshot(), "22334")); !slices.Equal(got, []string{"adaeze okonkwo"}) {
		t.Fatalf("number prefix: %q", got)
	}
	r := se.Search(ix.Snapshot(), "65a000000000000000000005")
	if got := names(ix, r); len(got) == 0 || got[0] != "tunde bakare" || r.Tiers[TierExact] != 1 {
		t.Fatalf("id exact: %q %v", got, r.Tiers)
	}
	if i, ok := ix.Lookup(" 65A000000000000000000003 "); !ok || i != 2 {
		t.Fatalf("Lookup = %d %v", i, ok)
	}
}

func TestFuzzyStaysInsideOneField(t *testing.T) {
	ix := fixture()
	se := NewSearcher(0)
	if got := names(ix, se.Search(ix.Snapshot(), "tbkr")); !slices.Equal(got, []string{"tunde bakare"}) {
		t.Fatalf("fuzzy: %q", got)
	}
	// "zk" would only match by stitching "zenith" to a later field.
	if got := names(ix, se.Search(ix.Snapshot(), "kudaz")); len(got) != 0 {
		t.Fatalf("fuzzy crossed fields: %q", got)
	}
}

func TestMultiWordQuery(t *testing.T) {
	ix := fixture()
	se := NewSearcher(0)
	if got := names(ix, se.Search(ix.Snapshot(), "  bola   zenith ")); !slices.Equal(got, []string{"bola ade"}) {
		t.Fatalf("multi-word: %q", got)
	}
}

// Incremental narrowing and the cache must give exactly what a fresh search
// gives, including accounts that loaded between keystrokes.
func TestIncrementalEqualsFresh(t *testing.T) {
	ix := New()
	gen := func(from, n int) []mono.Account {
		var out []mono.Account
		for i := from; i < from+n; i++ {
			out = append(out, acct(fmt.Sprintf("%024x", i), fmt.Sprintf("holder %d ada%d", i, i%7),
				fmt.Sprintf("%010d", i*7919), []string{"GTBank", "Opay", "Kuda"}[i%3], fmt.Sprintf("u%d@x.ng", i)))
		}
		return out
	}
	ix.Add(gen(0, 300))
	inc := NewSearcher(4)
	queries := []string{"a", "ad", "ada", "ada3", "ada", "ad", "h", "ho", "hol", "hold", "holder 1", "holder 12", "holder 1", "k", "ku", "kud"}
	for step, q := range queries {
		if step == 5 {
			ix.Add(gen(300, 200)) // more pages arrive mid-typing
		}
		snap := ix.Snapshot()
		got := inc.Search(snap, q)
		want := NewSearcher(1).Search(snap, q)
		if !slices.Equal(got.Hits, want.Hits) || got.Tiers != want.Tiers {
			t.Fatalf("step %d %q: incremental %d hits %v, fresh %d hits %v", step, q, len(got.Hits), got.Tiers, len(want.Hits), want.Tiers)
		}
		if len(got.Hits) == 0 {
			t.Fatalf("step %d %q: no hits, fixture too weak", step, q)
		}
	}
}

func TestEmptyQueryIsEverythingInOrder(t *testing.T) {
	ix := fixture()
	r := NewSearcher(0).Search(ix.Snapshot(), "   ")
	if !slices.Equal(r.Hits, []int32{0, 1, 2, 3, 4}) {
		t.Fatalf("hits = %v", r.Hits)
	}
}

func TestSnapshotIgnoresLaterAdds(t *testing.T) {
	ix := fixture()
	snap := ix.Snapshot()
	ix.Add([]mono.Account{acct("65a000000000000000000009", "Ada Late", "9999999999", "Kuda", "")})
	if snap.Len() != 5 || ix.Len() != 6 {
		t.Fatalf("snapshot len %d, index len %d", snap.Len(), ix.Len())
	}
	if r := NewSearcher(0).Search(snap, "late"); len(r.Hits) != 0 {
		t.Fatalf("snapshot saw a later add: %v", r.Hits)
	}
}

// Strong hits (exact, prefix, substring) lead; fuzzy ones follow and are
// counted apart, so the screen can show them as looser: "folake" finds
// Folake Adeyemi-Bello strongly and Folasade Ibekwe only loosely (f-o-l-a
// in Folasade, k-e in Ibekwe).
func TestLooseHitsFollowStrongOnes(t *testing.T) {
	ix := New()
	ix.Add([]mono.Account{
		acct("65a000000000000000000011", "Folasade Ibekwe", "1111111111", "First Bank", "folasade@example.ng"),
		acct("65a000000000000000000012", "Folake Adeyemi-Bello", "2222222222", "GTBank", "fab@example.ng"),
	})
	r := NewSearcher(0).Search(ix.Snapshot(), "folake")
	if got := names(ix, r); !slices.Equal(got, []string{"folake adeyemi-bello", "folasade ibekwe"}) {
		t.Fatalf("ranking %q", got)
	}
	if r.Strong() != 1 || r.Tiers[TierFuzzy] != 1 {
		t.Fatalf("strong %d, tiers %v: Folasade Ibekwe must be a looser hit", r.Strong(), r.Tiers)
	}
}

// One swapped pair of letters in a name still finds it, as a typo hit
// (after every other tier); the first two letters are taken as typed.
func TestTypoInANameFindsIt(t *testing.T) {
	ix := fixture()
	for _, q := range []string{"okonkow", "OKONKOW", "oknokwo", "okokn", "adaeez", "bakrae"} {
		r := NewSearcher(0).Search(ix.Snapshot(), q)
		if len(r.Hits) == 0 || r.Tiers[TierTypo] == 0 || r.Strong() != 0 {
			t.Fatalf("%q: %q, tiers %v: want a typo hit", q, names(ix, r), r.Tiers)
		}
	}
	r := NewSearcher(0).Search(ix.Snapshot(), "okonkow")
	if got := names(ix, r); !slices.Equal(got, []string{"adaeze okonkwo"}) {
		t.Fatalf("okonkow: %q", got)
	}
	// Not typos: a swap of the first two letters, two swaps, a swap in a
	// query too short to have the tier, digits, several words.
	for _, q := range []string{"kookwno", "konokwo", "okonkowa", "oko", "adaeze okonkow", "2233544566"} {
		if r := NewSearcher(0).Search(ix.Snapshot(), q); r.Tiers[TierTypo] != 0 {
			t.Fatalf("%q: typo hits %q", q, names(ix, r))
		}
	}
	// Typed letter by letter, the typo hit survives narrowing.
	se := NewSearcher(0)
	var r2 Result
	for i := 1; i <= len("okonkow"); i++ {
		r2 = se.Search(ix.Snapshot(), "okonkow"[:i])
	}
	if r2.Tiers[TierTypo] != 1 {
		t.Fatalf("typed okonkow: tiers %v", r2.Tiers)
	}
}
