package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/nkeys"

	"github.com/dittonats/dittonats/streams"
)

// SeedFile is where a role's nkey seed lives in the credentials directory.
func SeedFile(dir string, r streams.Role) string { return filepath.Join(dir, string(r)+".nk") }

// Credentials returns the nkey seed of every role, read from dir, where
// each role's seed is created (mode 0600, dir 0700) on first use. A seed
// file that is not a user seed is an error naming the file: the process
// stops rather than run with a credential nobody configured.
func Credentials(dir string) (map[streams.Role][]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("credentials directory: %w", err)
	}
	out := map[streams.Role][]byte{}
	for _, r := range streams.Roles {
		path := SeedFile(dir, r)
		seed, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if seed, err = createSeed(path); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, fmt.Errorf("credential of role %s: %w", r, err)
		}
		seed = bytes.TrimSpace(seed)
		if pub, _, err := NkeyOption(seed); err != nil || !nkeys.IsValidPublicUserKey(pub) {
			return nil, fmt.Errorf("credential of role %s in %s: not a user nkey seed", r, path)
		}
		out[r] = seed
	}
	return out, nil
}

func createSeed(path string) ([]byte, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, err
	}
	// O_EXCL: two processes starting on one data directory must not
	// overwrite each other's seeds.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create credential %s: %w", path, err)
	}
	if _, err := f.Write(append(seed, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("write credential %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write credential %s: %w", path, err)
	}
	return seed, nil
}

// NkeyOption authenticates a connection with seed.
func NkeyOption(seed []byte) (natsNkey string, sign func([]byte) ([]byte, error), err error) {
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return "", nil, err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return "", nil, err
	}
	return pub, kp.Sign, nil
}
