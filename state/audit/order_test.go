package audit

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Group commit lets two attempts' records interleave, and one attempt's
// later record reach the file first; InAttemptOrder puts each attempt's
// records in Seq order where the attempt first appears, and leaves records
// without a Seq (older files, webhooks) in file order.
func TestInAttemptOrder(t *testing.T) {
	at := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)
	rec := func(session string, seq int, what string) Record {
		return Record{Time: at, Session: session, Seq: seq, Action: ActionWidgetEvent, Event: what}
	}
	names := func(recs []Record) string {
		var s []string
		for _, r := range recs {
			s = append(s, r.Event)
		}
		return strings.Join(s, " ")
	}
	cases := []struct {
		name string
		in   []Record
		want string
	}{
		{"in order stays", []Record{rec("a", 1, "a1"), rec("a", 2, "a2"), rec("a", 3, "a3")}, "a1 a2 a3"},
		{"one attempt out of order", []Record{rec("a", 1, "a1"), rec("a", 3, "a3"), rec("a", 2, "a2"), rec("a", 4, "a4")}, "a1 a2 a3 a4"},
		{"first record late", []Record{rec("a", 2, "a2"), rec("a", 1, "a1")}, "a1 a2"},
		{"two attempts interleaved", []Record{rec("a", 1, "a1"), rec("b", 1, "b1"), rec("b", 3, "b3"), rec("a", 2, "a2"), rec("b", 2, "b2")},
			"a1 a2 b1 b2 b3"},
		{"no seq keeps file order", []Record{rec("", 0, "w1"), rec("a", 2, "a2"), rec("", 0, "w2"), rec("a", 1, "a1"), rec("", 0, "w3")},
			"w1 a1 a2 w2 w3"},
		{"old session without seq", []Record{rec("old", 0, "o-x"), rec("old", 0, "o-y"), rec("old", 0, "o-z")}, "o-x o-y o-z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := slices.Clone(c.in)
			InAttemptOrder(got)
			if s := names(got); s != c.want {
				t.Fatalf("got %s, want %s", s, c.want)
			}
		})
	}
	// Stable on equal keys and a no-op on nil.
	InAttemptOrder(nil)
	big := make([]Record, 0, 200)
	for i := 100; i >= 1; i-- {
		big = append(big, rec("x", i, fmt.Sprint(i)), rec("", 0, fmt.Sprint("n", i)))
	}
	InAttemptOrder(big)
	for i := 0; i < 100; i++ {
		if big[i].Event != fmt.Sprint(i+1) {
			t.Fatalf("record %d is %s", i, big[i].Event)
		}
		if big[100+i].Event != fmt.Sprint("n", 100-i) {
			t.Fatalf("no-seq record %d is %s", i, big[100+i].Event)
		}
	}
}
