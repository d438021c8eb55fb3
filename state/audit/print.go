package audit

import (
	"encoding/json"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reauth/reauth/mono"
)

// Print writes recs for `reauth audit`: JSON lines when jsonOut, otherwise one
// aligned line per record in the reader's local time:
//
//	2026-11-25 16:02:11  alice (local)  65f1c0ffee0123456789abcd  token_minted  sha256:ab12cd34ef56  expires 16:12:11
//
// Account ids are printed whole: ObjectIds share their leading (timestamp)
// digits, so a prefix would not tell accounts apart.
// Every string is cleaned again: the file may have been edited by hand.
func Print(w io.Writer, recs []Record, jsonOut bool) error {
	if jsonOut {
		enc := json.NewEncoder(w)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range recs {
		cols := []string{
			r.Time.Local().Format(time.DateTime),
			agentText(r.Agent),
			orDash(r.Account),
			string(r.Action),
			detailText(r),
		}
		for i, c := range cols {
			// A tab inside a value would shift the columns; CleanText
			// already turns tabs into spaces.
			cols[i] = mono.CleanText(c)
		}
		if _, err := io.WriteString(tw, strings.Join(cols, "\t")+"\n"); err != nil {
			return err
		}
	}
	return tw.Flush()
}

func agentText(a Agent) string {
	s := orDash(a.User)
	switch {
	case a.Via != "" && a.KeyFingerprint != "":
		s += " (" + a.Via + " " + abbreviate(a.KeyFingerprint, 16) + ")"
	case a.Via != "":
		s += " (" + a.Via + ")"
	}
	return s
}

// detailText joins whatever the record carries besides who/when/what.
func detailText(r Record) string {
	var parts []string
	add := func(s string) {
		if s != "" {
			parts = append(parts, s)
		}
	}
	add(r.Reason)
	add(r.Event)
	add(r.Outcome)
	add(r.TokenFingerprint)
	if !r.TokenExpiresAt.IsZero() {
		add("expires " + r.TokenExpiresAt.Local().Format(time.TimeOnly))
	}
	add(r.PageURL)
	add(r.Detail)
	return strings.Join(parts, "  ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func abbreviate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
