package tui

import (
	"context"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
)

// goldenTokens mints, on a sandbox set up exactly as the harness sets one
// up, the first n tokens any golden run can have minted (every golden case
// starts its own harness, so its tokens are the first of the same seeded
// stream).
func goldenTokens(t *testing.T, n int) []mono.Token {
	t.Helper()
	c := newClock()
	sb := sandbox.New(sandbox.Options{Seed: 1, Accounts: 60, PageSize: 20, Now: c.Now, ConfirmDelay: 30 * time.Second,
		TokenSource: mrand.NewChaCha8([32]byte{1})})
	if err := sb.Start(""); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	client, err := mono.NewClient(mono.Config{BaseURL: sb.URL(), SecretKey: sandbox.SecretKey, Now: c.Now,
		Retry: mono.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var toks []mono.Token
	for range n {
		tok, err := client.Reauthorise(context.Background(), wrongOTPID)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	return toks
}

// Every golden file is free of the sandbox's secret key, of any token the
// golden runs mint (whole, or any 8 characters of one), and shows no page
// secret on screen (the OSC 8 link target carries it to the terminal; the
// visible text never does).
func TestGoldenFilesHoldNoSecrets(t *testing.T) {
	var files []string
	err := filepath.WalkDir("testdata", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".golden") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files found (%v)", err)
	}
	toks := goldenTokens(t, 4)
	var secrets []string
	for _, tok := range toks {
		for i := 0; i+8 <= len(tok.Value); i++ {
			secrets = append(secrets, tok.Value[i:i+8])
		}
	}
	secrets = append(secrets, sandbox.SecretKey, "test_sk_", "live_sk_")
	maskedSeen := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		content := string(b)
		for _, s := range secrets {
			if strings.Contains(content, s) {
				t.Errorf("%s holds %q (a secret key or part of a minted token)", f, s)
			}
		}
		visible := ansi.Strip(content)
		if strings.Contains(visible, "#fragment") {
			t.Errorf("%s shows the page secret on screen", f)
		}
		if strings.Contains(visible, toks[0].Masked()) {
			maskedSeen = true
		}
	}
	// The re-derived tokens are the ones the goldens really hold (masked):
	// otherwise the scan above would prove nothing.
	if !maskedSeen {
		t.Fatalf("no golden shows %q: the token derivation no longer matches the harness", toks[0].Masked())
	}
}
