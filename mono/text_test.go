package mono

import (
	"strings"
	"testing"
)

// Unicode's line breaks outside ASCII are line breaks to some terminals,
// editors and log viewers: a name carrying one could start a forged line in
// a log or an audit listing. CleanText turns them into a space, as it does
// \n, so the words on either side stay apart and on one line.
func TestCleanTextLineSeparators(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Ada\nLovelace", "Ada Lovelace"}, // the rule they follow
		{"Ada\u2028Lovelace", "Ada Lovelace"},
		{"Ada\u2029Lovelace", "Ada Lovelace"},
		{"Ada\u0085Lovelace", "Ada Lovelace"},
		{"ok\u2028time=2026-01-01 level=INFO msg=forged", "ok time=2026-01-01 level=INFO msg=forged"},
		{"\u2028\u2029\u0085", "   "},
		{"Ọ̀kọ́\u2028GTBank", "Ọ̀kọ́ GTBank"},
	} {
		got := CleanText(c.in)
		if got != c.want {
			t.Errorf("CleanText(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.ContainsAny(got, "\u2028\u2029\u0085") {
			t.Errorf("CleanText(%q) = %q keeps a line separator", c.in, got)
		}
		if again := CleanText(got); again != got {
			t.Errorf("not idempotent: %q → %q → %q", c.in, got, again)
		}
	}
}
