package search

import (
	"fmt"
	"testing"
	"time"
)

func BenchmarkZZDebug(b *testing.B) {
	d := loadBench(b, 1_000_000)
	var se *Searcher
	for k, q := range d.script {
		if d.resets[k] || se == nil {
			se = NewSearcher(32)
		}
		t0, c0 := time.Now(), processCPU()
		r := se.Search(d.snap, q)
		fmt.Printf("%-14q wall %6.1fms cpu %6.1fms hits %7d %v\n", q, float64(time.Since(t0).Microseconds())/1000, float64((processCPU()-c0).Microseconds())/1000, len(r.Hits), r.Tiers)
	}
}
