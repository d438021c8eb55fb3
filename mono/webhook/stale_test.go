package webhook

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killChildEnv, when set, turns the test binary into a process that saves
// the store named by it and stops between writing the save's temp file and
// renaming it (printing "temp NAME"), for its parent to kill -9 there.
const killChildEnv = "REAUTH_WEBHOOK_KILL_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(killChildEnv); path != "" {
		os.Exit(runKilledSaver(path))
	}
	os.Exit(m.Run())
}

func runKilledSaver(path string) int {
	s, err := OpenStore(path)
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	beforeRename = func(tmp string) {
		fmt.Println("temp", tmp)
		select {} // killed here
	}
	_, err = s.Apply(Event{ID: "evt-killed", Kind: ReauthRequired, AccountID: "acc-killed"})
	fmt.Println("error: the save finished", err)
	return 2
}

// A save killed with SIGKILL between its temp file and the rename leaves the
// temp file (a whole copy of the store) behind. Opening the store removes it
// once it is older than any save takes, and keeps a younger one (it may be
// another process's save in flight). The store itself is the last complete
// save: the killed one never landed.
func TestStaleTempFilesFromAKilledSaveAreRemovedOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reauth", "webhooks.json")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(Event{ID: "evt-before", Kind: ReauthRequired, AccountID: acc1}); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Scan()
		line <- sc.Text()
	}()
	var tmp string
	select {
	case l := <-line:
		name, ok := strings.CutPrefix(l, "temp ")
		if !ok {
			_ = cmd.Process.Kill()
			t.Fatalf("child said %q", l)
		}
		tmp = name
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the child never reached its save")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("the killed save left no temp file to clean (%v): the test proves nothing", err)
	}

	// Just killed, the file is as young as a save in flight: kept.
	if _, err := OpenStore(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("a temp file younger than %s was removed: %v", staleTempAge, err)
	}

	// Older than any save takes: removed by the next open.
	old := time.Now().Add(-staleTempAge - time.Second)
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}
	reopened, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("stale temp file %s still there after open (stat err %v)", filepath.Base(tmp), err)
	}
	if !reopened.NeedsReauth(acc1) || reopened.NeedsReauth("acc-killed") || reopened.Seen("evt-killed") {
		t.Errorf("after the killed save: marks %v, evt-killed seen %v", reopened.Marked(), reopened.Seen("evt-killed"))
	}
}

// Only the store's own temp files go: other files in the state directory,
// temp files of another store, look-alikes, directories and symlinks stay,
// however old.
func TestStaleTempCleanupTouchesOnlyTheStoresOwnFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "webhooks.json")
	old := time.Now().Add(-24 * time.Hour)
	write := func(name string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(`{"version":1}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Real temp names, made the way a save makes them.
	var stale []string
	for range 3 {
		f, err := os.CreateTemp(dir, tempPattern(path))
		if err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
		if err := os.Chtimes(f.Name(), old, old); err != nil {
			t.Fatal(err)
		}
		stale = append(stale, f.Name())
	}
	keep := []string{
		write("audit.jsonl"), write("reauth.log"), write("webhooks.json.bak"),
		write(".webhooks.json.notes.tmp"),  // not digits
		write(".webhooks.json..tmp"),       // nothing in place of *
		write("webhooks.json.123.tmp"),     // no leading dot
		write(".webhooks.json.123.tmp.gz"), // another suffix
		write(".other.json.123.tmp"),       // another store
		write(".webhooks.json.123.tmpx"),
	}
	dirLike := filepath.Join(dir, ".webhooks.json.456.tmp")
	if err := os.Mkdir(dirLike, 0o700); err != nil {
		t.Fatal(err)
	}
	target := write("target")
	link := filepath.Join(dir, ".webhooks.json.789.tmp")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, dirLike, target, link)

	if _, err := OpenStore(path); err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("stale temp %s kept (err %v)", filepath.Base(p), err)
		}
	}
	for _, p := range keep {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed: %v", filepath.Base(p), err)
		}
	}
}
