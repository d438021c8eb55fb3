package search

import (
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
	"testing"
)

func BenchmarkZZHot(b *testing.B) {
	all := sandbox.Generate(1, 1000000)
	var accounts []mono.Account
	for i := 0; i < len(all); i += 500 {
		accounts = append(accounts, all[i])
	}
	ix := New()
	ix.Add(accounts)
	snap := ix.Snapshot()
	for _, q := range []string{"s", "sa", "60", "99", "605", "samuel", "zzzz"} {
		b.Run(q, func(b *testing.B) {
			m := newMatcher(q)
			var pass []int
			for i := range snap.masks {
				if snap.masks[i]&m.mask == m.mask {
					pass = append(pass, i)
				}
			}
			b.ResetTimer()
			c0 := processCPU()
			n := 0
			for range b.N {
				for _, i := range pass {
					n += int(m.gradeFrom(&snap.entries[i], TierExact))
				}
			}
			b.ReportMetric(float64((processCPU()-c0).Nanoseconds())/float64(b.N*len(pass)), "cpu-ns/entry")
			b.ReportMetric(float64(len(pass))/float64(len(snap.masks)), "pass")
		})
	}
}
