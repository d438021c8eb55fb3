package mono

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// CleanText makes a string from a browser or from the API safe to put on a
// terminal: escape sequences (CSI, OSC 8/52, DCS, ...) are removed whole, and
// any remaining C0/C1 control, DEL, invalid UTF-8 and bidi override is dropped.
// Line breaks (\n, \r, and Unicode's NEL U+0085, LINE SEPARATOR U+2028 and
// PARAGRAPH SEPARATOR U+2029, which some terminals, editors and log viewers
// also break lines on) and tabs become spaces so one value stays on one line.
func CleanText(s string) string {
	if isPlain(s) {
		return s
	}
	s = ansi.Strip(s)
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			continue
		case r == '\n' || r == '\t' || r == '\r' || isLineSeparator(r):
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			continue
		case isBidiControl(r):
			continue
		case !unicode.IsPrint(r) && !unicode.IsSpace(r) && !unicode.Is(unicode.Mn, r):
			continue
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isPlain is the fast path: printable ASCII needs no work.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// isLineSeparator reports Unicode's line breaks outside ASCII: NEL (a C1
// control), LINE SEPARATOR and PARAGRAPH SEPARATOR. The last two are white
// space to package unicode, so without this they would pass through.
func isLineSeparator(r rune) bool {
	return r == 0x85 || r == 0x2028 || r == 0x2029
}

func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}
