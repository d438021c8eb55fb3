package tui

import (
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/tui/search"
)

// FindAccounts ranks accounts for query exactly as the search screen does,
// for `reauth accounts`. needsOnly keeps accounts that need reauth.
func FindAccounts(accounts []mono.Account, query string, needsOnly bool) []mono.Account {
	ix := search.New()
	ix.Add(accounts)
	r := search.NewSearcher(1).Search(ix.Snapshot(), query)
	var out []mono.Account
	for _, h := range r.Hits {
		if a := accounts[h]; !needsOnly || a.NeedsReauth() {
			out = append(out, a)
		}
	}
	return out
}
