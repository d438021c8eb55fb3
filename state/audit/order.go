package audit

import "slices"

// InAttemptOrder reorders recs, in place, so the records of one attempt
// (one Session) read in Seq order even when the file holds them out of
// order: appends from concurrent writers share fsyncs (group commit) and
// can interleave, so an attempt's record 3 may reach the file before its
// record 2.
//
// The sort is stable and keyed by (the position where the record's session
// first appears in recs, Seq). A record without a Seq or a Session keeps
// its own position, so such records stay in file order; the records of a
// session that carry a Seq gather, in Seq order, where that session first
// appears. Each attempt's block stays where the attempt began.
func InAttemptOrder(recs []Record) {
	type key struct{ at, seq, i int }
	keys := make([]key, len(recs))
	first := map[string]int{}
	for i, r := range recs {
		keys[i] = key{at: i, i: i}
		if r.Session == "" {
			continue
		}
		at, seen := first[r.Session]
		if !seen {
			first[r.Session], at = i, i
		}
		if r.Seq > 0 {
			keys[i].at, keys[i].seq = at, r.Seq
		}
	}
	slices.SortStableFunc(keys, func(a, b key) int {
		if a.at != b.at {
			return a.at - b.at
		}
		return a.seq - b.seq
	})
	sorted := make([]Record, len(recs))
	for n, k := range keys {
		sorted[n] = recs[k.i]
	}
	copy(recs, sorted)
}

// WithoutRepeats returns recs without a record whose (Session, Seq) an
// earlier one already has (Seq > 0): the same record written twice, as a
// retry after a commit that timed out once the store had in fact written
// it can leave. Readers that count what happened (an attempt's errors, its
// outcome) read each record once; the audit itself keeps both.
func WithoutRepeats(recs []Record) []Record {
	type key struct {
		session string
		seq     int
	}
	seen := map[key]bool{}
	out := recs[:0:0]
	for _, r := range recs {
		if r.Session != "" && r.Seq > 0 {
			k := key{r.Session, r.Seq}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		out = append(out, r)
	}
	return out
}
