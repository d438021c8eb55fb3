package search

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
)

// referenceSearch is the ranking spelled out as plainly as possible, with
// none of the index's shortcuts (masks, skipped fields, narrowing, chunks):
// the index must give exactly this answer.
func referenceSearch(accounts []mono.Account, query string) ([]int32, [tierCount]int) {
	q := Normalize(query)
	type hit struct {
		tier Tier
		at   int32
	}
	var hits []hit
	for i, a := range accounts {
		lower := strings.ToLower
		name, number, id := lower(a.Name), lower(a.AccountNumber), lower(a.ID)
		fields := []string{name, lower(a.Customer.Name), lower(a.Customer.Email), number, lower(a.Institution.Name), id}
		tier, ok := Tier(0), true
		switch {
		case q == "":
			tier = TierSubstring
		case name == q || number == q || id == q:
			tier = TierExact
		case strings.HasPrefix(name, q) || strings.HasPrefix(number, q) || strings.HasPrefix(id, q) ||
			slices.ContainsFunc(strings.Split(name, " ")[1:], func(w string) bool { return strings.HasPrefix(w, q) }):
			tier = TierPrefix
		case !slices.ContainsFunc(strings.Fields(q), func(w string) bool {
			return !slices.ContainsFunc(fields, func(f string) bool { return strings.Contains(f, w) })
		}):
			tier = TierSubstring
		case slices.ContainsFunc(fields, func(f string) bool { return runesInOrder(f, strings.ReplaceAll(q, " ", "")) }):
			tier = TierFuzzy
		case referenceTypo(name, q):
			tier = TierTypo
		default:
			ok = false
		}
		if ok {
			hits = append(hits, hit{tier, int32(i)})
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int { return cmp.Compare(a.tier, b.tier) })
	var out []int32
	var tiers [tierCount]int
	for _, h := range hits {
		out = append(out, h.at)
		tiers[h.tier]++
	}
	return out, tiers
}

// referenceTypo: q is one word of at least typoMin letters a-z, and
// swapping two adjacent letters of it (not among the first typoFrom) gives
// the start of a word of the holder name.
func referenceTypo(name, q string) bool {
	if len(q) < typoMin || strings.Trim(q, "abcdefghijklmnopqrstuvwxyz") != "" {
		return false
	}
	for i := typoFrom; i+1 < len(q); i++ {
		if q[i] == q[i+1] {
			continue
		}
		b := []byte(q)
		b[i], b[i+1] = b[i+1], b[i]
		if slices.ContainsFunc(strings.Split(name, " "), func(w string) bool { return strings.HasPrefix(w, string(b)) }) {
			return true
		}
	}
	return false
}

func runesInOrder(field, q string) bool {
	rs := []rune(q)
	for _, r := range field {
		if len(rs) > 0 && r == rs[0] {
			rs = rs[1:]
		}
	}
	return len(rs) == 0
}

// planted are accounts that exercise what generated data does not: a
// customer who is not the holder, non-ASCII names, an account number with
// letters, an upper-case id, a name that is a prefix of another.
func planted() []mono.Account {
	mk := func(id, name, customer, email, number, bank string) mono.Account {
		return mono.Account{ID: id, Name: name, AccountNumber: number,
			Institution: mono.Institution{Name: bank}, Customer: mono.Customer{Name: customer, Email: email}}
	}
	return []mono.Account{
		mk("6F00000000000000000000AA", "Zubairu Quadri", "Zubairu Quadri", "zq@quadri.example", "0000012345", "Wema Bank"),
		mk("6f00000000000000000000ab", "Zubairu Quadri Ventures", "Halima Quadri", "halima@qv.example", "0000012346", "Kuda Bank"),
		mk("6f00000000000000000000ac", "Adé Ọlábísí", "ADÉ ỌLÁBÍSÍ", "ade@ola.example", "AB12CD34EF", "Ecobank Nigeria"),
		mk("6f00000000000000000000ad", "Ngozi  Eze-Obi", "Ngozi Eze-Obi", "ngozi.eze-obi@mail.example", "9876543210", "Zenith Bank"),
		mk("not-a-hex-id-at-all", "Q", "q", "q@q.example", "1", "Q Bank"),
		mk("6f00000000000000000000ae", "Ada", "Ada", "ada@ada.example", "5555555555", "GTBank"),
	}
}

// typedPrefixes turns queries into every prefix an agent would type.
func typedPrefixes(queries []string) []string {
	var out []string
	for _, q := range queries {
		for i := range q {
			if i > 0 {
				out = append(out, q[:i])
			}
		}
		out = append(out, q)
	}
	return out
}

func TestIndexMatchesReference(t *testing.T) {
	t.Parallel()
	accounts := append(sandbox.Generate(3, 6_000), planted()...)
	ix := New()
	// Pages of uneven sizes, one longer than the index's text batch.
	ix.Add(accounts[:addBatch+500])
	ix.Add(accounts[addBatch+500 : addBatch+1200])
	ix.Add(accounts[addBatch+1200:])
	a := accounts[4_321]
	queries := typedPrefixes([]string{
		strings.ToLower(a.Name), a.AccountNumber, a.ID[:14], a.Customer.Email, "first bank",
		"zubairu quadri", "0000012345", "6f00000000000000000000aa", "adé ọlá", "ab12", "eze-obi", "q",
	})
	// Typos: one swap in the holder's surname (typed letter by letter, so
	// narrowing goes from the typo-free prefix into the typo tier), in a
	// first name, and swaps the tier leaves out (the first two letters).
	typo := []byte("okonkwo")
	for _, w := range strings.Fields(strings.ToLower(a.Name)) {
		if len(w) > 5 && w[3] != w[4] {
			typo = []byte(w)
		}
	}
	typo[3], typo[4] = typo[4], typo[3]
	queries = append(queries, typedPrefixes([]string{string(typo), "zubairu qudari", "qudari", "zubiaru", "uzbairu", "adé ọlbá"})...)
	queries = append(queries, "ZUBAIRU QUADRI", "  zubairu   ventures ", "quadri zubairu", "smlokn", "ọlb", "zzzzzz",
		"ngozi  eze", "@", ".", "9 8", "ade ola", "qv", "halima", strings.ToUpper(a.ID))
	snap := ix.Snapshot()
	inc := NewSearcher(8)
	if r := NewSearcher(1).Search(snap, string(typo)); r.Tiers[TierTypo] == 0 {
		t.Fatalf("%q: no typo hit (tiers %v)", typo, r.Tiers)
	}
	for _, q := range queries {
		wantHits, wantTiers := referenceSearch(accounts, q)
		fresh := NewSearcher(1).Search(snap, q)
		typed := inc.Search(snap, q)
		for _, got := range []Result{fresh, typed} {
			if got.Tiers != wantTiers || !slices.Equal(got.Hits, wantHits) {
				t.Fatalf("query %q: got %d hits %v, reference %d hits %v", q, len(got.Hits), got.Tiers, len(wantHits), wantTiers)
			}
		}
	}
}

// At scale, exact and prefix matches on names, account numbers and ids still
// come first, however many fuzzy and substring matches the catalogue adds.
func TestRankingAtScale(t *testing.T) {
	t.Parallel()
	accounts := append(sandbox.Generate(5, 100_000), planted()...)
	ix := New()
	ix.Add(accounts)
	snap := ix.Snapshot()
	zubairu, ventures := int32(100_000), int32(100_001)
	common := accounts[4_321] // a generated holder whose name many accounts share
	se := NewSearcher(0)
	cases := []struct {
		query string
		first []int32 // the hits that must lead, in this order
		tier  Tier
	}{
		{"Zubairu Quadri", []int32{zubairu, ventures}, TierExact},
		{"zubairu qua", []int32{zubairu, ventures}, TierPrefix},
		{"quadri", []int32{zubairu, ventures}, TierPrefix}, // a later word of the name
		{"0000012345", []int32{zubairu}, TierExact},
		{"000001234", []int32{zubairu, ventures}, TierPrefix},
		{"6f00000000000000000000ab", []int32{ventures}, TierExact},
		{"6F0000000000", []int32{zubairu, ventures}, TierPrefix},
	}
	for _, c := range cases {
		r := se.Search(snap, c.query)
		if len(r.Hits) < len(c.first) || !slices.Equal(r.Hits[:len(c.first)], c.first) {
			t.Fatalf("%q: first hits %v, want %v (tiers %v)", c.query, r.Hits[:min(len(r.Hits), 5)], c.first, r.Tiers)
		}
		if best := tierOf(r, 0); best != c.tier {
			t.Fatalf("%q: best tier %d, want %d", c.query, best, c.tier)
		}
	}

	// A common name: every account holding exactly that name leads, then
	// every account whose name (or a later word of it) starts with it.
	name := strings.ToLower(common.Name)
	r := se.Search(snap, name)
	var exact, prefix int
	for _, a := range accounts {
		n := strings.ToLower(a.Name)
		switch {
		case n == name:
			exact++
		case strings.HasPrefix(n, name) || strings.Contains(n, " "+name):
			prefix++
		}
	}
	if exact < 2 || r.Tiers[TierExact] != exact || r.Tiers[TierPrefix] != prefix {
		t.Fatalf("%q: tiers %v, want %d exact and %d prefix", name, r.Tiers, exact, prefix)
	}
	for k, h := range r.Hits[:exact] {
		if got := strings.ToLower(accounts[h].Name); got != name {
			t.Fatalf("%q: hit %d is %q, not an exact match", name, k, got)
		}
	}

	// A short name: one exact holder, then every name with a word starting
	// "ada", then the many accounts that merely contain or scatter it.
	ada := int32(100_005)
	r = se.Search(snap, "ADA")
	if r.Hits[0] != ada || r.Tiers[TierExact] != 1 {
		t.Fatalf("ada: first hit %d, tiers %v", r.Hits[0], r.Tiers)
	}
	for _, h := range r.Hits[1 : 1+r.Tiers[TierPrefix]] {
		n := strings.ToLower(accounts[h].Name)
		if !strings.HasPrefix(n, "ada") && !strings.Contains(n, " ada") {
			t.Fatalf("ada: %q ranked as a prefix match", n)
		}
	}
	if r.Tiers[TierPrefix] < 100 || r.Tiers[TierSubstring] < 100 || r.Tiers[TierFuzzy] < 100 {
		t.Fatalf("ada: tiers %v: fixture too weak to show ranking at scale", r.Tiers)
	}
}

func tierOf(r Result, k int) Tier {
	for t := range tierCount {
		if k < r.Tiers[t] {
			return t
		}
		k -= r.Tiers[t]
	}
	return tierCount
}

// Fields far longer than anything real are cut to maxField bytes on a rune
// boundary, so one hostile reply cannot make every keystroke slow.
func TestOversizedFieldIsCappedOnARuneBoundary(t *testing.T) {
	long := strings.Repeat("é", maxField) // two bytes each
	ix := New()
	ix.Add([]mono.Account{{ID: "6f0000000000000000000001", Name: long + "tail", AccountNumber: "0123456789"}})
	e := ix.Snapshot().entries[0]
	if len(e.name()) > maxField || !utf8.ValidString(e.name()) {
		t.Fatalf("name is %d bytes, valid UTF-8 %v", len(e.name()), utf8.ValidString(e.name()))
	}
	if r := NewSearcher(0).Search(ix.Snapshot(), "0123456789"); r.Tiers[TierExact] != 1 {
		t.Fatalf("capping the name broke the number: %v", r.Tiers)
	}
	if r := NewSearcher(0).Search(ix.Snapshot(), "tail"); len(r.Hits) != 0 {
		t.Fatal(fmt.Sprint("text past the cap still matched: ", r.Tiers))
	}
}
