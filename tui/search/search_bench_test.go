package search

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sahilm/fuzzy"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
)

// The search benchmarks replay what an agent types: queries of up to 12
// characters — a holder name, an account number and an id, plus with
// REAUTH_BENCH_QUERIES=all an email, a bank and a vowel-less fuzzy name —
// each typed one character at a time and then corrected by deleting its
// last character. One op is the whole script; ms/key is the mean cost of
// one keystroke, ms/worst-key the slowest, cpu-ms/key the process CPU per
// keystroke (both cores; wall time above it means other load on the machine).
//
//	go test -run '^$' -bench 'Search' -benchmem ./tui/search/
//	REAUTH_BENCH_QUERIES=all go test -run '^$' -bench 'Search' -benchmem -timeout 60m ./tui/search/
//
// Engines:
//   - index/type: one Searcher for the script, as the search screen uses it
//     (extending a query narrows the previous hits, deleting is a cache hit);
//   - index/cold: a new Searcher per keystroke (every keystroke scans all
//     accounts, as after a paste): the worst case of the index;
//   - fuzzy: github.com/sahilm/fuzzy (what bubbles' list filters with) over
//     the same fields of the same accounts, a full FindFrom per keystroke.

// benchSizes are the catalogue sizes issue 8 sets targets for.
var benchSizes = []int{100_000, 1_000_000}

type benchData struct {
	accounts []mono.Account
	snap     Snapshot
	hay      fuzzySource // the same fields, for the baseline
	script   []string    // every keystroke's query, in order
	resets   []bool      // true where a new query starts (the box was cleared)
}

var (
	benchMu    sync.Mutex
	benchCache = map[int]*benchData{}
)

// loadBench generates n sandbox accounts once per process, outside timing.
func loadBench(b *testing.B, n int) *benchData {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if d, ok := benchCache[n]; ok {
		return d
	}
	// Only one size is kept: a million accounts and their index are ~1 GB.
	clear(benchCache)
	accounts := sandbox.Generate(1, n)
	ix := New()
	ix.Add(accounts)
	d := &benchData{accounts: accounts, snap: ix.Snapshot(), hay: make(fuzzySource, n)}
	for i, a := range accounts {
		d.hay[i] = strings.Join([]string{a.Name, a.Customer.Name, a.Customer.Email, a.AccountNumber, a.Institution.Name, a.ID}, " ")
	}
	for _, q := range typedQueries(accounts) {
		for l := 1; l <= len(q); l++ {
			d.script = append(d.script, q[:l])
			d.resets = append(d.resets, l == 1)
		}
		d.script = append(d.script, q[:len(q)-1]) // backspace
		d.resets = append(d.resets, false)
	}
	benchCache[n] = d
	// Building a million accounts leaves garbage: collect it now so the
	// first engine measured does not pay for it.
	runtime.GC()
	return d
}

// typedQueries are what an agent types, taken from an ordinary account deep
// in the catalogue (index 54,321 exists at both sizes).
func typedQueries(accounts []mono.Account) []string {
	a := accounts[54_321]
	name := strings.ToLower(a.Name)
	noVowels := strings.Map(func(r rune) rune {
		if strings.ContainsRune("aeiou", r) {
			return -1
		}
		return r
	}, name)
	cut := func(s string) string { return s[:min(12, len(s))] }
	queries := []string{cut(name), a.AccountNumber, cut(a.ID)}
	if os.Getenv("REAUTH_BENCH_QUERIES") == "all" {
		queries = append(queries, cut(a.Customer.Email), cut(strings.ToLower(a.Institution.Name)), cut(noVowels))
	}
	return queries
}

type fuzzySource []string

func (s fuzzySource) String(i int) string { return s[i] }
func (s fuzzySource) Len() int            { return len(s) }

// keystrokes runs the script b.N times through key and reports per-keystroke
// costs: the mean, the single worst keystroke of the whole run (any GC pause
// or scheduling hiccup lands here), and the slowest keystroke of the script
// by its median over the b.N runs ("sam" after "sa" is the same work every
// run, so the median is that keystroke's cost without the hiccups).
func keystrokes(b *testing.B, d *benchData, key func(q string, reset bool)) {
	b.ReportAllocs()
	worst := time.Duration(0)
	perKey := make([][]time.Duration, len(d.script))
	b.ResetTimer()
	cpu0 := processCPU()
	for range b.N {
		for k, q := range d.script {
			t0 := time.Now()
			key(q, d.resets[k])
			took := time.Since(t0)
			worst = max(worst, took)
			perKey[k] = append(perKey[k], took)
		}
	}
	keys := float64(b.N * len(d.script))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/keys/1e6, "ms/key")
	b.ReportMetric(float64(worst.Nanoseconds())/1e6, "ms/worst-key")
	slowest := time.Duration(0)
	for _, runs := range perKey {
		slices.Sort(runs)
		slowest = max(slowest, runs[len(runs)/2])
	}
	b.ReportMetric(float64(slowest.Nanoseconds())/1e6, "ms/slowest-key-median")
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/keys/1e6, "cpu-ms/key")
}

func BenchmarkSearch(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%s/engine=index-type", sizeName(n)), func(b *testing.B) {
			d := loadBench(b, n)
			var se *Searcher
			keystrokes(b, d, func(q string, reset bool) {
				if reset || se == nil {
					se = NewSearcher(32) // as the search screen makes it
				}
				se.Search(d.snap, q)
			})
		})
		b.Run(fmt.Sprintf("n=%s/engine=index-cold", sizeName(n)), func(b *testing.B) {
			d := loadBench(b, n)
			keystrokes(b, d, func(q string, _ bool) {
				NewSearcher(1).Search(d.snap, q)
			})
		})
		b.Run(fmt.Sprintf("n=%s/engine=fuzzy", sizeName(n)), func(b *testing.B) {
			d := loadBench(b, n)
			keystrokes(b, d, func(q string, _ bool) {
				fuzzy.FindFrom(q, d.hay)
			})
		})
	}
}

func sizeName(n int) string {
	if n%1_000_000 == 0 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	return fmt.Sprintf("%dk", n/1000)
}
