package checkpoint

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// fileEnvelope is the on-disk layout of a checkpoint file. Checksum covers the compact JSON
// text of Checkpoint, so the file may be pretty-printed or re-indented without breaking it.
type fileEnvelope struct {
	Format     int             `json:"format"`
	Checksum   string          `json:"checksum"`
	Checkpoint json.RawMessage `json:"checkpoint"`
}

const checksumPrefix = "sha256:"

// FileStore keeps one JSON file per pipeline, <dir>/<pipeline>.json. Saves are atomic: the
// new checkpoint is written to a temporary file in the same directory, synced, renamed over
// the old one, and the directory is synced. It is safe for concurrent use.
type FileStore struct {
	dir string

	mu     sync.Mutex
	closed bool

	// write writes data to the temporary file; tests replace it to simulate a full disk.
	write func(f *os.File, data []byte) error
}

// NewFileStore returns a FileStore over dir, creating it (mode 0700) when missing.
func NewFileStore(dir string) (*FileStore, error) {
	if dir == "" {
		return nil, errors.New("checkpoint directory not set")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create checkpoint directory: %w", err)
	}
	return &FileStore{dir: dir, write: writeAll}, nil
}

func writeAll(f *os.File, data []byte) error {
	_, err := f.Write(data)
	return err
}

// Dir returns the store's directory.
func (s *FileStore) Dir() string { return s.dir }

// StateDir returns the directory of pipeline's source state (sdk.OpenRequest.State), beside
// its checkpoint file.
func (s *FileStore) StateDir(pipeline string) string {
	return filepath.Join(s.dir, pipeline+".state")
}

// Path returns the file that holds pipeline's checkpoint.
func (s *FileStore) Path(pipeline string) string {
	return filepath.Join(s.dir, pipeline+".json")
}

// Load reads the pipeline's checkpoint. A missing file gives nil and no error; a damaged one
// gives an error wrapping ErrCorrupt that names the file.
func (s *FileStore) Load(_ context.Context, pipeline string) (*Checkpoint, error) {
	if err := ValidateName(pipeline); err != nil {
		return nil, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	path := s.Path(pipeline)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	return decodeFile(path, pipeline, data)
}

func decodeFile(path, pipeline string, data []byte) (*Checkpoint, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s (refusing to start over: restore the file or remove it to sync from scratch)",
			ErrCorrupt, path, fmt.Sprintf(format, args...))
	}
	var env fileEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, corrupt("cannot decode (%v)", err)
	}
	if env.Format > FormatVersion {
		return nil, fmt.Errorf("%w: %s has format %d, this ferry reads up to %d", ErrUnsupportedFormat, path, env.Format, FormatVersion)
	}
	if env.Format < 1 || len(env.Checkpoint) == 0 {
		return nil, corrupt("format or checkpoint missing")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, env.Checkpoint); err != nil {
		return nil, corrupt("cannot decode checkpoint (%v)", err)
	}
	if sum := checksum(compact.Bytes()); sum != env.Checksum {
		return nil, corrupt("checksum mismatch (file says %q, content is %q)", env.Checksum, sum)
	}
	var cp Checkpoint
	if err := json.Unmarshal(compact.Bytes(), &cp); err != nil {
		return nil, corrupt("cannot decode checkpoint (%v)", err)
	}
	if cp.Pipeline != pipeline {
		return nil, corrupt("holds pipeline %q, not %q", cp.Pipeline, pipeline)
	}
	return &cp, nil
}

func checksum(b []byte) string {
	sum := sha256.Sum256(b)
	return checksumPrefix + hex.EncodeToString(sum[:])
}

func encodeFile(cp *Checkpoint) ([]byte, error) {
	body, err := json.Marshal(cp)
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(fileEnvelope{Format: FormatVersion, Checksum: checksum(body), Checkpoint: body}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Save writes cp atomically. On error the previous checkpoint file is left as it was and no
// temporary file remains.
func (s *FileStore) Save(_ context.Context, cp *Checkpoint) error {
	if err := ValidateName(cp.Pipeline); err != nil {
		return err
	}
	data, err := encodeFile(cp)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	path := s.Path(cp.Pipeline)
	if err := s.replace(path, data); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	return nil
}

func (s *FileStore) replace(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(s.dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if err := s.write(tmp, data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(s.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Close marks the store closed; later calls fail with ErrClosed.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
