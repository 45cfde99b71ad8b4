package sdk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// StateStore is durable key-value storage that the host gives a source (OpenRequest.State)
// for state that must survive restarts beside the checkpoint: the oceanbase source keeps its
// schema history there. It lives with the pipeline's checkpoint and goes away with it.
//
// Put returns once the value is durable (a crash after Put returns keeps it; a crash during Put
// keeps the old value or the new one, never a mix). A value written before the source hands
// the host a batch is durable before any checkpoint that includes that batch is saved, which
// is what makes "write the state, then pass the position" safe. Keys are 1 to 200 characters
// of [a-z0-9._-] and '/'; a store may be used by one source at a time.
type StateStore interface {
	// Get returns the value of key, or nil and no error when it has none.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put stores value under key, durably, replacing what was there.
	Put(ctx context.Context, key string, value []byte) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the keys that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}

// DirState is a StateStore over a local directory: one file per key (a '/' in a key is a
// subdirectory), written to a temporary file, synced, renamed over the old one, and the
// directory synced.
type DirState struct{ dir string }

// NewDirState returns a DirState over dir, creating it (mode 0700) when missing.
func NewDirState(dir string) (*DirState, error) {
	if dir == "" {
		return nil, errors.New("state directory not set")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	return &DirState{dir: dir}, nil
}

// Dir returns the store's directory (the plugin protocol hands it to out-of-process sources).
func (d *DirState) Dir() string { return d.dir }

func checkStateKey(key string) error {
	if key == "" || len(key) > 200 || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || strings.Contains(key, "//") {
		return fmt.Errorf("state key %q: must be 1 to 200 characters, not starting or ending with '/'", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, ".tmp-") {
			return fmt.Errorf("state key %q: invalid part %q", key, part)
		}
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/') {
			return fmt.Errorf("state key %q: use only a-z, 0-9, '.', '_', '-' and '/'", key)
		}
	}
	return nil
}

func (d *DirState) path(key string) string { return filepath.Join(d.dir, filepath.FromSlash(key)) }

// Get implements StateStore.
func (d *DirState) Get(_ context.Context, key string) ([]byte, error) {
	if err := checkStateKey(key); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", key, err)
	}
	return b, nil
}

// Put implements StateStore.
func (d *DirState) Put(_ context.Context, key string, value []byte) error {
	if err := checkStateKey(key); err != nil {
		return err
	}
	p := d.path(key)
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write state %s: %w", key, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write state %s: %w", key, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("write state %s: %w", key, err)
	}
	if _, err := f.Write(value); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write state %s: %w", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write state %s: %w", key, err)
	}
	return syncDir(dir)
}

// Delete implements StateStore.
func (d *DirState) Delete(_ context.Context, key string) error {
	if err := checkStateKey(key); err != nil {
		return err
	}
	p := d.path(key)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete state %s: %w", key, err)
	}
	return nil
}

// List implements StateStore.
func (d *DirState) List(_ context.Context, prefix string) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(d.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".tmp-") {
			return nil
		}
		rel, err := filepath.Rel(d.dir, p)
		if err != nil {
			return err
		}
		if k := filepath.ToSlash(rel); strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list state %q: %w", prefix, err)
	}
	sort.Strings(keys)
	return keys, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

var _ StateStore = (*DirState)(nil)
