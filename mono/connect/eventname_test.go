package connect

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The hand-written check accepts exactly what the old pattern did.
func TestValidEventNameMatchesPattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
	cases := []string{"", "OPENED", "mono.connect.widget_opened", "a:b-c.d_e", strings.Repeat("x", 64),
		strings.Repeat("x", 65), "has space", "émoji", "tab\t", "new\nline", "<script>", "x/y", "\x00"}
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "aZ09_.:- /\n\x00é<>"
	for range 2000 {
		n := r.IntN(70)
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	for _, c := range cases {
		if got, want := validEventName(c), pattern.MatchString(c); got != want {
			t.Errorf("validEventName(%q) = %v, pattern says %v", c, got, want)
		}
	}
}
