package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// Stranded is one of the connecting agent's own attempts that could not
// come back to them: their claim names another replica, which the registry
// says went silent (Gone: the attempt was interrupted; silence is all that
// is known), or which could not be asked or did not hand it over just now
// (not Gone: where it stands is not known). The account list says so when
// they connect, so an agent whose server went away under them hears it
// before they go looking; the account's own screen tells the rest (who
// holds it, `t` to start again).
type Stranded struct {
	Account string
	Replica string
	// LastWord is the claim's last refresh: the last moment the attempt is
	// known to have been running.
	LastWord time.Time
	Gone     bool
	// EndedAway, set instead of Replica: the attempt ran on this server
	// and ended then because the agent did not come back within Grace
	// after their connection dropped (ENDED BY AGENT in the audit).
	EndedAway time.Time
	Grace     time.Duration
}

// AttemptAccount is the account of the model's attempt ("" when it has
// none): what a server remembers of an attempt it ended for an absent agent.
func (m Model) AttemptAccount() string {
	if m.session == nil {
		return ""
	}
	return m.session.account.ID
}

// WithStranded is m showing the agent's stranded attempts on the account
// list until they open each account.
func (m Model) WithStranded(list []Stranded) Model {
	m.search.stranded = append([]Stranded(nil), list...)
	return m
}

// forgetStranded drops the line about account: its screen now says where
// the attempt stands.
func (s *searchScreen) forgetStranded(account string) {
	kept := s.stranded[:0]
	for _, st := range s.stranded {
		if st.Account != account {
			kept = append(kept, st)
		}
	}
	s.stranded = kept
}

// strandedShown is how many stranded attempts the list describes; a line
// counts the rest.
const strandedShown = 2

// strandedLines are the list's lines about stranded attempts, each
// sentence wrapped to width, at most maxLines in all (the list keeps the
// rest of the screen).
func (s *searchScreen) strandedLines(c *screenCtx, width, maxLines int) []string {
	if len(s.stranded) == 0 || maxLines < 1 {
		return nil
	}
	loc := c.now().Location()
	var sentences []string
	for i, st := range s.stranded {
		if i == strandedShown {
			sentences = append(sentences, fmt.Sprintf("…and %d more of your attempts on other servers: open their accounts to see where they stand.",
				len(s.stranded)-i))
			break
		}
		account := st.Account
		if a, ok := s.lookup(st.Account); ok && a.Name != "" {
			account = a.Name
		}
		var line string
		if !st.EndedAway.IsZero() {
			line = fmt.Sprintf("Your attempt on %s ended at %s: your connection dropped and you did not come back within %s. Open the account to start again.",
				account, st.EndedAway.In(loc).Format("15:04"), st.Grace)
		} else if st.Gone {
			// Silence in the registry is all that is known: "went silent".
			line = fmt.Sprintf("Your attempt on %s was interrupted: server %s went silent (last word %s). Open the account to start again.",
				account, st.Replica, st.LastWord.In(loc).Format("15:04"))
		} else {
			line = fmt.Sprintf("Your attempt on %s ran on server %s and could not be brought back here just now: open the account to see where it stands.",
				account, st.Replica)
		}
		sentences = append(sentences, line)
	}
	var out []string
	for _, sentence := range sentences {
		for l := range strings.SplitSeq(ansi.Wrap(sentence, max(1, width), ""), "\n") {
			out = append(out, c.styles.Warning.Render(ansi.Truncate(l, width, "…")))
		}
	}
	if len(out) > maxLines {
		out = out[:maxLines]
	}
	return out
}
