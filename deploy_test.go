package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The container image (Dockerfile) is the binary alone on `scratch`: that
// works only if the build the Dockerfile runs gives a static binary (no
// dynamic loader, no shared libraries) that runs with an empty environment
// but the state directory. Docker itself is not needed for this check.
func TestDockerfileBuildIsStaticAndNeedsNothing(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(df)
	var buildLine string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "go build") {
			buildLine = l
		}
	}
	if !strings.Contains(buildLine, "CGO_ENABLED=0") {
		t.Fatalf("the Dockerfile's build is not CGO_ENABLED=0: %q", buildLine)
	}
	stages := strings.Split(text, "\nFROM ")
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final, "scratch") {
		t.Errorf("final stage is not scratch: %q", strings.SplitN(final, "\n", 2)[0])
	}
	if !strings.Contains(final, "\nUSER 65532:65532") {
		t.Error("final stage does not run as a non-root user")
	}

	bin := filepath.Join(t.TempDir(), "reauth")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary asks for a dynamic loader: it cannot run on scratch")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the binary needs shared libraries %v", libs)
	}
	state := t.TempDir()
	run := exec.Command(bin, "version")
	run.Env = []string{"XDG_STATE_HOME=" + state, "HOME=" + state} // what the image sets, and nothing else
	out, err := run.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "reauth test") {
		t.Fatalf("reauth version in an empty environment: %v %q", err, out)
	}
}
