package checkpoint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk/change"
)

func sampleCheckpoint(pipeline string, seq uint64) *Checkpoint {
	return &Checkpoint{
		Pipeline: pipeline,
		Position: change.Position("binlog.000042:" + string(rune('a'+seq%26))),
		SavedAt:  time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC),
		Sequence: seq,
		Changes:  seq * 10,
	}
}

func equalCheckpoint(t *testing.T, got, want *Checkpoint) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Fatalf("checkpoint = %+v, want %+v", got, want)
		}
		return
	}
	if got.Pipeline != want.Pipeline || string(got.Position) != string(want.Position) ||
		!got.SavedAt.Equal(want.SavedAt) || got.Sequence != want.Sequence || got.Changes != want.Changes {
		t.Fatalf("checkpoint = %+v, want %+v", got, want)
	}
}

func TestFileStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state", "checkpoints")
	s, err := NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode = %v, want 0700", st.Mode().Perm())
	}

	got, err := s.Load(ctx, "orders")
	if err != nil || got != nil {
		t.Fatalf("Load of a new pipeline = %v, %v; want nil, nil", got, err)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		cp := sampleCheckpoint("orders", seq)
		if err := s.Save(ctx, cp); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		equalCheckpoint(t, got, cp)
	}
	// Binary positions survive.
	bin := &Checkpoint{Pipeline: "bin", Position: change.Position{0, 1, 2, 0xff, '"', '\\'}, Sequence: 7}
	if err := s.Save(ctx, bin); err != nil {
		t.Fatal(err)
	}
	got, err = s.Load(ctx, "bin")
	if err != nil {
		t.Fatal(err)
	}
	equalCheckpoint(t, got, bin)

	fst, err := os.Stat(s.Path("orders"))
	if err != nil {
		t.Fatal(err)
	}
	if fst.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, want 0600", fst.Mode().Perm())
	}
	assertNoTempFiles(t, dir)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, bin); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Load(ctx, "bin"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close = %v, want ErrClosed", err)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestFileStoreSurvivesPrettyPrinting(t *testing.T) {
	// The checksum covers the compact checkpoint, so re-indenting the file keeps it valid.
	ctx := context.Background()
	s, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cp := sampleCheckpoint("p1", 3)
	if err := s.Save(ctx, cp); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(s.Path("p1"))
	if err != nil {
		t.Fatal(err)
	}
	re := strings.ReplaceAll(string(data), "\n  ", "\n\t\t")
	if err := os.WriteFile(s.Path("p1"), []byte(re), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	equalCheckpoint(t, got, cp)
}

func TestFileStoreCorrupt(t *testing.T) {
	ctx := context.Background()
	cases := map[string]func(string) string{
		"truncated":       func(s string) string { return s[:len(s)/2] },
		"empty":           func(string) string { return "" },
		"edited sequence": func(s string) string { return strings.Replace(s, `"sequence": 3`, `"sequence": 4`, 1) },
		"edited position": func(s string) string { return strings.Replace(s, `"position": "Ym`, `"position": "Yn`, 1) },
		"bad checksum":    func(s string) string { return strings.Replace(s, "sha256:", "sha256:00", 1) },
		"no checkpoint":   func(string) string { return `{"format":1,"checksum":"sha256:00"}` },
		"not json":        func(string) string { return "\x00\x01garbage" },
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := NewFileStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Save(ctx, sampleCheckpoint("p1", 3)); err != nil {
				t.Fatal(err)
			}
			path := s.Path("p1")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			damaged := damage(string(data))
			if damaged == string(data) {
				t.Fatalf("damage did not change the file:\n%s", data)
			}
			if err := os.WriteFile(path, []byte(damaged), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = s.Load(ctx, "p1")
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file %s", err, path)
			}
		})
	}
}

func TestFileStoreWrongPipeline(t *testing.T) {
	ctx := context.Background()
	s, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, sampleCheckpoint("a", 1)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(s.Path("a"), s.Path("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "b"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load of a file holding another pipeline = %v, want ErrCorrupt", err)
	}
}

func TestFileStoreNewerFormat(t *testing.T) {
	ctx := context.Background()
	s, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path("p"), []byte(`{"format":99,"checksum":"x","checkpoint":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = s.Load(ctx, "p")
	if !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), s.Path("p")) {
		t.Fatalf("Load = %v, want ErrUnsupportedFormat naming the file", err)
	}
}

func TestFileStoreFailedSaveKeepsPrevious(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := sampleCheckpoint("p1", 1)
	if err := s.Save(ctx, first); err != nil {
		t.Fatal(err)
	}
	// A full disk: half of the data is written, then ENOSPC.
	s.write = func(f *os.File, data []byte) error {
		if _, err := f.Write(data[:len(data)/2]); err != nil {
			return err
		}
		return &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	err = s.Save(ctx, sampleCheckpoint("p1", 2))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Save on a full disk = %v, want ENOSPC", err)
	}
	if !strings.Contains(err.Error(), s.Path("p1")) {
		t.Errorf("error %q does not name the file", err)
	}
	got, err := s.Load(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	equalCheckpoint(t, got, first)
	assertNoTempFiles(t, dir)

	// Once the disk has room again, saving works.
	s.write = writeAll
	third := sampleCheckpoint("p1", 3)
	if err := s.Save(ctx, third); err != nil {
		t.Fatal(err)
	}
	got, err = s.Load(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	equalCheckpoint(t, got, third)
}

func TestFileStoreReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions; the write-failure hook test covers this")
	}
	ctx := context.Background()
	dir := t.TempDir()
	s, err := NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := sampleCheckpoint("p1", 1)
	if err := s.Save(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	if err := s.Save(ctx, sampleCheckpoint("p1", 2)); err == nil {
		t.Fatal("Save into a read-only directory succeeded")
	}
	got, err := s.Load(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	equalCheckpoint(t, got, first)
}

func TestValidateName(t *testing.T) {
	good := []string{"a", "orders", "Orders_2-x", strings.Repeat("x", 64)}
	bad := []string{"", strings.Repeat("x", 65), "a.b", "../etc", "a/b", "a b", "é", ".hidden", "a\x00"}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v", n, err)
		}
	}
	ctx := context.Background()
	s, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range bad {
		if err := ValidateName(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName", n, err)
		}
		if err := s.Save(ctx, &Checkpoint{Pipeline: n}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Save(%q) = %v, want ErrInvalidName", n, err)
		}
		if _, err := s.Load(ctx, n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Load(%q) = %v, want ErrInvalidName", n, err)
		}
	}
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore()
	if cp, err := s.Load(ctx, "p"); cp != nil || err != nil {
		t.Fatalf("Load = %v, %v", cp, err)
	}
	cp := sampleCheckpoint("p", 5)
	if err := s.Save(ctx, cp); err != nil {
		t.Fatal(err)
	}
	cp.Position[0] = 'X' // the store keeps its own copy
	got, err := s.Load(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	equalCheckpoint(t, got, sampleCheckpoint("p", 5))
	if s.Saves() != 1 {
		t.Fatalf("Saves = %d", s.Saves())
	}
	if err := s.Save(ctx, &Checkpoint{Pipeline: "a/b"}); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("Save with a bad name = %v", err)
	}
	_ = s.Close()
	if err := s.Save(ctx, cp); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close = %v", err)
	}
}
