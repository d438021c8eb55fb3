// Package search is the account finder behind the search screen: an index
// that stays fast at a million accounts. It is pure (no I/O, no UI) so the
// screen can run a query in a tea.Cmd and benchmarks can measure it alone.
//
// Why it is fast:
//   - every account's searchable text is lower-cased once, when it is added,
//     never per keystroke;
//   - a query that extends the previous one only re-checks the previous
//     matches (a match for "adaz" is always a match for "ada"), and recent
//     results are cached so deleting a character is a lookup;
//   - ranking is by tier (exact, prefix, substring, fuzzy) into buckets, in
//     load order within a tier, so there is no sort over all matches.
package search

import (
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/reauth/reauth/mono"
)

// Tier is how well an account matched; lower is better.
type Tier uint8

const (
	TierExact     Tier = iota // whole query equals the id, account number or holder name
	TierPrefix                // a name (or any word of it), the account number or the id starts with the query
	TierSubstring             // every word of the query appears somewhere
	TierFuzzy                 // the query's letters appear in order
	tierCount
)

// sep separates fields in an entry's haystack; it never occurs in a query.
const sep = "\x00"

type entry struct {
	hay    string // lower-cased fields joined by sep
	name   string // lower-cased holder name
	number string
	id     string
}

// Index holds the searchable form of accounts in load order. Add and
// Snapshot may be called while snapshots taken earlier are searched from
// other goroutines: entries are never modified once added.
type Index struct {
	mu      sync.Mutex
	entries []entry
	byID    map[string]int32
}

// New returns an empty index.
func New() *Index { return &Index{byID: make(map[string]int32)} }

// Add appends accounts; their positions are the order of the calls.
func (ix *Index) Add(accounts []mono.Account) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, a := range accounts {
		e := entry{
			name:   strings.ToLower(a.Name),
			number: a.AccountNumber,
			id:     strings.ToLower(a.ID),
		}
		e.hay = strings.Join([]string{e.name, strings.ToLower(a.Customer.Name),
			strings.ToLower(a.Customer.Email), e.number, strings.ToLower(a.Institution.Name), e.id}, sep)
		ix.byID[e.id] = int32(len(ix.entries))
		ix.entries = append(ix.entries, e)
	}
}

// Len is the number of accounts added so far.
func (ix *Index) Len() int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.entries)
}

// Lookup finds an account's position by its exact id (case-insensitive).
func (ix *Index) Lookup(id string) (int, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	i, ok := ix.byID[strings.ToLower(strings.TrimSpace(id))]
	return int(i), ok
}

// Snapshot is an immutable view of the first Len() accounts, safe to search
// from any goroutine while more accounts are added to the index.
type Snapshot struct {
	entries []entry
}

// Snapshot returns a view of what the index holds now.
func (ix *Index) Snapshot() Snapshot {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	// The three-index slice caps the view so later appends can't show through.
	return Snapshot{entries: ix.entries[:len(ix.entries):len(ix.entries)]}
}

// Len is the number of accounts in the snapshot.
func (s Snapshot) Len() int { return len(s.entries) }

// Result is the answer to one query over one snapshot.
type Result struct {
	Query string
	N     int     // accounts searched (the snapshot's length)
	Hits  []int32 // positions in load order, best tier first
	Tiers [tierCount]int
}

// Searcher answers queries and remembers recent answers so the next
// keystroke can start from them. It is safe for concurrent use: queries run
// one at a time (a screen fires one per keystroke from tea.Cmds).
type Searcher struct {
	mu     sync.Mutex
	recent []Result // most recent last; small, so a linear scan is fine
	limit  int
}

// NewSearcher keeps up to cache recent results (16 if cache <= 0).
func NewSearcher(cache int) *Searcher {
	if cache <= 0 {
		cache = 16
	}
	return &Searcher{limit: cache}
}

// Normalize is the form a query is matched in.
func Normalize(q string) string {
	return strings.Join(strings.Fields(strings.ToLower(q)), " ")
}

// Search answers q over snap. An empty query matches everything in order.
func (se *Searcher) Search(snap Snapshot, q string) Result {
	se.mu.Lock()
	defer se.mu.Unlock()
	q = Normalize(q)
	n := snap.Len()
	if q == "" {
		hits := make([]int32, n)
		for i := range hits {
			hits[i] = int32(i)
		}
		r := Result{Query: q, N: n, Hits: hits}
		r.Tiers[TierSubstring] = n
		return r
	}
	for _, r := range se.recent {
		if r.Query == q && r.N == n {
			return r
		}
	}
	m := newMatcher(q)
	var buckets [tierCount][]int32
	add := func(i int32) {
		if t, ok := m.match(&snap.entries[i]); ok {
			buckets[t] = append(buckets[t], i)
		}
	}
	if base, ok := se.narrowest(q, n); ok {
		// Only the previous hits can still match, plus what loaded since.
		for _, i := range base.Hits {
			add(i)
		}
		for i := base.N; i < n; i++ {
			add(int32(i))
		}
		// Hits from base come in tier order, not load order: restore it.
		for t := range buckets {
			slices.Sort(buckets[t])
		}
	} else {
		for i := range n {
			add(int32(i))
		}
	}
	r := Result{Query: q, N: n}
	total := 0
	for t := range buckets {
		total += len(buckets[t])
	}
	r.Hits = make([]int32, 0, total)
	for t := range buckets {
		r.Tiers[t] = len(buckets[t])
		r.Hits = append(r.Hits, buckets[t]...)
	}
	se.remember(r)
	return r
}

// narrowest finds the longest cached query that q extends, over a snapshot
// no longer than n (accounts only ever get appended).
func (se *Searcher) narrowest(q string, n int) (Result, bool) {
	best, found := Result{}, false
	for _, r := range se.recent {
		if r.N <= n && r.Query != "" && strings.HasPrefix(q, r.Query) && len(r.Query) > len(best.Query) {
			best, found = r, true
		}
	}
	return best, found
}

func (se *Searcher) remember(r Result) {
	if len(se.recent) >= se.limit {
		se.recent = append(se.recent[:0], se.recent[1:]...)
	}
	se.recent = append(se.recent, r)
}

// matcher is a query prepared once for many entries.
type matcher struct {
	q      string
	words  []string
	fuzzy  string // q without spaces
	single bool
}

func newMatcher(q string) matcher {
	words := strings.Fields(q)
	return matcher{q: q, words: words, fuzzy: strings.ReplaceAll(q, " ", ""), single: len(words) == 1}
}

func (m *matcher) match(e *entry) (Tier, bool) {
	q := m.q
	if e.name == q || e.number == q || e.id == q {
		return TierExact, true
	}
	if strings.HasPrefix(e.name, q) || strings.HasPrefix(e.number, q) || strings.HasPrefix(e.id, q) ||
		wordPrefix(e.name, q) {
		return TierPrefix, true
	}
	if m.single {
		if strings.Contains(e.hay, q) {
			return TierSubstring, true
		}
	} else if allContained(e.hay, m.words) {
		return TierSubstring, true
	}
	if subsequence(e.hay, m.fuzzy) {
		return TierFuzzy, true
	}
	return 0, false
}

// wordPrefix reports whether any later word of name starts with q.
func wordPrefix(name, q string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] == ' ' && strings.HasPrefix(name[i+1:], q) {
			return true
		}
	}
	return false
}

func allContained(hay string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// subsequence reports whether q's runes appear in hay in order, within one
// field (a fuzzy match must not stitch a name to an email).
func subsequence(hay, q string) bool {
	if q == "" {
		return true
	}
	for field := range strings.SplitSeq(hay, sep) {
		if len(field) >= len(q) && inOrder(field, q) {
			return true
		}
	}
	return false
}

func inOrder(s, q string) bool {
	j := 0
	for j < len(q) {
		r, size := utf8.DecodeRuneInString(q[j:])
		if r < utf8.RuneSelf {
			k := strings.IndexByte(s, byte(r))
			if k < 0 {
				return false
			}
			s = s[k+1:]
		} else {
			k := strings.IndexRune(s, r)
			if k < 0 {
				return false
			}
			s = s[k+size:]
		}
		j += size
	}
	return true
}
