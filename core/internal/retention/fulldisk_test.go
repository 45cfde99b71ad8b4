package retention

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
)

// TestFullDiskBackpressure puts the store on a small tmpfs (needs root; skipped otherwise),
// fills the file system below min_free while the source produces: the reader waits (never
// a failed or torn write), and goes on when space is freed; every record reads back.
func TestFullDiskBackpressure(t *testing.T) {
	mnt := mountTmpfs(t, "48m")
	st := openTestStore(t, filepath.Join(mnt, "store"), Options{MinFree: 16 << 20})
	defer st.Close()
	filler := filepath.Join(mnt, "filler")
	free, _ := freeSpace(mnt)
	if err := os.WriteFile(filler, make([]byte, free-(20<<20)), 0o600); err != nil { // 20MiB left
		t.Fatal(err)
	}
	g := &genSource{total: 200000, batch: 200}
	src := NewSource(g, st, nil)
	ctx := context.Background()
	if err := src.Open(ctx, sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	awaitStats(t, st, "the reader waiting for disk space", func(s Stats) bool {
		return strings.HasPrefix(s.Waiting, "disk") || s.Changes >= 200000
	})
	s := st.Stats()
	if !strings.HasPrefix(s.Waiting, "disk") {
		t.Fatalf("the reader does not wait for disk space: %+v", s)
	}
	stuck := s.Changes
	// Proving that nothing happens takes time: 1.1 s spans two of the reader's 500 ms
	// re-checks of the free space. Pebble cannot run in a synctest bubble (its sync.Pools keep
	// channels, which a bubble would own), so this is real time.
	time.Sleep(1100 * time.Millisecond)
	if st.Stats().Changes != stuck {
		t.Fatal("the reader appends while the disk is below min_free")
	}
	_ = os.Remove(filler)
	n := 0
	for n < 200000 {
		b := readN(t, src, 1)[0]
		n += len(b.Changes)
		_ = src.Ack(ctx, b.Position)
	}
	t.Logf("waited at %d changes with %q; all 200000 read after space was freed", stuck, s.Waiting)
}

// TestFullDiskTrimsDelivered: with every record delivered, a store whose file system reaches
// min_free drops the delivered records (the window shrinks) and their space comes back, so
// the reader goes on: twice the tmpfs goes through the store.
func TestFullDiskTrimsDelivered(t *testing.T) {
	mnt := mountTmpfs(t, "64m")
	st := openTestStore(t, filepath.Join(mnt, "store"), Options{MinFree: 16 << 20})
	defer st.Close()
	free, _ := freeSpace(mnt)
	if err := os.WriteFile(filepath.Join(mnt, "filler"), make([]byte, free-(44<<20)), 0o600); err != nil { // 44MiB left
		t.Fatal(err)
	}
	g := &genSource{total: 1 << 40, batch: 500}
	src := NewSource(g, st, nil)
	ctx := context.Background()
	if err := src.Open(ctx, sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	waited := false
	deadline := time.Now().Add(60 * time.Second)
	for {
		st.mu.Lock()
		through := int64(st.last.cumBytes)
		st.mu.Unlock()
		if through > 128<<20 {
			t.Logf("%d MiB went through a store with 28 MiB to spare above min_free (the store's files included)", through>>20)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d MiB through the store in 60 s (waiting: %q, %d bytes free)", through>>20, st.Stats().Waiting, must(freeSpace(mnt)))
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		b, err := src.Read(rctx)
		cancel()
		if err != nil {
			t.Fatalf("read after %d MiB: %v (waiting: %q, %d bytes free, store files %d bytes, stats %+v)", through>>20, err,
				st.Stats().Waiting, must(freeSpace(mnt)), st.DiskBytes(), st.Stats())
		}
		if err := src.Ack(ctx, b.Position); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(st.Stats().Waiting, "disk") {
			waited = true
		}
	}
	t.Logf("the reader waited for disk space on the way: %v", waited)
}

func must(n int64, _ error) int64 { return n }

// mountTmpfs mounts a tmpfs of size (mount's size option) on a fresh directory until the
// test ends; the test is skipped without root or when mount fails.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	return mnt
}
