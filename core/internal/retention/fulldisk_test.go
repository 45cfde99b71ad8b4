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
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", mnt).Run()
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
	deadline := time.Now().Add(30 * time.Second)
	for !strings.HasPrefix(st.Stats().Waiting, "disk") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	s := st.Stats()
	if !strings.HasPrefix(s.Waiting, "disk") {
		t.Fatalf("the reader does not wait for disk space: %+v", s)
	}
	stuck := s.Changes
	time.Sleep(300 * time.Millisecond)
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
