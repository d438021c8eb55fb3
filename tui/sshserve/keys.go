package sshserve

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"charm.land/log/v2"
	gossh "golang.org/x/crypto/ssh"
)

// maxKeyFileSize bounds what we read from a key file: a real
// authorized_keys with hundreds of agents is a few hundred KB.
const maxKeyFileSize = 4 << 20

// loadOrCreateHostKey reads the server's private host key, generating an
// ed25519 key on first run. The key is kept: clients pin it in known_hosts,
// so a new key on every start would train agents to ignore the MITM warning.
func loadOrCreateHostKey(path string) (gossh.Signer, error) {
	if path == "" {
		return nil, errors.New("no SSH host key path (--host-key)")
	}
	b, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createHostKey(path); err != nil {
			return nil, err
		}
		b, err = readKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("SSH host key %s: %w", path, err)
	}
	// Like sshd, refuse a private key others can read: anyone who can copy
	// it can impersonate this server to every agent.
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("SSH host key %s is accessible by other users (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	return parseHostKey(b, path)
}

// parseHostKey parses an unencrypted OpenSSH private key; where names it in
// errors (a path, or where it was given). The key's bytes never reach an
// error.
func parseHostKey(b []byte, where string) (gossh.Signer, error) {
	signer, err := gossh.ParsePrivateKey(b)
	var missing *gossh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("SSH host key %s is passphrase-protected; reauth serve needs an unencrypted key (mode 0600)", where)
	}
	if err != nil {
		return nil, fmt.Errorf("SSH host key %s is not an OpenSSH private key", where)
	}
	return signer, nil
}

// createHostKey writes a new ed25519 key with mode 0600. It is written to a
// temporary file and linked into place, so a crash never leaves a torn key
// and two servers starting at once never overwrite each other's key.
func createHostKey(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the directory for the SSH host key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generating the SSH host key: %w", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "reauth serve host key")
	if err != nil {
		return fmt.Errorf("encoding the SSH host key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".host-key-*")
	if err != nil {
		return fmt.Errorf("writing the SSH host key: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600 already; Chmod guards against an
	// unusual umask-independent platform default.
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing the SSH host key: %w", err)
	}
	if _, err := tmp.Write(pem.EncodeToMemory(block)); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing the SSH host key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing the SSH host key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the SSH host key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("writing the SSH host key: %w", err)
	}
	return nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if fi.Size() > maxKeyFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxKeyFileSize)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// harmlessKeyOptions are authorized_keys options that only forbid things
// reauth serve never offers (forwarding, X11, rc files), so honouring them
// needs nothing. Any other option (from=, command=, expiry-time=, no-pty,
// cert-authority, …) restricts a key in a way we do not implement: we refuse
// the file rather than silently grant more than the administrator wrote.
var harmlessKeyOptions = map[string]bool{
	"restrict": true, "no-port-forwarding": true, "no-agent-forwarding": true,
	"no-x11-forwarding": true, "no-user-rc": true,
}

// authorizedKey is one allowed public key.
type authorizedKey struct {
	// comment is the key's comment: who it belongs to ("ada@support"). The
	// agent's name comes from it (keyName), not from the SSH user name.
	comment string
	line    int
}

// parseAuthorizedKeys parses OpenSSH authorized_keys text. Unlike
// gossh.ParseAuthorizedKey's loop, a line that does not parse is an error
// naming the line, so a typo cannot silently lock an agent out.
func parseAuthorizedKeys(data []byte) (map[string]authorizedKey, error) {
	keys := map[string]authorizedKey{}
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pub, comment, options, _, err := gossh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("line %d is not an OpenSSH public key", i+1)
		}
		for _, opt := range options {
			name, _, _ := strings.Cut(opt, "=")
			if !harmlessKeyOptions[strings.ToLower(name)] {
				return nil, fmt.Errorf("line %d: key option %q is not supported by reauth serve; remove it or the key", i+1, name)
			}
		}
		if _, isCert := pub.(*gossh.Certificate); isCert {
			return nil, fmt.Errorf("line %d: certificates are not supported; list the agent's public key", i+1)
		}
		// The comment names the agent: one key listed twice under two
		// names would make who acted depend on which line was read last.
		if prev, dup := keys[string(pub.Marshal())]; dup && keyName(prev.comment, "") != keyName(comment, "") {
			return nil, fmt.Errorf("line %d lists the key of line %d under another name; keep one", i+1, prev.line)
		}
		keys[string(pub.Marshal())] = authorizedKey{comment: comment, line: i + 1}
	}
	if len(keys) == 0 {
		return nil, errors.New("it lists no public keys")
	}
	return keys, nil
}

// authorizedKeys is the allow-list, re-read whenever the file changes so an
// administrator can add an agent or revoke a leaver's key without
// restarting the server (and dropping everyone's session).
type authorizedKeys struct {
	path   string
	logger *log.Logger

	mu      sync.Mutex
	modTime time.Time
	size    int64
	keys    map[string]authorizedKey
	// loadErr is the last reload's failure. While it is set no key is
	// accepted: a file that became unreadable or invalid fails closed.
	loadErr error
}

func loadAuthorizedKeys(path string, logger *log.Logger) (*authorizedKeys, error) {
	if path == "" {
		return nil, errors.New("no authorized keys file: pass --authorized-keys FILE (OpenSSH authorized_keys format), or --allow-any-key to let anyone in")
	}
	a := &authorizedKeys{path: path, logger: logger}
	if err := a.reload(); err != nil {
		return nil, fmt.Errorf("authorized keys file %s: %w", path, err)
	}
	return a, nil
}

// reload re-reads the file. Called with a.mu held, or before a is shared.
func (a *authorizedKeys) reload() error {
	fi, err := os.Stat(a.path)
	if err != nil {
		return unwrapPathError(err)
	}
	b, err := readKeyFile(a.path)
	if err != nil {
		return unwrapPathError(err)
	}
	keys, err := parseAuthorizedKeys(b)
	if err != nil {
		return err
	}
	a.keys, a.modTime, a.size, a.loadErr = keys, fi.ModTime(), fi.Size(), nil
	return nil
}

// lookup reports whether key is allowed, re-reading the file first if it
// changed since the last read.
func (a *authorizedKeys) lookup(key gossh.PublicKey) (authorizedKey, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fi, err := os.Stat(a.path)
	changed := err != nil || !fi.ModTime().Equal(a.modTime) || fi.Size() != a.size
	if changed {
		if err := a.reload(); err != nil {
			if a.loadErr == nil || a.loadErr.Error() != err.Error() {
				a.logger.Error("authorized keys file unusable: refusing every key until it is fixed", "path", a.path, "err", err)
			}
			a.keys, a.loadErr = nil, err
			a.modTime, a.size = time.Time{}, -1
		} else {
			a.logger.Info("authorized keys reloaded", "path", a.path, "keys", len(a.keys))
		}
	}
	k, ok := a.keys[string(key.Marshal())]
	return k, ok
}

// unwrapPathError drops the path from an *fs.PathError: the caller already
// names the file, and "open /x: no such file" twice reads badly.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
