// Package search is the account finder behind the search screen: an index
// that stays fast at a million accounts. It is pure (no I/O, no UI) so the
// screen can run a query in a tea.Cmd and benchmarks can measure it alone.
//
// Why it is fast (BENCHMARKS.md has the numbers):
//   - every account's searchable text is lower-cased once, when it is added,
//     into one contiguous block per batch, with its field boundaries kept as
//     offsets, so a keystroke scans memory in order and splits nothing;
//   - each account carries a 64-bit mask of the byte classes in its text; an
//     account lacking any character of the query is skipped with one AND;
//   - big snapshots are scanned by every core at once; each account's tier
//     lands in its own slot, so the answer is the same as a serial scan;
//   - a query that extends the previous one only re-checks the previous
//     matches (a match for "adaz" is always a match for "ada"), and recent
//     results are cached so deleting a character is a lookup;
//   - for a single-word query each match also remembers the bytes that
//     could follow it in order in its fields, so the next keystroke drops
//     an account whose state lacks the typed byte without reading its text
//     (the 2nd and 3rd characters still match half the catalogue);
//   - ranking is by tier (exact, prefix, substring, fuzzy, typo), in load
//     order within a tier, so there is no sort: matches are counted per tier
//     and written straight into a result of exactly the right size.
//
// The first three tiers are the strong matches (Result.Strong); fuzzy and
// typo hits are looser and the screen shows them apart, below the strong
// ones. A typo hit is a holder-name word that starts with the query with two
// adjacent letters swapped ("okonkow" finds Okonkwo), so narrowing stays
// exact: see typoFrom.
package search

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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
	TierTypo                  // a word of the holder name starts with the query with two adjacent letters swapped
	tierCount
)

// typoFrom is the first position of a query where a typo's swap may start:
// the first two letters are taken as typed (people seldom swap those, and
// it is what keeps the tier cheap and narrowing exact). typoMin is the
// shortest query with a typo tier: one swap past typoFrom.
//
// Narrowing needs every match for a query q to match q less its last letter
// p (at some tier). A typo hit for q whose swap ends before q's last letter
// is a typo hit for p with the same swap; one whose swap takes in the last
// letter (q = p[:n-1] c p[n-1] in the word) holds p in order, so is a fuzzy
// hit for p or better. Both need p to have a typo tier when the swap starts
// at typoFrom, which typoMin = typoFrom+2 gives: at q's length typoMin the
// only swap is the last two letters.
const (
	typoFrom = 2
	typoMin  = typoFrom + 2
)

// sep separates fields in an entry's haystack; it never occurs in a query
// (Normalize keeps only what strings.Fields returns, and CleanText strips
// control characters from account text).
const sep = '\x00'

// maxField bounds one field's bytes so offsets fit in 16 bits. Real names,
// emails and ids are far shorter; the cap only stops a hostile reply from
// making one account cost megabytes per keystroke.
const maxField = 1024

// maxFields is name, customer name, email, institution, number, id.
const maxFields = 6

type entry struct {
	hay string // lower-cased fields joined by sep, in load-batch memory
	// ends[k] is where field k ends in hay; field k+1 starts one byte later.
	// The last three fields are always institution, number, id (so a query
	// that cannot be in a number or an id searches a prefix of hay).
	ends   [maxFields]uint16
	fields uint8
	flags  uint8 // numberDigitsOnly, idHexOnly
	// textMask is byteMask of the text fields (all but number and id): a
	// query of digits usually lacks a bit here and skips them unread.
	textMask uint64
	// headMask has the byte class of the first byte of each name word: a
	// name is only an exact or prefix match when q[0] is among them.
	headMask uint64
}

// Entry flags: the field's characters rule out most queries. Account numbers
// and ids are digits and hex in Mono's data, but that is checked, not assumed.
const (
	numberDigitsOnly uint8 = 1 << iota
	idHexOnly
)

func (e *entry) field(k int) string {
	start := 0
	if k > 0 {
		start = int(e.ends[k-1]) + 1
	}
	return e.hay[start:e.ends[k]]
}

// name is the lower-cased holder name: hay's first field.
func (e *entry) name() string   { return e.hay[:e.ends[0]] }
func (e *entry) number() string { return e.field(int(e.fields) - 2) }

// text is the fields before the number: name, customer, email, institution.
func (e *entry) text() string { return e.hay[:e.ends[e.fields-3]] }
func (e *entry) id() string   { return e.field(int(e.fields) - 1) }

// Index holds the searchable form of accounts in load order. Add and
// Snapshot may be called while snapshots taken earlier are searched from
// other goroutines: entries are never modified once added.
type Index struct {
	mu      sync.Mutex
	entries []entry
	masks   []uint64 // masks[i] is byteMask(entries[i].hay), apart so the prefilter reads 8 bytes an entry
	byID    map[string]int32
}

// New returns an empty index.
func New() *Index { return &Index{byID: make(map[string]int32)} }

// addBatch is how many accounts share one text allocation: small enough that
// building it stays in cache, big enough that a million accounts are a few
// hundred objects for the garbage collector, laid out in load order.
const addBatch = 4096

// Add appends accounts; their positions are the order of the calls.
func (ix *Index) Add(accounts []mono.Account) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var buf []byte
	var ends [][maxFields]uint16
	var counts []uint8
	for len(accounts) > 0 {
		batch := accounts[:min(addBatch, len(accounts))]
		accounts = accounts[len(batch):]
		buf, ends, counts = buf[:0], ends[:0], counts[:0]
		starts := make([]int, 0, len(batch))
		for i := range batch {
			a := &batch[i]
			starts = append(starts, len(buf))
			var e [maxFields]uint16
			k := 0
			at := len(buf)
			put := func(s string) {
				if k > 0 {
					buf = append(buf, sep)
				}
				buf = appendLower(buf, s)
				e[k] = uint16(len(buf) - at)
				k++
			}
			put(a.Name)
			put(a.Customer.Name)
			// The customer is usually the holder: a second copy could never
			// change a tier (no query spans a separator), so it is dropped.
			if name, cust := buf[at:at+int(e[0])], buf[at+int(e[0])+1:]; string(name) == string(cust) {
				buf = buf[:at+int(e[0])]
				k--
			}
			put(a.Customer.Email)
			put(a.Institution.Name)
			put(a.AccountNumber)
			put(a.ID)
			ends = append(ends, e)
			counts = append(counts, uint8(k))
		}
		text := string(buf)
		for i := range batch {
			end := len(text)
			if i+1 < len(batch) {
				end = starts[i+1]
			}
			e := entry{hay: text[starts[i]:end], ends: ends[i], fields: counts[i]}
			if allBytes(e.number(), isDigit) {
				e.flags |= numberDigitsOnly
			}
			if allBytes(e.id(), isHex) {
				e.flags |= idHexOnly
			}
			e.textMask = byteMask(e.text())
			e.headMask = headMask(e.name())
			ix.byID[e.id()] = int32(len(ix.entries))
			ix.entries = append(ix.entries, e)
			ix.masks = append(ix.masks, byteMask(e.hay))
		}
	}
}

func headMask(name string) uint64 {
	var m uint64
	if name != "" {
		m |= byteClass[name[0]]
	}
	for i := 0; i+1 < len(name); i++ {
		if name[i] == ' ' {
			m |= byteClass[name[i+1]]
		}
	}
	return m
}

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// appendLower appends strings.ToLower(s), capped at maxField bytes on a rune
// boundary, without allocating for ASCII text.
func appendLower(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf || s[i] == sep {
			s = strings.ToLower(s)
			break
		}
	}
	if len(s) > maxField {
		cut := maxField
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == sep {
			c = ' ' // a separator inside a field would split it in two
		}
		buf = append(buf, c)
	}
	return buf
}

// byteClass maps a byte to one of 64 bits: a letter or digit to its own bit,
// anything else (punctuation, UTF-8 bytes) shares the remaining 28.
var byteClass = func() (t [256]uint64) {
	for c := range 256 {
		switch {
		case 'a' <= c && c <= 'z':
			t[c] = 1 << (c - 'a')
		case '0' <= c && c <= '9':
			t[c] = 1 << (26 + c - '0')
		default:
			t[c] = 1 << (36 + c%28)
		}
	}
	return t
}()

// byteMask is the set of byte classes in s. Every tier needs each byte of
// the query (spaces aside) somewhere in the haystack, so an entry whose mask
// lacks one of the query's bits cannot match.
func byteMask(s string) uint64 {
	var m uint64
	for i := 0; i < len(s); i++ {
		m |= byteClass[s[i]]
	}
	return m
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
	masks   []uint64
}

// Snapshot returns a view of what the index holds now.
func (ix *Index) Snapshot() Snapshot {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	// The three-index slices cap the view so later appends can't show through.
	n := len(ix.entries)
	return Snapshot{entries: ix.entries[:n:n], masks: ix.masks[:n:n]}
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

// Strong is how many of Hits lead as strong matches (exact, prefix or
// substring); the rest are looser (fuzzy, typo).
func (r Result) Strong() int {
	return r.Tiers[TierExact] + r.Tiers[TierPrefix] + r.Tiers[TierSubstring]
}

// Searcher answers queries and remembers recent answers so the next
// keystroke can start from them. It is safe for concurrent use: queries run
// one at a time (a screen fires one per keystroke from tea.Cmds).
type Searcher struct {
	mu     sync.Mutex
	recent []Result // most recent last; small, so a linear scan is fine
	limit  int
	// grade[i] is 1+tier of account i for the query being answered, 0 for
	// no match. Kept between queries (guarded by mu) so a keystroke over a
	// million accounts does not allocate and clear a fresh megabyte.
	grade []uint8
	// cont is the resume state (see pass) of contQuery over the first
	// contN accounts; contQuery is "" when there is none.
	cont      []uint64
	contQuery string
	contN     int
	contMin   int // the package's contMin; tests lower it to exercise the state on small data
}

// NewSearcher keeps up to cache recent results (16 if cache <= 0).
func NewSearcher(cache int) *Searcher {
	if cache <= 0 {
		cache = 16
	}
	return &Searcher{limit: cache, contMin: contMin}
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
	if cap(se.grade) < n {
		se.grade = make([]uint8, n)
	}
	m := newMatcher(q)
	ps := pass{m: &m, snap: &snap, grade: se.grade[:n]}
	grade := ps.grade
	base, narrowing := se.narrowest(q, n)
	// The resume state is kept for single-word ASCII queries whose answer
	// is big enough that the next keystroke is worth saving work on.
	candidates := n
	if narrowing {
		candidates = len(base.Hits) + n - base.N
	}
	ps.wantCont = m.single && m.ascii && candidates >= se.contMin
	if narrowing && m.single && m.ascii && se.contQuery == base.Query && se.contN == base.N {
		ps.useCont = true
		ps.added = byteMask(q[len(base.Query):])
	}
	if ps.useCont || ps.wantCont {
		if cap(se.cont) < n {
			old := se.cont
			se.cont = make([]uint64, n)
			copy(se.cont, old)
		}
		ps.cont = se.cont[:n]
	}
	se.contQuery, se.contN = "", 0
	if narrowing {
		// Only the previous hits can still match, plus what loaded since.
		clear(grade[:base.N])
		if len(base.Hits) > base.N/denseNarrow {
			// Many hits: mark them, then walk the accounts once in load
			// order, so memory is read as one forward stream rather than
			// once per tier.
			parallel(len(base.Hits), func(lo, hi int) {
				runStart := 0
				for t := range tierCount {
					runEnd := runStart + base.Tiers[t]
					from, to := max(lo, runStart), min(hi, runEnd)
					for _, i := range base.Hits[from:max(from, to)] {
						grade[i] = uint8(t) + 1
					}
					runStart = runEnd
				}
			})
			parallel(base.N, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					if g := grade[i]; g != 0 {
						ps.check(i, Tier(g-1))
					}
				}
			})
		} else {
			parallel(len(base.Hits), func(lo, hi int) {
				// base.Hits is tier by tier: walk the runs this chunk overlaps.
				runStart := 0
				for t := range tierCount {
					runEnd := runStart + base.Tiers[t]
					from, to := max(lo, runStart), min(hi, runEnd)
					for _, i := range base.Hits[from:max(from, to)] {
						ps.check(int(i), t)
					}
					runStart = runEnd
				}
			})
		}
		ps.useCont = false // accounts loaded since have no state
		parallel(n-base.N, func(lo, hi int) { ps.checkRange(base.N+lo, base.N+hi) })
	} else {
		parallel(n, ps.checkRange)
	}
	if ps.wantCont {
		se.contQuery, se.contN = q, n
	}
	r := Result{Query: q, N: n}
	r.Hits, r.Tiers = collect(grade)
	se.remember(r)
	return r
}

// contMin is the fewest candidates for which a search keeps resume state
// for the next keystroke: below it the next keystroke is cheap anyway.
const contMin = 1 << 14

// pass is one query's walk over the accounts.
type pass struct {
	m     *matcher
	snap  *Snapshot
	grade []uint8
	// cont[i] is the resume state of account i for the query answered
	// last (contQuery in the Searcher), valid where that query matched: the
	// byte classes that can follow the query in a field where it matched
	// as a subsequence. Extending the query by bytes outside it cannot
	// match at any tier (every tier of a single-word query is a
	// subsequence of one field), so such an account is dropped without
	// reading its text. Accounts that matched better than fuzzy keep all
	// bits (their state is not worked out).
	cont     []uint64
	useCont  bool   // cont holds the state for the query this one extends
	added    uint64 // byte classes of the bytes the query added
	wantCont bool   // work out cont for this query's fuzzy matches
}

// check grades account i, known to rank no better than from.
func (p *pass) check(i int, from Tier) {
	if p.snap.masks[i]&p.m.mask != p.m.mask {
		p.grade[i] = 0
		return
	}
	e := &p.snap.entries[i]
	if from == TierTypo || p.useCont && p.cont[i]&p.added != p.added {
		// Nothing better than a typo can match: it did not for the
		// shorter query, or the query is not in order in any field.
		p.grade[i] = 0
		if p.m.typo && p.m.typoMatch(e) {
			p.grade[i] = uint8(TierTypo) + 1
			if p.wantCont {
				p.cont[i] = ^uint64(0)
			}
		}
		return
	}
	if !p.wantCont {
		p.grade[i] = p.m.gradeFrom(e, from)
		return
	}
	if t, ok := p.m.gradeBetter(e, from); ok {
		p.grade[i] = uint8(t) + 1
		p.cont[i] = ^uint64(0)
		if p.m.oneByte {
			// Every match of one byte is a substring or better; the state
			// lets the second byte drop most of them unread.
			_, p.cont[i] = p.m.subsequenceCont(e)
		}
		return
	}
	if ok, cont := p.m.subsequenceCont(e); ok {
		p.grade[i] = uint8(TierFuzzy) + 1
		p.cont[i] = cont
		return
	}
	if p.m.typo && p.m.typoMatch(e) {
		// A typo hit has no resume state: it is checked again in full.
		p.grade[i] = uint8(TierTypo) + 1
		p.cont[i] = ^uint64(0)
		return
	}
	p.grade[i] = 0
}

func (p *pass) checkRange(lo, hi int) {
	for i := lo; i < hi; i++ {
		p.check(i, TierExact)
	}
}

// collect lists the graded accounts best tier first, load order within a
// tier. Each chunk of accounts counts its tiers, which fixes where its hits
// go, so chunks fill the one result slice in parallel.
func collect(grade []uint8) ([]int32, [tierCount]int) {
	const chunk = 1 << 16
	chunks := (len(grade) + chunk - 1) / chunk
	counts := make([][tierCount + 1]int, chunks)
	parallelChunks(chunks, func(c int) {
		for _, g := range grade[c*chunk : min(len(grade), (c+1)*chunk)] {
			counts[c][g]++
		}
	})
	var tiers [tierCount]int
	for c := range counts {
		for t := range tiers {
			tiers[t] += counts[c][t+1]
		}
	}
	// at[c][g] is where chunk c writes its next hit of grade g.
	at := make([][tierCount + 1]int, chunks)
	start := 0
	for t := range tiers {
		pos := start
		for c := range counts {
			at[c][t+1] = pos
			pos += counts[c][t+1]
		}
		start += tiers[t]
	}
	// When most accounts match, each chunk writes its misses to a spare slot
	// of its own past the end (one per chunk: chunks run in parallel):
	// writing every account without a branch beats guessing which match.
	hits := make([]int32, start+chunks)
	dense := start > len(grade)/4
	parallelChunks(chunks, func(c int) {
		next := at[c]
		lo := c * chunk
		if dense {
			next[0] = start + c
			for k, g := range grade[lo:min(len(grade), lo+chunk)] {
				hits[next[g]] = int32(lo + k)
				next[g] += min(int(g), 1)
			}
			return
		}
		for k, g := range grade[lo:min(len(grade), lo+chunk)] {
			if g != 0 {
				hits[next[g]] = int32(lo + k)
				next[g]++
			}
		}
	})
	return hits[:start:start], tiers
}

// denseNarrow: when more than 1/denseNarrow of the accounts matched the
// previous query, narrowing walks all accounts in order instead of the hits.
const denseNarrow = 8

// parallelMin is the work below which one goroutine is quicker than several.
const parallelMin = 1 << 14

// parallel runs fn over [0, n) split into chunks shared by GOMAXPROCS
// workers. Chunks are taken as workers free up, so a core slowed by other
// load does not hold the others back; fn must only write per-index slots.
func parallel(n int, fn func(lo, hi int)) {
	if n < parallelMin || runtime.GOMAXPROCS(0) == 1 {
		fn(0, n)
		return
	}
	const chunk = parallelMin
	parallelChunks((n+chunk-1)/chunk, func(c int) { fn(c*chunk, min(n, (c+1)*chunk)) })
}

func parallelChunks(chunks int, fn func(c int)) {
	workers := min(runtime.GOMAXPROCS(0), chunks)
	if workers <= 1 {
		for c := range chunks {
			fn(c)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := int(next.Add(1) - 1); c < chunks; c = int(next.Add(1) - 1) {
				fn(c)
			}
		})
	}
	wg.Wait()
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
	mask   uint64 // byte classes every match must contain
	// oneByte: the query is a single byte, so passing the mask already
	// proves the haystack contains it.
	oneByte bool
	// notIn has entry flags (digitsOnly, hexOnly) whose field cannot
	// contain this query: a query with a letter is never inside a number.
	notIn uint8
	ascii bool
	head  uint64 // byte class of q[0]
	// typo: the query is one word of typoMin or more letters a-z, so it
	// has a typo tier.
	typo bool
}

func newMatcher(q string) matcher {
	words := strings.Fields(q)
	fz := strings.ReplaceAll(q, " ", "")
	m := matcher{q: q, words: words, fuzzy: fz, single: len(words) == 1,
		mask: byteMask(fz), oneByte: len(q) == 1, ascii: true, head: byteClass[q[0]]}
	m.typo = m.single && len(q) >= typoMin
	for i := 0; i < len(fz); i++ {
		c := fz[i]
		if c < 'a' || c > 'z' {
			m.typo = false
		}
		if c >= utf8.RuneSelf {
			m.ascii = false
		}
		if !isDigit(c) {
			m.notIn |= numberDigitsOnly
		}
		if !isHex(c) {
			m.notIn |= idHexOnly
		}
	}
	return m
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || 'a' <= c && c <= 'f' }

// gradeFrom grades an entry known to rank no better than from for this
// query. Narrowing relies on it: when q extends p, exact(q) implies
// prefix(p), prefix(q) implies prefix(p), substring(q) implies at least
// substring(p) and fuzzy(q) implies at least fuzzy(p); so an account that
// was only a substring match for p skips the exact and prefix checks, and
// one that was only fuzzy skips the substring check too.
// A typo hit for q was no better than a typo hit for p (a fuzzy hit for q
// is one for p), so it only checks the typo tier.
func (m *matcher) gradeFrom(e *entry, from Tier) uint8 {
	if from < TierTypo {
		if t, ok := m.gradeBetter(e, from); ok {
			return uint8(t) + 1
		}
		if m.subsequence(e) {
			return uint8(TierFuzzy) + 1
		}
	}
	if m.typo && m.typoMatch(e) {
		return uint8(TierTypo) + 1
	}
	return 0
}

// gradeBetter is gradeFrom's tiers above fuzzy.
func (m *matcher) gradeBetter(e *entry, from Tier) (Tier, bool) {
	if from <= TierPrefix {
		if t, ok := m.exactOrPrefix(e); ok {
			return t, true
		}
	}
	if from <= TierSubstring && m.substring(e) {
		return TierSubstring, true
	}
	return 0, false
}

// exactOrPrefix checks the holder name, account number and id: exact on
// any of them beats a prefix on another.
func (m *matcher) exactOrPrefix(e *entry) (Tier, bool) {
	q := m.q
	prefix := false
	// The first byte rules out nearly every field without a call.
	if m.numberMayHold(e) {
		if f := e.number(); len(f) >= len(q) && f[0] == q[0] && f[:len(q)] == q {
			if len(f) == len(q) {
				return TierExact, true
			}
			prefix = true
		}
	}
	if m.idMayHold(e) {
		if f := e.id(); len(f) >= len(q) && f[0] == q[0] && f[:len(q)] == q {
			if len(f) == len(q) {
				return TierExact, true
			}
			prefix = true
		}
	}
	if e.headMask&m.head == 0 {
		return TierPrefix, prefix
	}
	if f := e.name(); len(f) >= len(q) && f[0] == q[0] && f[:len(q)] == q {
		if len(f) == len(q) {
			return TierExact, true
		}
		prefix = true
	}
	if prefix || wordPrefix(e.name(), q) {
		return TierPrefix, true
	}
	return 0, false
}

// A single-word query must sit inside one field: these say which fields
// can hold it. Skipping a field is only an optimisation (it would fail).
func (m *matcher) textMayHold(e *entry) bool { return e.textMask&m.mask == m.mask }
func (m *matcher) numberMayHold(e *entry) bool {
	return m.notIn&e.flags&numberDigitsOnly == 0
}
func (m *matcher) idMayHold(e *entry) bool { return m.notIn&e.flags&idHexOnly == 0 }

func (m *matcher) substring(e *entry) bool {
	if m.oneByte {
		return true // the mask check found the byte
	}
	if !m.single {
		return allContained(e.hay, m.words)
	}
	// hay is text, number, id; q holds no separator, so a match in hay is
	// a match in one field: one call covers every field that may hold q.
	q := m.q
	number, id := m.numberMayHold(e), m.idMayHold(e)
	if m.textMayHold(e) {
		if number && id {
			return strings.Contains(e.hay, q)
		}
		if strings.Contains(e.text(), q) {
			return true
		}
	}
	if number && id {
		return strings.Contains(e.hay[e.ends[e.fields-3]+1:], q)
	}
	return number && strings.Contains(e.number(), q) || id && strings.Contains(e.id(), q)
}

// wordPrefix reports whether any later word of name starts with q.
func wordPrefix(name, q string) bool {
	for {
		sp := strings.IndexByte(name, ' ')
		if sp < 0 {
			return false
		}
		name = name[sp+1:]
		if len(name) >= len(q) && name[0] == q[0] && name[:len(q)] == q {
			return true
		}
	}
}

// typoMatch reports whether a word of the holder name starts with the
// query with two adjacent letters swapped, at typoFrom or later ("okonkow"
// for "Okonkwo"). Only for m.typo queries; the caller has checked the mask.
func (m *matcher) typoMatch(e *entry) bool {
	if e.headMask&m.head == 0 {
		return false // no word of the name starts with q[0]
	}
	q, name := m.q, e.name()
	for ws := 0; ws+len(q) <= len(name); {
		if w := name[ws : ws+len(q)]; w[0] == q[0] && w[1] == q[1] && swappedOnce(w, q) {
			return true
		}
		sp := strings.IndexByte(name[ws:], ' ')
		if sp < 0 {
			return false
		}
		ws += sp + 1
	}
	return false
}

// swappedOnce reports whether w is q with one pair of adjacent bytes at
// typoFrom or later swapped (w and q are the same length).
func swappedOnce(w, q string) bool {
	j := typoFrom
	for j < len(q) && w[j] == q[j] {
		j++
	}
	return j+1 < len(q) && w[j] == q[j+1] && w[j+1] == q[j] && w[j+2:] == q[j+2:]
}

func allContained(hay string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// subsequence reports whether the query's runes appear in order within one
// field of e (a fuzzy match must not stitch a name to an email).
func (m *matcher) subsequence(e *entry) bool {
	if m.numberMayHold(e) && m.inOrder(e.number()) || m.idMayHold(e) && m.inOrder(e.id()) {
		return true
	}
	if !m.textMayHold(e) {
		return false
	}
	start := 0
	for k := range int(e.fields) - 2 {
		end := int(e.ends[k])
		if m.inOrder(e.hay[start:end]) {
			return true
		}
		start = end + 1
	}
	return false
}

// subsequenceCont is subsequence for a single-word ASCII query that also
// works out the resume state: the byte classes after the query's leftmost
// match in every field that holds it in order.
func (m *matcher) subsequenceCont(e *entry) (bool, uint64) {
	q, hay := m.fuzzy, e.hay
	nf := int(e.fields)
	// Fields nf-2 and nf-1 are the number and the id; the rest are text.
	// Bit k of may: field k can hold q.
	may := uint8(0)
	if m.textMayHold(e) {
		may = 1<<(nf-2) - 1
	}
	if m.numberMayHold(e) {
		may |= 1 << (nf - 2)
	}
	if m.idMayHold(e) {
		may |= 1 << (nf - 1)
	}
	allowed := func(k int) bool { return may>>k&1 != 0 }
	ok, cont := false, uint64(0)
	for k, pos := 0, 0; k < nf; {
		if !allowed(k) {
			pos = int(e.ends[k]) + 1
			k++
			continue
		}
		// One search for q[0] skips every field of the run that lacks it.
		last := k
		for last+1 < nf && allowed(last+1) {
			last++
		}
		a := strings.IndexByte(hay[pos:e.ends[last]], q[0])
		if a < 0 {
			pos = int(e.ends[last]) + 1
			k = last + 1
			continue
		}
		a += pos
		for int(e.ends[k]) < a {
			k++
		}
		end := int(e.ends[k])
		if at := matchEnd(hay[a+1:end], q[1:]); at >= 0 {
			ok = true
			cont |= byteMask(hay[a+1+at : end])
		}
		pos = end + 1
		k++
	}
	return ok, cont
}

// matchEnd is where the leftmost match of the ASCII q in order in s ends,
// or -1 when s does not hold it.
func matchEnd(s, q string) int {
	if len(q) == 0 {
		return 0
	}
	if len(s) < len(q) {
		return -1
	}
	j := 0
	for i := 0; i < len(s); i++ {
		if s[i] == q[j] {
			if j++; j == len(q) {
				return i + 1
			}
		}
	}
	return -1
}

func (m *matcher) inOrder(field string) bool {
	if len(field) < len(m.fuzzy) {
		return false
	}
	if m.ascii {
		return inOrderASCII(field, m.fuzzy)
	}
	return inOrder(field, m.fuzzy)
}

// inOrderASCII is inOrder for a query of single-byte runes.
func inOrderASCII(s, q string) bool {
	if len(s) <= 32 {
		// Numbers and ids are short: a plain loop beats a call per byte.
		j := 0
		for i := 0; i < len(s); i++ {
			if s[i] == q[j] {
				if j++; j == len(q) {
					return true
				}
			}
		}
		return false
	}
	for j := 0; j < len(q); j++ {
		k := strings.IndexByte(s, q[j])
		if k < 0 {
			return false
		}
		s = s[k+1:]
	}
	return true
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
