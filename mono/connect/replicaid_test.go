package connect

import (
	"regexp"
	"strings"
	"testing"
)

// validReplicaID is a loop in place of the pattern below (compiled at every
// start before): they agree.
func TestValidReplicaIDMatchesThePattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[a-z0-9]{1,32}$`)
	ids := []string{"", "a", "r1", "replica2", "R1", "r-1", "r_1", "r 1", "é", "r1\n", "\nr1",
		strings.Repeat("a", 31), strings.Repeat("a", 32), strings.Repeat("a", 33), strings.Repeat("9", 32) + "-x",
		"abcdefghijklmnopqrstuvwxyz0123456789", "0", "z", "/", ":", "`", "{", "@", "[", "\x00"}
	for c := 0; c < 256; c++ {
		ids = append(ids, string(rune(c)), "a"+string([]byte{byte(c)}))
	}
	for _, id := range ids {
		if got, want := ValidReplicaID(id), pattern.MatchString(id); got != want {
			t.Errorf("ValidReplicaID(%q) = %v, the pattern says %v", id, got, want)
		}
	}
}
