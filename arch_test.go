package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The domain (mono/..., state/...) never imports the UI: not tui, and none
// of Charm's UI packages, even indirectly (charm.land/log pulls in Lip Gloss;
// the domain logs through log/slog and main hands it Charm's logger as a slog
// handler). The one Charm package it may use is x/ansi, an escape-sequence
// parser that mono.CleanText strips untrusted text with. Test files are not
// counted.
func TestDomainImportsNoUI(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./mono/...", "./state/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list gave %d packages; expected the domain and its dependencies", len(deps))
	}
	for _, p := range deps {
		charm := strings.HasPrefix(p, "github.com/charmbracelet/") && !strings.HasPrefix(p, "github.com/charmbracelet/x/ansi")
		if strings.HasPrefix(p, "github.com/reauth/reauth/tui") || strings.HasPrefix(p, "charm.land/") || charm {
			t.Errorf("the domain depends on %s", p)
		}
	}
}

// The layers run one way: mono/... (Mono's API, the page server, webhooks,
// the sandbox) never imports state/... (the machine and its audit), even
// indirectly; the machine asks mono's types for protocol facts, and the
// application layer (internal/link, main, tui) joins the two.
func TestMonoImportsNoState(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./mono/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list gave %d packages", len(deps))
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "github.com/reauth/reauth/state") || strings.HasPrefix(p, "github.com/reauth/reauth/internal") {
			t.Errorf("mono depends on %s", p)
		}
	}
}

// state does no I/O beyond its audit log: the machine package itself
// imports no network, file or process package.
func TestStateMachineDoesNoIO(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "./state").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		switch {
		case p == "os", p == "net", strings.HasPrefix(p, "net/"), p == "os/exec", p == "io/fs", p == "syscall":
			t.Errorf("state imports %s", p)
		}
	}
}

// main is flags, usage and dispatch: the runtime, and the Bubble Tea
// program it starts, live in internal/app (app.RunTUI). main itself does
// not import Bubble Tea (its test files, which drive programs, may).
func TestMainImportsNoBubbleTea(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	imports := strings.Fields(string(out))
	if !slices.Contains(imports, "github.com/reauth/reauth/internal/app") {
		t.Fatalf("go list gave %v; expected main's imports, internal/app among them", imports)
	}
	for _, p := range imports {
		if p == "charm.land/bubbletea/v2" || strings.HasPrefix(p, "charm.land/bubbletea/v2/") {
			t.Errorf("main imports %s", p)
		}
	}
}
