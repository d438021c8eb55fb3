package connect

import (
	mrand "math/rand/v2"
	"testing"
)

// Sandbox recordings repeat their session ids and pairing codes; page
// secrets never repeat; live mode refuses a label source.
func TestLabelSourceRepeatsLabelsNotSecrets(t *testing.T) {
	open := func() *Session {
		cfg := sandboxConfig()
		cfg.LabelSource = mrand.NewChaCha8([32]byte{7})
		return newSess(t, startServer(t, cfg), "65f1c0ffee0000000000abcd", "")
	}
	a, b := open(), open()
	if a.ID() != b.ID() || a.PairingCode() != b.PairingCode() {
		t.Fatalf("labels differ: %s/%s vs %s/%s", a.ID(), a.PairingCode(), b.ID(), b.PairingCode())
	}
	if secretOf(a) == secretOf(b) {
		t.Fatal("page secrets repeat: they must always come from crypto/rand")
	}
	live := Config{Mode: ModeLive, PublicKey: "test_pk_x", LabelSource: mrand.NewChaCha8([32]byte{})}
	if _, err := NewServer(live); !IsConfigError(err) {
		t.Fatalf("live mode with a label source: %v", err)
	}
}
